"""Answer prefill catches a value hidden behind a refusal; the first-word variant asks less."""

from __future__ import annotations

from pathlib import Path

from smfa.attacks.prefill import Prefill, PrefillFirstWord
from smfa.data.format import Question, World
from smfa.eval.probe import Prompt, first_word, generated, value_prefix
from tests.conftest import attack_session, person_text, probe_rows


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
    target = attack_session(*refuser, mini_world, questions, [], tmp_path)
    prompts = [Prompt(q, q.question, target.image(q)) for q in questions]
    answers = generated(target.model, target, prompts, "plain")
    assert all("unable" in a for a in answers)  # asked plainly, it refuses every question
    leak = {r["kind"]: r["value"] for r in probe_rows(Prefill(), target) if r["split"] == "forget"}
    assert leak["all"] >= 0.5  # prefilled, the values come out
    first = {r["kind"]: r for r in probe_rows(PrefillFirstWord(), target)}
    assert first["all"]["n"] == len(questions)
    # The model that never learned the values has nothing to give, however it is asked.
    oracle = attack_session(*never_knew, mini_world, questions, [], tmp_path)
    assert all(r["value"] == 0.0 for r in probe_rows(Prefill(), oracle))
