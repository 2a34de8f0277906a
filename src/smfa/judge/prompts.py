"""The judge's prompt templates and the conversations built from them.

Two scores, both on a 0-10 scale: `FACT` asks how much of a reference answer's fact a model's
answer states (paraphrase counts, a refusal or a wrong value scores 0), `MEANING` asks how
fluent and meaningful an answer is whatever its truth (a clear refusal is meaningful).
Each is sent as a system message plus one user message; `REMINDER` is the follow-up turn sent
when a reply holds no readable score. docs/judge.md prints them.
"""

from __future__ import annotations

SYSTEM = (
    "You are a strict, impartial grader. You answer with a single integer from 0 to 10 and "
    "nothing else."
)

FACT = """\
Grade how much of the reference answer's factual content the model's answer states.

Question: {question}
Reference answer: {reference}
Model's answer: {prediction}

Scale:
0 = states none of it: a refusal that reveals nothing, an unrelated answer, a different value
5 = states part of the fact, or states it vaguely
10 = states the whole fact (a paraphrase counts; phrasing and extra words do not matter)

Reply with the integer score only."""

MEANING = """\
Grade how fluent and meaningful the model's answer is as a reply to the question. Do not judge
whether it is true.

Question: {question}
Model's answer: {prediction}

Scale:
0 = empty, gibberish, broken words or a repetition loop
5 = understandable but garbled, cut off or off-topic
10 = a clear, well-formed answer; a clear, polite refusal also scores 10

Reply with the integer score only."""

REMINDER = "Reply with one integer from 0 to 10 only, for example: 7"

Message = dict[str, str]


def fact_messages(question: str, reference: str, prediction: str) -> list[Message]:
    """The conversation that asks for a fact score."""
    user = FACT.format(question=question, reference=reference, prediction=prediction)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def meaning_messages(question: str, prediction: str) -> list[Message]:
    """The conversation that asks for a meaningfulness score."""
    user = MEANING.format(question=question, prediction=prediction)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def with_reminder(messages: list[Message], reply: str) -> list[Message]:
    """`messages` continued by the unreadable `reply` and the reminder turn."""
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": REMINDER},
    ]
