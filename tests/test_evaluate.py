"""The one evaluation: one registry of probes matching the config, the questions attacks ask,
one cache entry per evaluation (one load, each probe's rows under its own settings), and the
report's attack section and worst-attack figure read from the rows alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from smfa.checks import check_run
from smfa.config import ALL_ATTACKS, EvalConfig, RunConfig
from smfa.data.format import World
from smfa.errors import ConfigError
from smfa.eval import evaluate
from smfa.eval.probe import REGISTRY, get_probe
from smfa.eval.results import upgrade
from smfa.models.io import save_model
from smfa.protocol.attack_rows import grid, matrix, worst_attack
from smfa.protocol.questions import REPORTED, VALIDATION, attack_questions
from smfa.report.markdown import render_markdown
from smfa.report.plots import render_plots
from smfa.report.summary import headline


def test_the_config_lists_every_registered_attack_once() -> None:
    get_probe("prefill")  # registers every probe
    attacks = sorted(name for name in REGISTRY if name not in ("plain", "mllmu_tasks"))
    assert sorted(ALL_ATTACKS) == attacks and len(set(ALL_ATTACKS)) == len(ALL_ATTACKS)
    config = RunConfig()
    config.eval.attacks = ["relearn", "prefil"]
    with pytest.raises(ConfigError, match="did you mean 'prefill'"):
        check_run(config)
    config.eval.attacks = ["plain"]
    with pytest.raises(ConfigError, match="not an attack"):
        check_run(config)
    config.eval.attacks = ["mllmu_tasks"]  # asked whenever the world has tasks
    with pytest.raises(ConfigError, match="'mllmu_tasks' is a benchmark's own tasks"):
        check_run(config)


def test_attacks_ask_the_slice(mini_world: World) -> None:
    forget_people = set(mini_world.splits.forget[10])
    forget, retain = attack_questions(mini_world, REPORTED, forget_people, 7)
    assert forget and all(q.subject in forget_people and q.phrasing == "heldout" for q in forget)
    assert all(q.kind in ("image_memory", "text_memory") and q.probe for q in forget + retain)
    assert all(q.view in (None, "heldout") for q in forget + retain)  # re-rendered pictures
    expected = [
        q
        for q in mini_world.questions
        if q.probe and q.subject in forget_people and q.phrasing == "heldout"
        and q.kind in ("image_memory", "text_memory") and q.view in (None, "heldout")
    ]  # fmt: skip
    assert forget == expected
    assert len(retain) == 7 and not {q.subject for q in retain} & forget_people
    assert attack_questions(mini_world, REPORTED, forget_people, 7)[1] == retain  # seeded
    # The validation slice: its own phrasing, the training pictures.
    forget, _ = attack_questions(mini_world, VALIDATION, forget_people, 7)
    assert forget and all(q.phrasing == "validation" and q.view in (None, "train") for q in forget)


def test_one_entry_per_evaluation_each_probe_cached(
    tiny: tuple, mini_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = save_model(*tiny, tmp_path / "model")
    config = dataclasses.replace(EvalConfig(), attack_retain=2, max_new_tokens=2)
    forget = mini_world.splits.forget[10]
    ask = evaluate.Ask.of(VALIDATION, forget, ["prefill", "fair_mc"])  # the smallest slice
    loads = []
    real = evaluate.load_model
    monkeypatch.setattr(evaluate, "load_model", lambda *a, **k: loads.append(1) or real(*a, **k))
    first = evaluate.evaluate(model_dir, mini_world, ask, config, tmp_path / "work", name="m")
    assert {r["probe"] for r in first.rows} == {"plain", "prefill", "fair_mc"}
    assert all(r["model"] == "m" for r in first.rows)
    assert len(loads) == 1  # one load for every probe
    assert len(list((tmp_path / "work" / "evals").glob("*.json"))) == 1  # one cache entry
    assert first.records and all(r["model"] == "m" for r in first.records)
    again = evaluate.evaluate(model_dir, mini_world, ask, config, tmp_path / "work", name="other")
    assert len(loads) == 1  # nothing asked again
    assert again.rows == [{**r, "model": "other"} for r in first.rows]
    # Another attack setting re-asks the attacks it concerns, not the plain questions.
    asked: list[str] = []
    real_ask = evaluate.ask_probe
    monkeypatch.setattr(evaluate, "ask_probe", lambda p, s: asked.append(p.name) or real_ask(p, s))
    more = dataclasses.replace(config, attack_retain=3)
    evaluate.evaluate(model_dir, mini_world, ask, more, tmp_path / "work")
    assert asked == ["prefill", "fair_mc"] and len(loads) == 2
    # A damaged cache entry is asked again, never a traceback.
    (cache,) = (tmp_path / "work" / "evals").glob("*.json")
    cache.write_text('{"plain": {"settings": {}, "rows": "oops"}}')
    asked.clear()
    evaluate.evaluate(model_dir, mini_world, ask, more, tmp_path / "work")
    assert asked == ["plain", "prefill", "fair_mc"]


def _attack(model: str, attack: str, split: str, metric: str, value: float) -> dict[str, Any]:
    return {
        "model": model, "probe": attack, "split": split, "kind": "all", "image_type": "all",
        "phrasing": "heldout", "view": "all", "metric": metric, "value": value, "n": 10,
        "higher_is_better": split != "forget",
    }  # fmt: skip


def _results() -> dict[str, Any]:
    attacks = [
        _attack("vanilla", "prefill", "forget", "leak_rate", 1.0),
        _attack("vanilla", "prefill", "retain", "recall", 0.9),
        _attack("smfa", "prefill", "forget", "leak_rate", 0.6),
        _attack("smfa", "prefill", "retain", "recall", 0.8),
        _attack("smfa", "relearn", "forget", "leak_rate", 0.8),
        _attack("smfa", "fair_mc", "forget", "mc_accuracy", 0.95),  # not a leak: never "worst"
        _attack("smfa", "fair_mc", "forget", "chance", 0.25),
        _attack("oracle", "prefill", "forget", "leak_rate", 0.0),
        # A per-kind row is detail, never the pooled figure.
        {**_attack("oracle", "relearn", "forget", "leak_rate", 0.9), "kind": "text_memory"},
    ]
    models = {
        "vanilla": {"role": "vanilla"},
        "oracle": {"role": "oracle"},
        "smfa": {"role": "method", "method": "smfa", "variant": "", "selected": True},
    }
    return {"schema": 3, "forget_ratio": 10, "models": models, "rows": attacks}


def test_worst_attack_and_the_report_section() -> None:
    data = _results()
    assert worst_attack(data, "smfa") == (0.8, "relearn")
    assert worst_attack(data, "oracle") == (0.0, "prefill")  # a tie: the first attack run
    assert "oracle 0.0% (no attack leaks)" in render_markdown(data, {})
    head = headline(data)
    assert head["smfa"]["worst_attack_leak"] == 0.8 and head["vanilla"]["worst_attack_leak"] == 1.0
    attacks, names, values = matrix(data, ["vanilla", "oracle", "smfa"], "forget", "leak_rate")
    assert attacks == ["prefill", "relearn"] and names == ["vanilla", "oracle", "smfa"]
    assert values == [[1.0, 0.0, 0.6], [None, None, 0.8]]
    markdown = render_markdown(data, {"attack_heatmap": "report-attack_heatmap.png"})
    assert "## Attacks" in markdown
    assert "| prefill | 100.0% / 90.0% | 0.0% | 60.0% / 80.0% |" in markdown
    assert "MC 95.0% (chance 25.0%)" in markdown
    assert "smfa 80.0% (relearn)" in markdown
    assert "report-attack_heatmap.png" in markdown
    assert render_plots(data)["attack_heatmap"].startswith(b"\x89PNG")


def test_the_strong_relearning_grid_is_reported_cell_by_cell() -> None:
    data = _results()
    assert grid(data) == ([], {}) and "## Strong relearning" not in render_markdown(data, {})
    big, small = "lora lr=1e-3 steps=192 A->B", "lora lr=1e-4 steps=48 cross-person"

    def strong(model: str, leak: dict[str, float], recall: dict[str, float]) -> list[dict]:
        # The pooled rows carry every cell; their value is the worst cell's, a per-kind row none.
        worst = max(leak, key=leak.get)  # type: ignore[arg-type]
        return [
            {**_attack(model, "relearn_strong", "forget", "leak_rate", leak[worst]),
             "per_group": leak},
            {**_attack(model, "relearn_strong", "retain", "recall", recall[worst]),
             "per_group": recall},
            {**_attack(model, "relearn_strong", "forget", "leak_rate", 0.7),
             "kind": "text_memory", "per_group": {big: 0.7}},
        ]  # fmt: skip

    data["rows"] += strong("smfa", {big: 0.75, small: 0.0}, {big: 0.9, small: 0.8})
    data["rows"] += strong("oracle", {big: 0.0, small: 0.0}, {big: 0.5, small: float("nan")})
    cells, values = grid(data)
    assert cells == [big, small]
    assert values[("smfa", big)] == (0.75, 0.9) and values[("oracle", small)] == (0.0, None)
    assert ("vanilla", big) not in values  # never attacked: no cell, no column
    markdown = render_markdown(data, {})
    assert "## Strong relearning, cell by cell" in markdown
    assert "| Cell | oracle | smfa |" in markdown
    assert "| lora lr=1e-3 steps=192 A-&gt;B | 0.0% / 50.0% | 75.0% / 90.0% |" in markdown
    assert "| lora lr=1e-4 steps=48 cross-person | 0.0% | 0.0% / 80.0% |" in markdown
    assert "smfa 80.0% (relearn)" in markdown  # 0.75 under relearn_strong: relearn stays worst


def test_schema_2_attack_rows_read_as_rows() -> None:
    data = _results()
    old = [
        {k: v for k, v in r.items() if k not in ("probe", "image_type", "phrasing", "view")}
        | {"attack": r["probe"]}
        for r in data["rows"]
    ]
    upgraded = upgrade({**data, "schema": 2, "rows": [], "attacks": old})
    assert upgraded["schema"] == 3 and "attacks" not in upgraded
    assert upgraded["rows"] == data["rows"]


def test_results_without_attacks_have_no_attack_section() -> None:
    data = {**_results(), "rows": []}
    assert "## Attacks" not in render_markdown(data, {})
    assert "attack_heatmap" not in render_plots(data)
    assert headline(data)["smfa"]["worst_attack_leak"] is None
