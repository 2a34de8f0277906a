"""Teacher forcing a value and its options inside the answer's own sentence.

The likelihood passes of the plain probe (answer probability, multiple choice) and of fair
multiple choice score a value, or an option standing in for it, in the answer's sentence
("Mivina Holwell's home city is <option>."): the prefix and suffix are forced as context and
only the option's tokens are scored, as a mean log-probability per token.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from smfa.data.batches import Encoder, Sample
from smfa.data.records import Question

Span = tuple[int, int]


def around_value(answer: str, value: str, option: str) -> tuple[str, str, str]:
    """(prefix, option, suffix): `option` in place of `value` in `answer`'s sentence."""
    index = answer.find(value) if value else -1
    if index < 0:
        return "", answer if option == value else option, ""
    return answer[:index].rstrip(), option, answer[index + len(value) :]


def option_sample(
    encoder: Encoder,
    key: str,
    prompt: tuple[int, ...],
    parts: tuple[str, str, str],
    image: Path | None,
) -> tuple[Sample, Span]:
    """A teacher-forcing sample whose scored span is the option's tokens."""
    prefix, option, suffix = parts
    head = encoder.text_ids(prefix) if prefix else []
    body = encoder.text_ids(option)
    tail = encoder.tokenizer(suffix, add_special_tokens=False)["input_ids"] if suffix else []
    ids = (*head, *body, *tail, *encoder.end_ids)
    return Sample(key, prompt, tuple(int(i) for i in ids), image), (
        len(head),
        len(head) + len(body),
    )


def options_of(
    encoder: Encoder,
    question: Question,
    prompt: tuple[int, ...],
    image: Path | None,
    options: Sequence[str],
) -> list[tuple[Sample, Span]]:
    """One teacher-forcing sample per option (the true value first, as given)."""
    return [
        option_sample(
            encoder, question.id, prompt, around_value(question.answer, question.value, o), image
        )
        for o in options
    ]


def span_logprobs(scores: Sequence[float], span: Span) -> list[float]:
    """The scored span's token log-probabilities (the whole answer when the span is empty)."""
    return list(scores[span[0] : span[1]]) or list(scores)


def mean_logprob(scores: Sequence[float], span: Span) -> float:
    part = span_logprobs(scores, span)
    return sum(part) / len(part)
