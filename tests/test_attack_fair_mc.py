"""Fair multiple choice: never-learned distractors, so knowing shows and not knowing is chance."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from smfa.attacks.fair_mc import (
    DISTRACTORS,
    FairMultipleChoice,
    Pool,
    _overlaps,
    fair_options,
    forget_pool,
)
from smfa.data.format import Question, World
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


def _fact(qid: str, person: str, kind: str, attribute: str, value: str) -> Question:
    """A hand-made imported free-text memory question (MLLMU's answer sentence as the value)."""
    return Question(
        id=qid, kind=kind, subject=person, image=None, image_type=None, view=None,
        phrasing="heldout", template="t", attribute=attribute, question="?", answer=value,
        value=value, answer_type="text", distractors=(), probe=True,
    )  # fmt: skip


def test_free_text_distractors_are_other_peoples_answers_in_the_same_form() -> None:
    image, text = "image_memory", "text_memory"
    questions = [
        _fact("q1", "p1", image, "height#1", "This person is 162 cm tall."),
        _fact("q2", "p1", text, "height#1", "Ada Moss is 162 cm tall."),
        _fact("q3", "p2", image, "height#1", "This person is 175 cm tall."),
        _fact("q4", "p2", text, "height#1", "Bo Lind is 175 cm tall."),
        _fact("q5", "p3", image, "height#1", "This person is 162 cm tall."),  # p1's own value
        _fact("q6", "p3", text, "height#1", "Cy Ng is 180 cm tall."),
        _fact("q7", "p4", image, "height#2", "This person is 190 cm tall."),  # other position
        _fact("q8", "p5", text, "height#1", "Ed Ray is 170 cm tall."),  # not a forget person
        _fact("q9", "p2", text, "salary", "Bo Lind earns $9."),  # another attribute type
    ]
    pool = forget_pool(questions, ("p1", "p2", "p3", "p4"))
    # The old rule (the question's attribute, pooled across forms, first 3 of the others) gave
    # p1's text question "This person is 162 cm tall.": p1's own height in the image wording.
    # Now: text answers of the other forget people to a height question, p5 (retained) never.
    assert fair_options(questions[1], {}, pool) == [
        "Ada Moss is 162 cm tall.", "Bo Lind is 175 cm tall.", "Cy Ng is 180 cm tall.",
    ]  # fmt: skip
    # The image question: p3's identical sentence is left out, p4's second height fact is in.
    assert fair_options(questions[0], {}, pool) == [
        "This person is 162 cm tall.", "This person is 175 cm tall.",
        "This person is 190 cm tall.",
    ]  # fmt: skip
    # Never a value containing the person's own value ("162 cm" inside another's sentence).
    short = dataclasses.replace(questions[1], id="q10", value="162 cm")
    crowded = Pool({(text, "height"): [("p6", "Di Wu is 162 cm tall."), ("p2", "Bo is 175 cm.")]})
    assert fair_options(short, {}, crowded) == ["162 cm", "Bo is 175 cm."]
    # Nor one of the person's other values: p1's second hobby is p2's first.
    hobbies = [
        _fact("h1", "p1", text, "hobby#1", "painting"),
        _fact("h2", "p1", text, "hobby#2", "chess"),
        _fact("h3", "p2", text, "hobby#1", "chess"),
        _fact("h4", "p2", text, "hobby#2", "rowing"),
    ]
    assert fair_options(hobbies[0], {}, forget_pool(hobbies, ("p1", "p2"))) == [
        "painting", "rowing",
    ]  # fmt: skip
    # More candidates than DISTRACTORS: a seeded draw, the same for the same question.
    many = Pool({(text, "height"): [(f"x{i}", f"X{i} is {150 + i} cm tall.") for i in range(9)]})
    drawn = fair_options(questions[1], {}, many)
    assert len(drawn) == 1 + DISTRACTORS and drawn == fair_options(questions[1], {}, many)


def test_chance_is_one_over_the_options_offered_per_kind(
    tiny: tuple, mini_world: World, tmp_path: Path
) -> None:
    # Every forget value as free text: the other forget person (10% of 20 people: 2) offers one
    # distractor per question, so each question offers 2 options and the chance per kind is 1/2.
    forget = mini_world.splits.forget[10]
    as_text = [
        dataclasses.replace(q, answer_type="text")
        if q.subject in forget and q.attribute != "name" else q
        for q in mini_world.questions
    ]  # fmt: skip
    world = dataclasses.replace(mini_world, questions=as_text)
    asked = [q for q in as_text if q.subject == forget[0] and q.phrasing == "heldout"]
    asked = [q for q in asked if q.kind == "text_memory" or q.view == "heldout"]
    asked = [q for q in asked if q.attribute != "name"][:12]
    pool = forget_pool(as_text, tuple(forget))
    offered: dict[str, list[int]] = {}
    for q in asked:
        options = fair_options(q, {}, pool)
        assert all(o == q.value or not _overlaps(o, q.value) for o in options)
        if len(options) > 1:
            offered.setdefault(q.kind, []).append(len(options))
    session = attack_session(*tiny, world, asked, [], tmp_path)
    session.ask = dataclasses.replace(session.ask, forget_people=tuple(forget))
    rows = probe_rows(FairMultipleChoice(), session)
    got = {(r["kind"], r["metric"]): (r["value"], r["n"]) for r in rows}
    for kind, counts in offered.items():
        assert counts and set(counts) == {2}  # one other forget person: 2 options each
        assert got[(kind, "chance")] == (0.5, len(counts))


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
