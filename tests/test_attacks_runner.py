"""The attack runner: one registry matching the config, the questions asked, a cache per attack,
and the report's attack section and worst-attack figure read from results alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from smfa.attacks import REGISTRY
from smfa.attacks import runner as R
from smfa.config import ALL_ATTACKS, EvalConfig
from smfa.data.format import World
from smfa.errors import ConfigError
from smfa.models.io import save_model
from smfa.protocol.attack_rows import matrix, worst_attack
from smfa.report.markdown import render_markdown
from smfa.report.plots import render_plots
from smfa.report.summary import headline


def test_the_config_lists_every_registered_attack_once() -> None:
    assert sorted(ALL_ATTACKS) == sorted(REGISTRY) and len(set(ALL_ATTACKS)) == len(ALL_ATTACKS)
    with pytest.raises(ConfigError, match="did you mean 'prefill'"):
        R.check_attacks(["relearn", "prefil"])


def test_attacks_ask_the_reported_slice(mini_world: World) -> None:
    forget_people = set(mini_world.splits.forget[10])
    config = dataclasses.replace(EvalConfig(), attack_retain=7)
    forget, retain = R.attack_questions(mini_world, forget_people, config)
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
    assert R.attack_questions(mini_world, forget_people, config)[1] == retain  # seeded


def test_each_attack_is_cached_per_model(
    tiny: tuple, mini_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = save_model(*tiny, tmp_path / "model")
    config = dataclasses.replace(
        EvalConfig(), attacks=["prefill", "fair_mc"], attack_retain=4, max_new_tokens=4
    )
    forget = mini_world.splits.forget[10]
    first = R.run_attacks("m", model_dir, mini_world, forget, config, tmp_path / "work")
    assert {r["attack"] for r in first} == {"prefill", "fair_mc"}
    assert all(r["model"] == "m" for r in first)
    assert len(list((tmp_path / "work" / "attacks").glob("*.json"))) == 2

    def no_loading(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a cached attack loaded the model")

    monkeypatch.setattr(R, "load_model", no_loading)
    again = R.run_attacks("other", model_dir, mini_world, forget, config, tmp_path / "work")
    assert again == [{**r, "model": "other"} for r in first]
    # Another attack setting is another key: the model is needed again.
    more = dataclasses.replace(config, attack_retain=5)
    with pytest.raises(AssertionError, match="loaded the model"):
        R.run_attacks("m", model_dir, mini_world, forget, more, tmp_path / "work")


def _attack(model: str, attack: str, split: str, metric: str, value: float) -> dict[str, Any]:
    return {
        "model": model, "attack": attack, "split": split, "kind": "all", "metric": metric,
        "value": value, "n": 10, "higher_is_better": split != "forget",
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
    return {"schema": 1, "forget_ratio": 10, "models": models, "rows": [], "attacks": attacks}


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


def test_results_without_attacks_have_no_attack_section() -> None:
    data = {**_results(), "attacks": []}
    assert "## Attacks" not in render_markdown(data, {})
    assert "attack_heatmap" not in render_plots(data)
    assert headline(data)["smfa"]["worst_attack_leak"] is None
