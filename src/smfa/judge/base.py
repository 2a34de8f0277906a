"""The judge interface, the score parser, and the prompt-and-parse loop every backend shares.

A `Judge` scores batches: `score_fact` (0-10, how much of a reference fact an answer states)
and `score_meaning` (0-10, how meaningful an answer is). `PromptJudge` implements both on top of
one backend method, `complete` (conversations in, reply texts out), and reads each reply with
`parse_score`. A reply without a readable score is asked again once with a reminder turn; if
it still has none, the judge raises `JudgeError` naming the endpoint and the reply
(`unparseable="error"`, the default) or returns NaN for that item (`unparseable="nan"`, which
the plain probe turns into "no judge score for this question").
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from smfa.errors import JudgeError
from smfa.judge.prompts import Message, fact_messages, meaning_messages, with_reminder

SCALE_MAX = 10.0
UNPARSEABLE_POLICIES = ("error", "nan")

_NUMBER = r"(\d+(?:\.\d+)?)"
_THINKING = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_OUT_OF_TEN = re.compile(rf"{_NUMBER}\s*(?:/|out of)\s*10(?!\.?\d)", re.IGNORECASE)
_LABELLED = re.compile(rf"\b(?:score|rating|grade)\b\W{{0,4}}{_NUMBER}", re.IGNORECASE)
_ANY_NUMBER = re.compile(rf"(?<![\w.]){_NUMBER}(?![\w]|\.\d)")


def parse_score(reply: str) -> float | None:
    """The 0-10 score a judge reply states, or None when it states none unambiguously.

    Tried in order, after dropping any <think>...</think> block: "N/10" or "N out of 10";
    a labelled "score: N" / "rating N" / '"score": N'; otherwise the only number in the reply
    (several different numbers are ambiguous). A number outside 0-10 is no score.
    """
    text = _THINKING.sub(" ", reply)
    for pattern in (_OUT_OF_TEN, _LABELLED):
        match = pattern.search(text)
        if match:
            return _in_scale(float(match.group(1)))
    numbers = {float(n) for n in _ANY_NUMBER.findall(text)}
    if len(numbers) == 1:
        return _in_scale(numbers.pop())
    return None


def _in_scale(value: float) -> float | None:
    return value if 0.0 <= value <= SCALE_MAX else None


@runtime_checkable
class Judge(Protocol):
    """Scores answers with a judge model; every score is in [0, 10] (NaN: unparseable)."""

    def score_fact(
        self, questions: Sequence[str], references: Sequence[str], predictions: Sequence[str]
    ) -> list[float]: ...

    def score_meaning(
        self, questions: Sequence[str], predictions: Sequence[str]
    ) -> list[float]: ...


class PromptJudge(ABC):
    """A `Judge` built from the shipped prompts and one `complete` method per backend."""

    where = "judge"  # what errors name: the endpoint URL or the model directory

    def __init__(self, unparseable: str = "error") -> None:
        if unparseable not in UNPARSEABLE_POLICIES:
            raise JudgeError(
                f"eval.judge_unparseable must be one of {', '.join(UNPARSEABLE_POLICIES)}, "
                f"got {unparseable!r}"
            )
        self.unparseable = unparseable

    @abstractmethod
    def complete(self, conversations: Sequence[list[Message]]) -> list[str]:
        """The judge model's reply to each conversation (each backend implements it)."""

    def score_fact(
        self, questions: Sequence[str], references: Sequence[str], predictions: Sequence[str]
    ) -> list[float]:
        """0-10: how much of each reference answer's fact the prediction states."""
        rows = zip(questions, references, predictions, strict=True)
        return self._scores([fact_messages(q, r, p) for q, r, p in rows])

    def score_meaning(self, questions: Sequence[str], predictions: Sequence[str]) -> list[float]:
        """0-10: how fluent and meaningful each prediction is as a reply, true or not."""
        rows = zip(questions, predictions, strict=True)
        return self._scores([meaning_messages(q, p) for q, p in rows])

    def _scores(self, conversations: list[list[Message]]) -> list[float]:
        if not conversations:
            return []
        replies = self.complete(conversations)
        scores = [parse_score(reply) for reply in replies]
        retry = [i for i, score in enumerate(scores) if score is None]
        if retry:
            again = self.complete([with_reminder(conversations[i], replies[i]) for i in retry])
            for i, reply in zip(retry, again, strict=True):
                scores[i] = parse_score(reply)
                if scores[i] is None and self.unparseable == "error":
                    raise JudgeError(
                        f"{self.where}: no 0-10 score in the judge's reply {reply[:200]!r} "
                        f"(first reply {replies[i][:200]!r}); set eval.judge_unparseable=nan "
                        "to leave such answers unscored"
                    )
        return [math.nan if score is None else score for score in scores]
