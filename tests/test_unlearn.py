"""Forget requests as a user makes them, the retain budget, and the guards around `unlearn`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from smfa.config import RunConfig, UnlearnConfig
from smfa.data.format import World
from smfa.errors import DataFormatError, SmfaError
from smfa.models.io import save_model
from smfa.selection import choose_variant, validation_score, worst_leak
from smfa.unlearn import resolve_request, retain_sample, unlearn


def test_a_ratio_forgets_the_worlds_forget_set(mini_world: World) -> None:
    request = resolve_request(mini_world, ratio=10)
    assert request.people == mini_world.splits.forget[10]
    kinds = {q.kind for q in request.questions}
    assert kinds == {"image_memory", "text_memory"}  # memory only: understanding is kept
    assert all(q.subject in request.people and q.phrasing == "train" for q in request.questions)
    assert all(q.view in (None, "train") for q in request.questions)


def test_people_by_name_or_id(mini_world: World) -> None:
    a, b = list(mini_world.people.values())[:2]
    request = resolve_request(mini_world, people=[a.name.upper(), b.id])
    assert request.people == tuple(sorted([a.id, b.id]))
    assert request.label.startswith("people-")
    with pytest.raises(SmfaError, match="'Nobody Atall' is neither a person id nor a name"):
        resolve_request(mini_world, people=["Nobody Atall"])
    with pytest.raises(SmfaError, match="exactly one of"):
        resolve_request(mini_world, ratio=10, people=[a.id])
    with pytest.raises(SmfaError, match="exactly one of"):
        resolve_request(mini_world)


def test_a_questions_file_is_validated_with_its_line(mini_world: World, tmp_path: Path) -> None:
    rows = [
        json.loads(line)
        for line in (mini_world.root / "questions.jsonl").read_text().splitlines()
        if '"image_memory"' in line
    ][:3]
    good = tmp_path / "forget.jsonl"
    good.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    request = resolve_request(mini_world, questions_file=good)
    assert [q.id for q in request.questions] == [r["id"] for r in rows]
    assert request.people == tuple(sorted({r["subject"] for r in rows}))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(DataFormatError, match=r"bad\.jsonl line 2: invalid JSON"):
        resolve_request(mini_world, questions_file=bad)
    missing = dict(rows[0], image="images/portraits/nobody.png")
    bad.write_text(json.dumps(missing) + "\n")
    with pytest.raises(DataFormatError, match=r"nobody\.png"):
        resolve_request(mini_world, questions_file=bad)


def test_the_retain_budget_never_includes_forgotten_people(mini_world: World) -> None:
    request = resolve_request(mini_world, ratio=10)
    sample = retain_sample(mini_world, request, 5)
    assert len(sample) == 5 and not {q.subject for q in sample} & set(request.people)
    assert sample == retain_sample(mini_world, request, 5)  # seeded
    with pytest.raises(SmfaError, match="retain_budget is 99"):
        retain_sample(mini_world, request, 99)


def test_unlearn_never_writes_over_a_foreign_directory(
    tiny: tuple[object, object], mini_world: World, tmp_path: Path
) -> None:
    model, processor = tiny
    vanilla = save_model(model, processor, tmp_path / "vanilla")
    config = RunConfig(unlearn=UnlearnConfig(retain_budget=4, epochs=1, batch_size=4))
    request = resolve_request(mini_world, ratio=10)
    request = dataclasses.replace(request, questions=request.questions[:2])
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(SmfaError, match="holds no unlearning run"):
        unlearn(mini_world, vanilla, "idk", config, request, foreign, False)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(SmfaError, match="refusing to write over the model"):
        unlearn(mini_world, vanilla, "idk", config, request, vanilla, False)
    config.methods = {"idk": {"k": 1}}
    with pytest.raises(SmfaError, match=r"unknown config key 'methods\.idk\.k'"):
        unlearn(mini_world, vanilla, "idk", config, request, tmp_path / "x", False)
    with pytest.raises(SmfaError, match="unknown method 'smfaa' \\(did you mean 'smfa'\\?\\)"):
        unlearn(mini_world, vanilla, "smfaa", config, request, tmp_path / "x", False)


def test_validation_score_prefers_forgetting_that_keeps_the_rest() -> None:
    vanilla = {
        "understanding_forget": 0.8,
        "understanding_retain": 0.8,
        "retain_memory": 1.0,
        "scenes": 0.5,
        "forget_leak_image": 1.0,
        "forget_leak_text": 1.0,
    }
    # leak 0.1 -> 0.9; kept = mean(1, 0.5, 1, 1 (capped)) = 0.875; minus false refusal 0.05
    figures = {
        "understanding_forget": 0.8,
        "understanding_retain": 0.4,
        "retain_memory": 1.0,
        "scenes": 0.6,
        "forget_leak_image": 0.2,
        "forget_leak_text": 0.0,
        "false_refusal": 0.05,
    }
    assert validation_score(figures, vanilla) == pytest.approx(0.9 + 0.875 - 0.05)
    collapsed = dict(figures, understanding_retain=0.0, understanding_forget=0.0, retain_memory=0)
    assert validation_score(collapsed, vanilla) < validation_score(figures, vanilla)


def test_variant_choice_puts_forgetting_first() -> None:
    # The demo's case: k=3 scores a hair better on validation but leaks 9.7% of image answers.
    leaks = {"k=1": 0.355, "k=3": 0.097, "k=10": 0.0}
    scores = {"k=1": 1.8132, "k=3": 1.8923, "k=10": 1.8889}
    assert choose_variant(leaks, scores, max_leak=0.02) == "k=10"
    # A looser bound lets k=3 compete, and it wins on score; k=1 still leaks too much.
    assert choose_variant(leaks, scores, max_leak=0.10) == "k=3"
    # Nobody under the bound: the least leaking variants compete (here only k=10 and k=3).
    leaks = {"k=1": 0.5, "k=3": 0.1, "k=10": 0.1}
    assert choose_variant(leaks, scores, max_leak=0.02) == "k=3"
    # Equal scores among the allowed: the larger label, as before.
    assert choose_variant({"a": 0.0, "b": 0.0}, {"a": 1.0, "b": 1.0}, 0.02) == "b"
    # The worse of the two leaks counts; a missing one is no leak.
    assert worst_leak({"forget_leak_image": 0.0, "forget_leak_text": 0.25}) == 0.25
    assert worst_leak({"forget_leak_image": 0.125, "forget_leak_text": None}) == 0.125


def test_a_variant_is_never_chosen_on_an_empty_validation_slice() -> None:
    from smfa.errors import SmfaError
    from smfa.selection import select_variants

    def row(model: str, split: str, kind: str, metric: str, value: float) -> dict[str, object]:
        view = "train" if kind == "image_memory" else "none"
        return {"model": model, "split": split, "kind": kind, "image_type": "all"} | {
            "phrasing": "validation", "view": view, "metric": metric, "value": value, "n": 4,
        }  # fmt: skip

    def rows(model: str, leak: float) -> list[dict[str, object]]:
        return [
            row(model, "forget", "image_memory", "leak_rate", leak),
            row(model, "retain", "text_memory", "recall", 0.5),
        ]

    variants = {
        "k=1": {"name": "smfa-k1", "validation_rows": rows("smfa-k1", 0.5)},
        "k=3": {"name": "smfa-k3", "validation_rows": rows("smfa-k3", 0.0)},
    }
    chosen = select_variants({"smfa": {"variants": variants}}, rows("vanilla", 1.0), 0.02)
    assert chosen["smfa"]["variant"] == "k=3"
    # No forget rows on validation (an imported world without validation phrasings): before,
    # every k read leak 0% and k=3 was "chosen"; now the choice stops with one line.
    for v in variants.values():
        v["validation_rows"] = [r for r in v["validation_rows"] if r["split"] != "forget"]
    with pytest.raises(SmfaError, match="selection of smfa: the validation slice holds no "
                       "forget leak figure for smfa-k1"):  # fmt: skip
        select_variants({"smfa": {"variants": variants}}, rows("vanilla", 1.0), 0.02)


def test_every_model_of_a_comparison_is_asked_the_reported_slice() -> None:
    from smfa.compare_jobs import reported_slice
    from smfa.protocol.questions import REPORTED, VALIDATION

    config = RunConfig()
    assert reported_slice(config) is REPORTED
    assert REPORTED.phrasings == ("heldout",) and not REPORTED.trained_scenes  # unseen scenes
    config.compare.slice = "validation"
    assert reported_slice(config) is VALIDATION


def test_a_methods_revision_keys_its_runs_apart(
    mini_world: World, tiny: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smfa.io import canonical_json, sha256_text
    from smfa.methods.base import get_method, make_params
    from smfa.models.io import model_fingerprint
    from smfa.unlearn import run_key

    vanilla = save_model(*tiny, tmp_path / "vanilla")
    request = resolve_request(mini_world, ratio=10)
    config = UnlearnConfig()
    params = make_params(get_method("smfa"), None)
    payload = {
        "schema": 1,
        "vanilla": model_fingerprint(vanilla),
        "world": mini_world.world_hash,
        "request": [request.label, list(request.people)],
        "method": "smfa",
        "params": dataclasses.asdict(params),
        "unlearn": {k: v for k, v in dataclasses.asdict(config).items() if k != "threads"},
    }
    # Revision 0: the key as it was before revisions existed (no cached run moves) ...
    key = run_key(vanilla, mini_world, request, "smfa", params, config)
    assert key == sha256_text(canonical_json(payload))
    # ... a raised revision is a new key: its runs are never the earlier code's.
    monkeypatch.setattr(get_method("smfa"), "revision", 2)
    assert run_key(vanilla, mini_world, request, "smfa", params, config) == sha256_text(
        canonical_json({**payload, "revision": 2})
    )
    # VERA: 1, its levels on a shared prompt pass; 2, its adapters' dropout drawn by gaps.
    assert get_method("vera").revision >= 2
    # UNDO trains VERA as its teacher: a cached UNDO run of an earlier VERA is never reused.
    assert get_method("undo").revision == get_method("vera").revision
