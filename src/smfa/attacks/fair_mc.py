"""Fair multiple choice: the true value against values the model never learned.

The harness's multiple choice draws distractors from retain people's values, which the model
did learn, so a model that never saw the forget people (the oracle) scores below chance: it
prefers any value it knows. Here each question's distractors are values of the same attribute
that appear nowhere in the world (drawn by the world's own generators, so they look alike), or,
for attributes without a generator (imported free text), the other forget people's values. A
model that knows nothing sits at chance (reported beside it); one that still holds the value
picks it. Options are scored as the harness does: the mean log-probability of the option's
tokens inside the answer's own sentence, under teacher forcing.
"""

from __future__ import annotations

import zlib
from collections import defaultdict

import numpy as np

from smfa.attacks.base import Attack, Question, Row, Target
from smfa.eval.harness import _mean_logprob, _span_sample, _with_value
from smfa.eval.probes import answer_logprobs
from smfa.world.names import GENERATORS, draw_values

DISTRACTORS = 3


def fair_options(
    question: Question, known: dict[str, set[str]], others: dict[str, list[str]]
) -> list[str]:
    """[true value, distractors...]: never-learned values of the question's attribute."""
    attribute = question.attribute
    if attribute in GENERATORS and question.answer_type != "text":
        rng = np.random.default_rng([zlib.crc32(question.id.encode()), 7])
        exclude = known.get(attribute, set()) | {question.value}
        return [question.value, *draw_values(attribute, DISTRACTORS, rng, exclude)]
    pool = [v for v in dict.fromkeys(others.get(attribute, [])) if v != question.value]
    return [question.value, *pool[:DISTRACTORS]]


class FairMultipleChoice(Attack):
    name = "fair_mc"
    family = "likelihood"
    summary = "the true value among never-learned values, by likelihood"
    counts_as_leak = False

    def run(self, target: Target) -> list[Row]:
        known: dict[str, set[str]] = defaultdict(set)
        for q in target.world.questions:
            if q.value:
                known[q.attribute].add(q.value)
        for person in target.world.people.values():
            known["name"].add(person.name)
        others: dict[str, list[str]] = defaultdict(list)
        for q in target.forget:
            others[q.attribute].append(q.value)
        out: list[Row] = []
        for split, questions in (("forget", target.forget), ("retain", target.retain)):
            asked = [(q, fair_options(q, known, others)) for q in questions if q.value in q.answer]
            asked = [(q, options) for q, options in asked if len(options) > 1]
            out += self._score(target, split, asked)
        return out

    def _score(
        self, target: Target, split: str, asked: list[tuple[Question, list[str]]]
    ) -> list[Row]:
        encoder = target.encoder
        samples, spans, owners = [], [], []
        for qi, (q, options) in enumerate(asked):
            prompt = encoder.prompt_ids(q.question, target.image(q))
            for option in options:
                parts = _with_value(q.answer, q.value, option)
                sample, span = _span_sample(encoder, q.id, prompt, parts, target.image(q))
                samples.append(sample)
                spans.append(span)
                owners.append(qi)
        scores = answer_logprobs(target.model, encoder, samples, target.config.batch_size)
        per_question: dict[int, list[float]] = defaultdict(list)
        for qi, logprobs, span in zip(owners, scores, spans, strict=True):
            per_question[qi].append(_mean_logprob(logprobs, span))
        groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for qi, (q, options) in enumerate(asked):
            option_scores = per_question[qi]
            correct = float(int(np.argmax(option_scores)) == 0)
            for kind in (q.kind, "all"):
                groups[kind].append((correct, 1.0 / len(options)))
        out: list[Row] = []
        for kind, pairs in sorted(groups.items()):
            for metric, index, higher in (
                ("mc_accuracy", 0, split != "forget"),
                ("chance", 1, False),
            ):
                out.append(
                    {
                        "attack": self.name,
                        "split": split,
                        "kind": kind,
                        "metric": metric,
                        "value": sum(p[index] for p in pairs) / len(pairs),
                        "n": len(pairs),
                        "higher_is_better": higher,
                    }
                )
        return out
