"""The plain probe: a slice's questions asked as written, answered greedily and teacher-forced.

Every probe row of the slice gets a greedy answer; memory questions also get the teacher-forced
passes (when the slice asks for likelihoods): the true value and each distractor in the answer's
own sentence, which give the answer probability and multiple choice. Every scorer that applies
to a question's kind and split scores it (`smfa.eval.scoring`), and the optional judge adds its
scores (docs/judge.md). Which questions a slice asks is the protocol's (`slice_questions`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar

from smfa.config import EvalConfig
from smfa.data.batches import Sample
from smfa.eval.decode import answer_logprobs, generate
from smfa.eval.forcing import Span, mean_logprob, options_of, span_logprobs
from smfa.eval.probe import Answer, Probe, Session
from smfa.eval.scoring import Scored
from smfa.judge.wire import add_judge_scores, judge_from_config
from smfa.protocol.questions import slice_questions
from smfa.vocab import MEMORY_KINDS


class Plain(Probe):
    name = "plain"
    family = "plain"
    summary = "the slice's questions as written"
    metrics: ClassVar[frozenset[str] | None] = None  # every scorer that applies
    pooled = False

    def settings(self, config: EvalConfig) -> dict[str, Any]:
        return {
            "max_new_tokens": config.max_new_tokens,
            "fuzzy": config.fuzzy_threshold,
            "batch": config.batch_size,
            "judge": config.judge,
            "judge_unparseable": config.judge_unparseable,
        }

    def finish(self, session: Session, scored: list[Scored]) -> None:
        """The optional judge's judge_fact and judge_meaning per question (docs/judge.md)."""
        if session.settings.judge:
            judge = judge_from_config(session.settings)
            if judge is not None:
                add_judge_scores(judge, scored, session.tick)

    def ask(self, session: Session) -> list[Answer]:
        encoder, settings = session.encoder, session.settings
        questions = slice_questions(session.world, session.slice)
        samples = [encoder.encode(q.id, q.question, q.answer, session.image(q)) for q in questions]
        predictions = generate(
            session.model,
            encoder,
            samples,
            settings.batch_size,
            settings.max_new_tokens,
            tick=session.progress("generate", len(samples)),
        )
        answers = [
            Answer(q, session.split(q), prediction)
            for q, prediction in zip(questions, predictions, strict=True)
        ]
        if session.slice.likelihood:
            self._force(session, answers, samples)
        return answers

    def _force(self, session: Session, answers: list[Answer], samples: list[Sample]) -> None:
        """The true value and each distractor, teacher-forced, for every memory question."""
        forced: list[Sample] = []
        spans: list[Span] = []
        owners: list[tuple[int, int]] = []  # (answer index, option index; 0 is the true value)
        for i, (answer, sample) in enumerate(zip(answers, samples, strict=True)):
            q = answer.question
            if q.kind not in MEMORY_KINDS:
                continue
            options = (q.value, *q.distractors)
            made = options_of(session.encoder, q, sample.prompt_ids, sample.image, options)
            for o, (option_sample, span) in enumerate(made):
                forced.append(option_sample)
                spans.append(span)
                owners.append((i, o))
        settings = session.settings
        logprobs = answer_logprobs(
            session.model,
            session.encoder,
            forced,
            settings.batch_size,
            tick=session.progress("likelihood", len(forced)),
        )
        options: dict[int, list[float]] = defaultdict(list)
        for (i, o), scores, span in zip(owners, logprobs, spans, strict=True):
            options[i].append(mean_logprob(scores, span))
            if o == 0:
                answers[i].value_logprobs = span_logprobs(scores, span)
        for i, values in options.items():
            answers[i].options = values
