"""Strong relearning: its splits, its grid as configured, and rows that are the worst cell with
every cell beside it; the knower gives values back, the never-knew model not, neither changed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from smfa.attacks.relearn_strong import RelearnStrong, cell_label, lr_label, split_questions
from smfa.config import ALL_ATTACKS, DEFAULT_ATTACKS, load_config
from smfa.data.format import World
from smfa.errors import ConfigError
from smfa.eval.probe import Answer
from smfa.eval.scoring import score
from smfa.protocol.questions import REPORTED, attack_questions
from smfa.vocab import Split
from tests.conftest import attack_session, person_text, probe_rows


def test_the_grid_is_configured_and_all_runs_every_attack() -> None:
    config = load_config(None, [])
    strong = (config.eval.relearn_strong_lrs, config.eval.relearn_strong_steps)
    assert strong == ([1e-4, 1e-3, 1e-2], [48, 192]) and config.eval.relearn_strong_seeds == 3
    assert config.eval.relearn_strong_modes == ["lora", "full"]
    assert config.eval.relearn_strong_splits == ["a_to_b", "cross_person"]
    assert "relearn_strong" not in config.eval.attacks == list(DEFAULT_ATTACKS)
    assert load_config(None, ["eval.attacks=all"]).eval.attacks == list(ALL_ATTACKS)
    for setting, message in (
        ("eval.attacks=all,prefill", "'all' stands alone"),
        ("eval.relearn_strong_lrs=1e-3,0", "eval.relearn_strong_lrs must be above 0, got 0.0"),
        ("eval.relearn_strong_lrs=[]", "eval.relearn_strong_lrs must list at least one value"),
        ("eval.relearn_strong_modes=lora,qlora", "must be one of lora, full, got 'qlora'"),
        ("eval.relearn_strong_splits=[]", "must list at least one of a_to_b, cross_person"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_config(None, [setting])
    assert cell_label("full", 1e-4, 48, "cross_person") == "full lr=1e-4 steps=48 cross-person"
    assert lr_label(2.5e-4) == "2.5e-4"


def test_splits_relearn_one_part_and_measure_another(mini_world: World) -> None:
    people = mini_world.splits.forget[10]
    assert len(people) == 2
    forget, _ = attack_questions(mini_world, REPORTED, set(people), 0)
    taught, measured = split_questions("a_to_b", forget, mini_world, 0)
    assert measured and not {q.attribute for q in taught} & {q.attribute for q in measured}
    assert all(q.phrasing == "train" for q in taught)  # never a question it then asks
    for seed in (0, 1):  # the seed picks the relearned person: each in turn
        taught, measured = split_questions("cross_person", forget, mini_world, seed)
        (person,) = {q.subject for q in taught}
        assert {q.subject for q in measured} == set(people) - {person}
        assert {q.attribute for q in taught} >= {q.attribute for q in forget if q.subject == person}
    chosen = {split_questions("cross_person", forget, mini_world, s)[0][0].subject for s in (0, 1)}
    assert chosen == set(people)
    alone = [q for q in forget if q.subject == people[0]]
    assert split_questions("cross_person", alone, mini_world, 0) == ([], [])


def test_the_rows_are_the_worst_cell_and_per_group_holds_every_cell(mini_world: World) -> None:
    forget = person_text(mini_world, "heldout")[:4]
    leaks = {"lora lr=1e-3 steps=48 A->B": [1, 0, 0, 0], "full lr=1e-3 steps=48 A->B": [1, 1, 0, 1]}
    scored = [
        score(Answer(q, Split.FORGET, q.value if hit else "no", group=group), 0.6, {"leak_rate"})
        for group, hits in leaks.items()
        for q, hit in zip(forget, hits, strict=True)
    ]
    rows = RelearnStrong().rows(scored)
    pooled = next(r for r in rows if r["kind"] == "all")
    assert pooled["per_group"] == dict(zip(leaks, (0.25, 0.75), strict=True))
    assert pooled["value"] == max(pooled["per_group"].values()) and pooled["n"] == 4


def test_relearning_brings_back_what_was_known_and_changes_no_model(
    refuser: tuple, never_knew: tuple, mini_world: World, tmp_path: Path
) -> None:
    forget = person_text(mini_world, "train", probe=True)
    grid = {
        "relearn_strong_lrs": [1e-3], "relearn_strong_steps": [4], "relearn_strong_seeds": 1,
        "relearn_strong_modes": ["lora", "full"], "relearn_strong_splits": ["a_to_b"],
    }  # fmt: skip

    def pooled(model: tuple, **cheaper: object) -> dict:
        before = {n: p.detach().clone() for n, p in model[0].named_parameters()}
        session = attack_session(*model, mini_world, forget, [], tmp_path, **{**grid, **cheaper})
        rows = probe_rows(RelearnStrong(), session)
        after = dict(model[0].named_parameters())
        assert all(torch.equal(before[n], after[n]) for n in before)  # tuned copies only
        return next(r for r in rows if r["kind"] == "all")

    known, never = pooled(refuser), pooled(never_knew, relearn_strong_modes=["full"])
    cells = ["lora lr=1e-3 steps=4 A->B", "full lr=1e-3 steps=4 A->B"]
    assert list(known["per_group"]) == cells and known["n"] == 4  # 4 of 8 text attributes
    assert known["value"] == max(known["per_group"].values())
    assert never["value"] == 0.0  # the oracle never learned the measured values
    assert known["value"] >= 0.5  # the knower gives them back
