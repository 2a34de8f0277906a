"""The evaluation harness: ask a model every probe question of a world once, score many ways.

The model runs once per question (greedy answer) plus teacher-forced passes over the true value
and its distractors; the scorers of `smfa.eval.scoring` that apply to a question's kind and
split then score those outputs. Rows are grouped by split (forget / retain / general /
unknown) x kind x image type x phrasing x view. Which questions are asked is the protocol's
(`smfa.protocol.questions.probe_questions`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from smfa.config import EvalConfig
from smfa.data.batches import Encoder, Sample
from smfa.data.format import Question, World
from smfa.eval import metrics as M
from smfa.eval.probes import answer_logprobs, generate
from smfa.eval.scoring import Answered, score_answer
from smfa.judge.wire import add_judge_scores, judge_from_config
from smfa.protocol.questions import probe_questions, split_of
from smfa.protocol.vocab import MEMORY_KINDS, Kind, Split, View

Tick = Callable[[str, int, int], None]


@dataclass
class Scored:
    """One probe question with the model's answer and its per-example scores."""

    question: Question
    split: Split
    prediction: str
    scores: dict[str, float]


def _with_value(answer: str, value: str, option: str) -> tuple[str, str, str]:
    """Split an answer into (prefix, option, suffix) around the value it states."""
    index = answer.find(value) if value else -1
    if index < 0:
        return "", answer if option == value else option, ""
    return answer[:index].rstrip(), option, answer[index + len(value) :]


def _span_sample(
    encoder: Encoder, key: str, prompt: tuple[int, ...], parts: tuple[str, str, str], image: Any
) -> tuple[Sample, tuple[int, int]]:
    """A teacher-forcing sample whose scored span is the value's tokens."""
    prefix, value, suffix = parts
    tok = encoder.tokenizer
    head = encoder.text_ids(prefix) if prefix else []
    body = encoder.text_ids(value)
    tail = tok(suffix, add_special_tokens=False)["input_ids"] if suffix else []
    ids = (*head, *body, *tail, *encoder.end_ids)
    return Sample(key, prompt, tuple(int(i) for i in ids), image), (
        len(head),
        len(head) + len(body),
    )


def _mean_logprob(scores: list[float], span: tuple[int, int]) -> float:
    part = scores[span[0] : span[1]] or scores
    return sum(part) / len(part)


def score_questions(
    model: Any,
    processor: Any,
    world: World,
    ratio: int,
    config: EvalConfig,
    tick: Tick | None = None,
    forget_people: Collection[str] | None = None,
) -> list[Scored]:
    """Answer every probe question and score it; no aggregation.

    The forget split is the world's forget set at `ratio`, or `forget_people` when given (a
    forget request naming people).
    """
    encoder = Encoder(processor)
    questions = probe_questions(world, config.phrasings, config.train_scenes)
    forget = set(world.splits.forget[ratio] if forget_people is None else forget_people)
    images = [world.image_path(q.image) if q.image else None for q in questions]
    samples = [
        encoder.encode(q.id, q.question, q.answer, img)
        for q, img in zip(questions, images, strict=True)
    ]
    done = [0]

    def step(label: str, total: int) -> Callable[[int], None]:
        done[0] = 0

        def advance(n: int) -> None:
            done[0] += n
            if tick is not None:
                tick(label, done[0], total)

        return advance

    predictions = generate(
        model,
        encoder,
        samples,
        config.batch_size,
        config.max_new_tokens,
        tick=step("generate", len(samples)),
    )
    # Teacher forcing: the true value and each distractor in the answer's own sentence.
    forced: list[Sample] = []
    spans: list[tuple[int, int]] = []
    owners: list[tuple[int, int]] = []  # (question index, option index; 0 is the true value)
    for qi, (q, sample) in enumerate(zip(questions, samples, strict=True)):
        if q.kind not in MEMORY_KINDS or not config.likelihood:
            continue
        for oi, option in enumerate((q.value, *q.distractors)):
            parts = _with_value(q.answer, q.value, option)
            fs, span = _span_sample(encoder, q.id, sample.prompt_ids, parts, sample.image)
            forced.append(fs)
            spans.append(span)
            owners.append((qi, oi))
    logprobs = answer_logprobs(
        model, encoder, forced, config.batch_size, tick=step("likelihood", len(forced))
    )
    options: dict[int, list[float]] = defaultdict(list)
    value_logprobs: dict[int, list[float]] = {}
    for (qi, oi), scores, span in zip(owners, logprobs, spans, strict=True):
        options[qi].append(_mean_logprob(scores, span))
        if oi == 0:
            value_logprobs[qi] = scores[span[0] : span[1]] or scores
    scored = []
    for qi, (q, prediction) in enumerate(zip(questions, predictions, strict=True)):
        split = split_of(q, forget)
        answered = Answered(
            q, split, prediction, config.fuzzy_threshold, value_logprobs.get(qi), options[qi]
        )
        scored.append(Scored(q, split, prediction, score_answer(answered)))
    if config.judge:  # optional: judge_fact and judge_meaning per question (docs/judge.md)
        judge = judge_from_config(config)
        if judge is not None:
            add_judge_scores(judge, scored, tick)
    return scored


def _row(model: str, key: tuple[str, ...], metric: str, values: list[float]) -> dict[str, Any]:
    split, kind, image_type, phrasing, view = key
    return {
        "model": model,
        "split": split,
        "kind": kind,
        "image_type": image_type,
        "phrasing": phrasing,
        "view": view,
        "metric": metric,
        "value": M.mean(values),
        "n": len(values),
        "higher_is_better": M.METRICS[metric].higher_is_better,
    }


def aggregate(model: str, scored: list[Scored]) -> list[dict[str, Any]]:
    """Metric rows: per group, then pooled over image types ("all"), then the composites."""
    groups: dict[tuple[str, ...], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for s in scored:
        q = s.question
        image_type = q.image_type or "text"
        view = q.view or View.NONE
        keys = {
            (s.split, q.kind, image_type, q.phrasing, view),
            (s.split, q.kind, "all", q.phrasing, view),
        }
        for key in keys:
            for metric, value in s.scores.items():
                groups[key][metric].append(value)
    rows = [
        _row(model, key, metric, values)
        for key, metrics in sorted(groups.items())
        for metric, values in sorted(metrics.items())
    ]
    return rows + composites(model, scored)


def composites(model: str, scored: list[Scored]) -> list[dict[str, Any]]:
    """The paper's three overall scores, per phrasing, pooled over views and image types."""
    rows = []
    for phrasing in sorted({s.question.phrasing for s in scored}):
        part = [s for s in scored if s.question.phrasing == phrasing]

        def pool(
            split: str, kinds: Collection[str], metric: str, part: list[Scored] = part
        ) -> list[float]:
            return [
                s.scores[metric]
                for s in part
                if s.split == split and s.question.kind in kinds and metric in s.scores
            ]

        key = (Split.OVERALL, Kind.COMPOSITE, "all", phrasing, View.ALL)
        understanding = [
            pool(sp, (Kind.IMAGE_UNDERSTANDING,), "accuracy") for sp in (Split.FORGET, Split.RETAIN)
        ]
        retain_recall = pool(Split.RETAIN, MEMORY_KINDS, "recall")
        forget_leak = pool(Split.FORGET, MEMORY_KINDS, "leak_rate")
        meaningful = [s.scores["meaningfulness"] for s in part]
        values: dict[str, tuple[float, int]] = {}
        if all(understanding):
            values["overall_image_understanding"] = (
                M.overall_image_understanding(M.mean(understanding[0]), M.mean(understanding[1])),
                sum(map(len, understanding)),
            )
        if retain_recall and forget_leak:
            values["overall_memory"] = (
                M.overall_memory(M.mean(retain_recall), M.mean(forget_leak)),
                len(retain_recall) + len(forget_leak),
            )
        if meaningful:
            values["overall_meaningful"] = (M.overall_meaningful(meaningful), len(meaningful))
        for metric, (value, n) in values.items():
            row = _row(model, key, metric, [value])
            row["n"] = n
            rows.append(row)
    return rows


def generations(model: str, scored: list[Scored]) -> list[dict[str, Any]]:
    """One record per probe question: what was asked, expected and answered, with scores."""
    out = []
    for s in scored:
        q = s.question
        out.append(
            {
                "model": model,
                "id": q.id,
                "split": s.split,
                "kind": q.kind,
                "subject": q.subject,
                "attribute": q.attribute,
                "phrasing": q.phrasing,
                "view": q.view,
                "image": q.image,
                "question": q.question,
                "answer": q.answer,
                "value": q.value,
                "prediction": s.prediction,
                "scores": {k: (None if math.isnan(v) else v) for k, v in s.scores.items()},
            }
        )
    return out
