"""Fair multiple choice: never-learned distractors, so knowing shows and not knowing is chance."""

from __future__ import annotations

import re
from pathlib import Path

from smfa.attacks.fair_mc import DISTRACTORS, FairMultipleChoice, fair_options
from smfa.data.format import World
from tests.conftest import attack_session, person_text, probe_rows


def _known(world: World) -> dict[str, set[str]]:
    known: dict[str, set[str]] = {}
    for q in world.questions:
        known.setdefault(q.attribute, set()).add(q.value)
    return known


def test_distractors_are_values_nobody_in_the_world_has(mini_world: World) -> None:
    known = _known(mini_world)
    for q in person_text(mini_world, "heldout"):
        options = fair_options(q, known, {})
        assert options[0] == q.value and len(options) == 1 + DISTRACTORS
        assert len(set(options)) == len(options)
        assert not set(options[1:]) & known[q.attribute]  # never learned by any model
        assert fair_options(q, known, {}) == options  # seeded by the question
        if q.attribute == "salary":  # drawn by the world's own generator: the same format
            assert all(re.fullmatch(r"\$\d{1,3}(,\d{3})+", o) for o in options)


def test_free_text_falls_back_on_other_forget_people(mini_world: World) -> None:
    import dataclasses

    q = dataclasses.replace(person_text(mini_world, "heldout")[0], answer_type="text")
    others = {q.attribute: [q.value, "Holmgard", "Velmora", "Holmgard"]}
    assert fair_options(q, _known(mini_world), others) == [q.value, "Holmgard", "Velmora"]


def test_knowledge_behind_a_refusal_is_picked_the_oracle_is_not(
    refuser: tuple, never_knew: tuple, mini_world: World, tmp_path: Path
) -> None:
    questions = person_text(mini_world, "heldout")
    rows = probe_rows(
        FairMultipleChoice(), attack_session(*refuser, mini_world, questions, [], tmp_path)
    )
    got = {(r["kind"], r["metric"]): r["value"] for r in rows}
    assert got[("all", "chance")] == 1 / (1 + DISTRACTORS)
    assert got[("all", "mc_accuracy")] >= 0.75  # the refusing model still holds the values
    oracle = probe_rows(
        FairMultipleChoice(), attack_session(*never_knew, mini_world, questions, [], tmp_path)
    )
    low = {(r["kind"], r["metric"]): r["value"] for r in oracle}
    assert low[("all", "mc_accuracy")] < got[("all", "mc_accuracy")]
