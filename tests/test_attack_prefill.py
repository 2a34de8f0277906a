"""Answer prefill catches a value hidden behind a refusal; the first-word variant asks less."""

from __future__ import annotations

from pathlib import Path

from smfa.attacks.base import ask, first_word, plain, value_prefix
from smfa.attacks.prefill import Prefill, PrefillFirstWord
from smfa.data.format import Question, World
from tests.conftest import attack_target, person_text


def _q(answer: str, value: str) -> Question:
    return Question(
        "q1", "text_memory", "p1", None, None, None, "heldout", "t", "home_city",
        "Where does Ana Bel live?", answer, value, "city", (), True,
    )  # fmt: skip


def test_prefixes_are_cut_from_the_answer_sentence() -> None:
    q = _q("Ana Bel's home city is Varenrest.", "Varenrest")
    assert value_prefix(q) == "Ana Bel's home city is"
    assert first_word(q) == "Ana"
    # A value that opens the answer (or is absent from it) has nothing to prefill.
    assert value_prefix(_q("Varenrest.", "Varenrest")) == ""
    assert first_word(_q("Varenrest.", "Varenrest")) == ""
    assert value_prefix(_q("She lives up north.", "Varenrest")) == ""


def test_prefill_catches_a_refusal_over_a_likely_value(
    refuser: tuple, never_knew: tuple, mini_world: World, tmp_path: Path
) -> None:
    questions = person_text(mini_world, "heldout")
    target = attack_target(*refuser, mini_world, questions, [], tmp_path)
    answers = ask(target.model, target, plain(target, questions), "plain")
    assert all("unable" in a for a in answers)  # asked plainly, it refuses every question
    leak = {r["kind"]: r["value"] for r in Prefill().run(target) if r["split"] == "forget"}
    assert leak["all"] >= 0.5  # prefilled, the values come out
    first = {r["kind"]: r for r in PrefillFirstWord().run(target)}
    assert first["all"]["n"] == len(questions)
    # The model that never learned the values has nothing to give, however it is asked.
    oracle = attack_target(*never_knew, mini_world, questions, [], tmp_path)
    assert all(r["value"] == 0.0 for r in Prefill().run(oracle))
