"""Membership inference: can the forget people's true answers be told from never-seen ones?

A model that learned a sentence gives it a higher likelihood than a like sentence it never saw;
unlearning that leaves this trace can be detected without the model ever stating the value
(MUSE's PrivLeak, Shi et al., "MUSE: Machine Unlearning Six-Way Evaluation for Language Models",
2024; open-unlearning and Open-MMunlearning ship such attacks). For each forget memory question
the attack asks (and each of the retain sample), the true answer sentence ("Mivina Holwell's
home city is Oslo.") is teacher-forced after the question, and so is a never-seen answer: the
same sentence with a value of the same attribute that appears nowhere in the world, drawn by
the world's own generators as fair multiple choice draws its distractors (`fair_options`'s
rule). For attributes without a generator (imported free-text worlds) the never-seen answer
holds another asked person's value of the same attribute type in the same sentence: for the
oracle, which saw none of the forget people, both sentences are equally unseen; the unknown
people of an imported world are asked for refusals, not facts, so they hold no such sentence.

Four scores per sentence, higher meaning "more like a member" (`smfa.eval.metrics`): the mean
token log-likelihood (loss), its zlib ratio, Min-K% Prob and Min-K%++ (k = 20%), over the
answer's tokens (the end of turn left out). The rows report, per split and kind, the AUC of
each score at telling true sentences from never-seen ones (`mia_auc_<score>`): on the forget
split the goal is the oracle's AUC (its distance is a headline figure); on the retain split a
model that still knows its retain people stays high.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from typing import Any, ClassVar

import numpy as np

from smfa.config import EvalConfig
from smfa.data.batches import Sample
from smfa.data.records import Question, World
from smfa.eval import membership
from smfa.eval.decode import token_statistics
from smfa.eval.probe import Answer, Probe, Session
from smfa.vocab import Split
from smfa.world.names import GENERATORS, draw_values

TokenStats = list[tuple[float, float, float]]  # per token: log-probability, mean, deviation


def known_values(world: World) -> dict[str, set[str]]:
    """Every value the world holds, per attribute (people's names included)."""
    known: dict[str, set[str]] = defaultdict(set)
    for q in world.questions:
        if q.value:
            known[q.attribute].add(q.value)
    for person in world.people.values():
        known["name"].add(person.name)
    return known


def never_seen(
    question: Question, known: dict[str, set[str]], others: dict[str, list[str]]
) -> str | None:
    """The question's answer sentence with a never-learned value in place of the true one:
    drawn by the attribute's generator, else another asked person's value of the same type
    (None when there is none, or the answer does not hold its value)."""
    at = question.answer.find(question.value) if question.value else -1
    if at < 0:
        return None
    if question.attribute in GENERATORS and question.answer_type != "text":
        rng = np.random.default_rng([zlib.crc32(question.id.encode()), 11])
        exclude = known.get(question.attribute, set()) | {question.value}
        (value,) = draw_values(question.attribute, 1, rng, exclude)
    else:
        pool = [v for v in dict.fromkeys(others.get(question.attribute_type, [])) if v]
        pool = [v for v in pool if v != question.value]
        if not pool:
            return None
        value = pool[zlib.crc32(question.id.encode()) % len(pool)]
    return question.answer[:at] + value + question.answer[at + len(question.value) :]


def membership_scores(stats: TokenStats, text: str) -> dict[str, float]:
    """The four scores of one teacher-forced answer sentence (membership.MIA_SCORES)."""
    logprobs = [t[0] for t in stats]
    loss = sum(logprobs) / len(logprobs)
    return {
        "loss": loss,
        "zlib": membership.zlib_score(loss, text),
        "mink": membership.min_k(logprobs),
        "minkpp": membership.min_k_plus_plus(
            logprobs, [t[1] for t in stats], [t[2] for t in stats]
        ),
    }


class MembershipInference(Probe):
    name = "mia"
    family = "likelihood"
    summary = "true answers against never-seen ones by loss, zlib, Min-K%, Min-K%++ (AUC)"
    metrics: ClassVar[frozenset[str] | None] = frozenset()  # its rows are AUCs (smfa.eval.rows)

    def settings(self, config: EvalConfig) -> dict[str, Any]:
        return {
            "retain": config.attack_retain,
            "batch": config.batch_size,
            "min_k": membership.MIN_K_FRACTION,
        }

    def ask(self, session: Session) -> list[Answer]:
        known = known_values(session.world)
        out: list[Answer] = []
        for split, questions in zip((Split.FORGET, Split.RETAIN), session.targets(), strict=True):
            others: dict[str, list[str]] = defaultdict(list)
            for q in questions:
                others[q.attribute_type].append(q.value)
            pairs = [(q, never_seen(q, known, others)) for q in questions]
            out += self._scored(session, split, [(q, n) for q, n in pairs if n is not None])
        return out

    def _scored(
        self, session: Session, split: Split, pairs: list[tuple[Question, str]]
    ) -> list[Answer]:
        """Each question's true and never-seen sentences teacher-forced, and their scores."""
        encoder = session.encoder
        end = len(encoder.end_ids)
        samples: list[Sample] = []
        for q, other in pairs:
            image = session.image(q)
            samples += [
                encoder.encode(q.id, q.question, text, image, augment=False)
                for text in (q.answer, other)
            ]
        stats = token_statistics(
            session.model, encoder, samples, session.settings.batch_size,
            tick=session.progress(f"mia · {split}", len(samples)),
        )  # fmt: skip
        # The sentence's tokens: the end of turn is the same after any answer.
        sentence = [s[: len(s) - end] or s for s in stats]
        out = []
        for i, (q, other) in enumerate(pairs):
            true = membership_scores(sentence[2 * i], q.answer)
            unseen = membership_scores(sentence[2 * i + 1], other)
            scores = {name: (true[name], unseen[name]) for name in membership.MIA_SCORES}
            out.append(Answer(q, split, membership=scores))
        return out
