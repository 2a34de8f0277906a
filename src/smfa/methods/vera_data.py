"""What VERA trains on: the value's ids under an answer prefill, never-learned values of the
same attribute, per-sample levels, the visual and memory anchors (self-answered), the keep stream.

The method itself (its terms, knobs and training) is vera.py; these are its data.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from smfa.data.batches import Collator, Encoder, Sample
from smfa.data.records import Question
from smfa.eval.decode import generate
from smfa.methods.base import epochs_of
from smfa.methods.levels import can_share, candidate_levels, collate_candidates
from smfa.vocab import Kind
from smfa.world.names import GENERATORS, draw_values


def value_split(
    encoder: Encoder, answer: str, value: str, option: str
) -> tuple[list[int], list[int]]:
    """Answer ids up to the value, and the ids of `option` written where the value stands."""
    at = answer.find(value)
    before = answer[:at]
    head = encoder.text_ids(before.rstrip())
    full = encoder.text_ids(before + option)
    shared = 0
    while shared < min(len(head), len(full)) and head[shared] == full[shared]:
        shared += 1
    return full[:shared], full[shared:]


def erasable(question: Question) -> bool:
    """A question whose answer states its value: after some words (the answer's prefill leads
    to it) or as the whole answer (a free-text answer whose every word is the fact; its prefill
    is empty)."""
    return bool(question.value) and question.value in question.answer


def alternatives(
    question: Question,
    count: int,
    seed: int,
    others: dict[str, list[tuple[str, str]]],
) -> list[str]:
    """`count` values of the question's attribute that the model never learned for this person.

    Generated attributes draw fresh values; free text takes other people's values of the same
    attribute type (`others`: type -> [(subject, value)]), never one of this person's own and
    never one that holds the value or is held by it (a wording of the same fact)."""
    if question.attribute in GENERATORS and question.answer_type != "text":
        rng = np.random.default_rng([seed, zlib.crc32(question.id.encode()), 41])
        return draw_values(question.attribute, count, rng, exclude={question.value})
    own = question.value.casefold()
    pool = [
        value
        for subject, value in dict.fromkeys(others.get(question.attribute_type, []))
        if subject != question.subject and own not in value.casefold()
        and value.casefold() not in own
    ]  # fmt: skip
    return list(dict.fromkeys(pool))[:count]


def erase_sample(
    encoder: Encoder, question: Question, sample: Sample, option: str, key: str, tokens: int = 0
) -> Sample:
    """The question's prompt plus its answer's words up to the value; `option`'s first `tokens`
    ids (all when 0) as labels."""
    head, tail = value_split(encoder, question.answer, question.value, option)
    tail = tail[:tokens] if tokens > 0 else tail
    return Sample(key, sample.prompt_ids + tuple(head), tuple(tail), sample.image, sample.augment)


@torch.no_grad()
def mean_logprobs(
    model: Any, collator: Collator, samples: Sequence[Sample], batch: int
) -> list[float]:
    """Per sample, the mean log-probability per label token (eval mode, no augmentation);
    samples that share a prompt share its pass (levels.py)."""
    model.eval()
    shared = can_share(model)
    out: list[float] = []
    for start in range(0, len(samples), batch):
        chunk = collate_candidates(collator, samples[start : start + batch], shared)
        out += candidate_levels(model, chunk).tolist()
    return out


def self_answers(
    model: Any, encoder: Encoder, asked: Sequence[tuple[str, str, Any]], max_tokens: int
) -> list[Sample]:
    """(key, question, image) asked of the plain model; its greedy answers as training samples."""
    prompts = [Sample(k, encoder.prompt_ids(q, image), (), image) for k, q, image in asked]
    texts = generate(model, encoder, prompts, batch_size=16, max_new_tokens=max_tokens)
    return [
        encoder.encode(key, question, text, image)
        for (key, question, image), text in zip(asked, texts, strict=True)
        if text
    ]


def ask_pictures(
    model: Any,
    encoder: Encoder,
    prefix: str,
    pictures: Sequence[tuple[Question, Sample]],
    phrasings: dict[str | None, dict[str, str]],
    max_tokens: int,
    skip: set[tuple[Any, str]] | None = None,
) -> list[Sample]:
    """Each picture of `pictures` asked every phrasing of its image type (label -> question, in
    order), but the (picture, label) pairs in `skip`; the model's own answers as samples keyed
    `prefix:picture:label`."""
    images = {s.image: q.image_type for q, s in pictures if s.image is not None}
    asked = [
        (f"{prefix}:{image.name}:{label}", text, image)
        for image, kind in sorted(images.items(), key=lambda x: str(x[0]))
        for label, text in phrasings.get(kind, {}).items()
        if (image, label) not in (skip or set())
    ]
    return self_answers(model, encoder, asked, max_tokens)


def visual_anchors(
    model: Any,
    encoder: Encoder,
    forget: Sequence[tuple[Question, Sample]],
    retain: Sequence[Question],
    max_tokens: int,
) -> list[Sample]:
    """The forget people's training images asked the retain sample's understanding questions."""
    texts: dict[str | None, list[str]] = defaultdict(list)
    for q in retain:
        if q.kind == Kind.IMAGE_UNDERSTANDING and q.question not in texts[q.image_type]:
            texts[q.image_type].append(q.question)
    phrasings = {kind: {str(i): t for i, t in enumerate(ts)} for kind, ts in texts.items()}
    return ask_pictures(model, encoder, "anchor", forget, phrasings, max_tokens)


def memory_anchors(
    model: Any,
    encoder: Encoder,
    retain: Sequence[tuple[Question, Sample]],
    max_tokens: int,
) -> list[Sample]:
    """The retain sample's pictures asked every attribute its image-memory questions ask
    (one phrasing per attribute), where the sample has no answer: answered by the model itself.

    A few-shot sample holds one or two facts per retain person; the rest of what the model
    knows about them is exactly what value erasure must not touch, and asking for it needs no
    labels and nothing outside the budget."""
    by_type: dict[str | None, dict[str, str]] = defaultdict(dict)
    known: set[tuple[Any, str]] = set()
    for q, s in retain:
        if q.kind == Kind.IMAGE_MEMORY and s.image is not None:
            by_type[q.image_type].setdefault(q.attribute, q.question)
            known.add((s.image, q.attribute))
    phrasings = {kind: dict(sorted(by.items())) for kind, by in by_type.items()}
    return ask_pictures(model, encoder, "memory", retain, phrasings, max_tokens, known)


def _possessor(question: Question) -> str | None:
    """The name a text-memory answer opens with ("Name's home city is ..."), when the question
    holds it as well; None for an answer framed otherwise."""
    head, sep, _ = question.answer.partition("'s ")
    return head if sep and head and head in question.question else None


def text_anchors(
    model: Any,
    encoder: Encoder,
    retain: Sequence[tuple[Question, Sample]],
    max_tokens: int,
) -> list[Sample]:
    """Every person the retain sample's text questions name, asked every attribute those
    questions ask (one phrasing each, the person's name put in), where the sample holds no
    answer: answered by the model itself.

    The names and phrasings are the sample's own: a question's name is what its answer opens
    with (`_possessor`); a sample whose answers are framed otherwise gives no text anchors."""
    names: dict[str, str] = {}
    phrasings: dict[str, tuple[str, str]] = {}  # attribute -> (question, the name in it)
    known: set[tuple[str, str]] = set()
    for q, _ in retain:
        name = _possessor(q) if q.kind == Kind.TEXT_MEMORY else None
        if name and q.subject:
            names.setdefault(q.subject, name)
            phrasings.setdefault(q.attribute, (q.question, name))
            known.add((q.subject, q.attribute))
    asked = [
        (f"text:{subject}:{attribute}", question.replace(named, name), None)
        for subject, name in sorted(names.items())
        for attribute, (question, named) in sorted(phrasings.items())
        if (subject, attribute) not in known
    ]
    return self_answers(model, encoder, asked, max_tokens)


def keep_stream(
    retain: list[Sample], anchors: list[Sample], count: int, share: float, seed: int
) -> list[Sample]:
    """One keep sample per forget item: retain and anchors mixed as they come, unless anchors
    are fewer than `share` of them (few forget people); then every position whose running
    anchor count falls behind `share` is an anchor."""
    if not anchors or not retain or len(anchors) >= share * (len(retain) + len(anchors)):
        return cycled(retain + anchors, count, seed)
    wanted = math.ceil(count * share)
    picked = iter(cycled(anchors, wanted, seed))
    rest = iter(cycled(retain, count - wanted, seed + 1))
    stream, given = [], 0
    for i in range(count):
        if given < wanted and given < (i + 1) * share:
            stream.append(next(picked))
            given += 1
        else:
            stream.append(next(rest))
    return stream


def cycled(samples: Sequence[Sample], count: int, seed: int) -> list[Sample]:
    """`count` samples: seeded shuffles of `samples`, one after another."""
    return epochs_of(samples, math.ceil(count / len(samples)), seed)[:count]
