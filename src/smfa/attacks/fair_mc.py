"""Fair multiple choice: the true value against values the model never learned.

The plain probe's multiple choice draws distractors from retain people's values, which the model
did learn, so a model that never saw the forget people (the oracle) scores below chance: it
prefers any value it knows. Here each question's distractors are values of the same attribute
that appear nowhere in the world (drawn by the world's own generators, so they look alike), or,
for attributes without a generator (imported free text), other forget people's answers to the
same attribute type in the same form (`free_text_options`). A model that knows nothing sits at
chance (one over the options offered, reported beside it); one that still holds the value picks
it. Options are scored as the plain probe scores them: the mean log-probability of the option's
tokens inside the answer's own sentence, under teacher forcing.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from smfa.config import EvalConfig
from smfa.data.records import Question
from smfa.eval.decode import answer_logprobs
from smfa.eval.forcing import mean_logprob, options_of
from smfa.eval.probe import Answer, Probe, Session
from smfa.eval.text_checks import normalize
from smfa.vocab import MEMORY_KINDS, Split
from smfa.world.names import GENERATORS, draw_values

DISTRACTORS = 3


@dataclass(frozen=True)
class Pool:
    """Free-text distractors: the forget people's answers by (question kind, attribute type),
    and every person's own values (any attribute), which are never offered to them."""

    answers: dict[tuple[str, str], list[tuple[str | None, str]]] = field(default_factory=dict)
    own: dict[str | None, list[str]] = field(default_factory=dict)


def fair_options(question: Question, known: dict[str, set[str]], others: Pool) -> list[str]:
    """[true value, distractors...]: never-learned values of the question's attribute."""
    attribute = question.attribute
    if attribute in GENERATORS and question.answer_type != "text":
        rng = np.random.default_rng([zlib.crc32(question.id.encode()), 7])
        exclude = known.get(attribute, set()) | {question.value}
        return [question.value, *draw_values(attribute, DISTRACTORS, rng, exclude)]
    return free_text_options(question, others)


def _overlaps(value: str, own: str) -> bool:
    """`value` equals, contains or is contained in `own`, as whole words after normalization
    ("This person is 162 cm tall." and "162 cm")."""
    a, b = f" {normalize(value)} ", f" {normalize(own)} "
    return a in b or b in a


def free_text_options(question: Question, others: Pool) -> list[str]:
    """[true value, up to DISTRACTORS others]: answers of OTHER people to the same attribute
    type (`Question.attribute_type`) in the same form (the question's kind: image or text
    question), never one that overlaps (`_overlaps`) the question's value or any value of the
    person's (their other facts, in either form: a birthplace is no distractor for their
    residence); a seeded draw per question. Fewer are offered when fewer exist (the chance
    level says how many)."""
    kind = question.attribute_type
    own = [question.value, *others.own.get(question.subject, [])]
    found: dict[str, str] = {}
    for person, value in others.answers.get((question.kind, kind), []):
        if person != question.subject and not any(_overlaps(value, mine) for mine in own):
            found.setdefault(normalize(value), value)
    candidates = sorted(found.values())
    rng = np.random.default_rng([zlib.crc32(question.id.encode()), 7])
    picked = rng.permutation(len(candidates))[:DISTRACTORS]
    return [question.value, *(candidates[int(i)] for i in sorted(picked))]


def forget_pool(questions: list[Question], forget_people: tuple[str, ...]) -> Pool:
    """The forget people's answers (what the oracle never learned), and everyone's own values."""
    answers: dict[tuple[str, str], list[tuple[str | None, str]]] = defaultdict(list)
    own: dict[str | None, list[str]] = defaultdict(list)
    for q in questions:
        if not q.value or q.kind not in MEMORY_KINDS:
            continue
        own[q.subject].append(q.value)
        if q.subject in forget_people:
            answers[(q.kind, q.attribute_type)].append((q.subject, q.value))
    return Pool(
        {key: list(dict.fromkeys(values)) for key, values in answers.items()},
        {key: list(dict.fromkeys(values)) for key, values in own.items()},
    )


class FairMultipleChoice(Probe):
    name = "fair_mc"
    family = "likelihood"
    summary = "the true value among never-learned values, by likelihood"
    metrics: ClassVar[frozenset[str] | None] = frozenset({"mc_accuracy", "chance"})

    def settings(self, config: EvalConfig) -> dict[str, Any]:
        # rule 2: free-text distractors of the same type and form, never the person's own
        return {**super().settings(config), "rule": 2}

    def ask(self, session: Session) -> list[Answer]:
        known: dict[str, set[str]] = defaultdict(set)
        for q in session.world.questions:
            if q.value:
                known[q.attribute].add(q.value)
        for person in session.world.people.values():
            known["name"].add(person.name)
        forget, retain = session.targets()
        others = forget_pool(session.world.questions, session.ask.forget_people)
        out: list[Answer] = []
        for split, questions in ((Split.FORGET, forget), (Split.RETAIN, retain)):
            asked = [(q, fair_options(q, known, others)) for q in questions if q.value in q.answer]
            out += self._score(session, split, [(q, o) for q, o in asked if len(o) > 1])
        return out

    def _score(
        self, session: Session, split: Split, asked: list[tuple[Question, list[str]]]
    ) -> list[Answer]:
        encoder = session.encoder
        samples, spans, owners = [], [], []
        for i, (q, options) in enumerate(asked):
            image = session.image(q)
            prompt = encoder.prompt_ids(q.question, image)
            for sample, span in options_of(encoder, q, prompt, image, options):
                samples.append(sample)
                spans.append(span)
                owners.append(i)
        scores = answer_logprobs(
            session.model, encoder, samples, session.settings.batch_size,
            tick=session.progress(f"fair_mc · {split}", len(samples)),
        )  # fmt: skip
        per_question: dict[int, list[float]] = defaultdict(list)
        for i, logprobs, span in zip(owners, scores, spans, strict=True):
            per_question[i].append(mean_logprob(logprobs, span))
        return [Answer(q, split, options=per_question[i]) for i, (q, _) in enumerate(asked)]
