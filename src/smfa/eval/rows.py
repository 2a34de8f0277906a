"""From scored answers to rows: the one row shape every results.json row has, and the records.

A row is one metric averaged over a group of answers of one probe: for the plain probe, per
split x kind x image type x phrasing x view (and pooled over image types, "all"), plus the
paper's three composites; for an attack, per split x kind and pooled over kinds ("all"), with
each repetition's value (`per_group`, a relearning seed) on the pooled row, and, for answers
that carry membership scores, the AUC of each score (`membership_rows`). `records` are the
generations files' lines: one per question the plain probe asked.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from typing import Any, NotRequired, TypedDict

from smfa.eval import membership, metrics
from smfa.eval.scoring import Scored
from smfa.vocab import MEMORY_KINDS, Kind, Split, View

ALL = "all"  # a row pooled over image types, kinds or views


class Row(TypedDict):
    """One results.json row (docs/results-format.md)."""

    model: str  # the model's name in the results file
    probe: str  # "plain" (the slice's questions as written) or the attack that asked them
    split: str  # forget | retain | general | unknown | overall (the composites)
    kind: str  # the questions' kind; "all": an attack's row pooled over kinds
    image_type: str  # portrait | fundus | scene | text (no image) | all (pooled)
    phrasing: str  # the phrasing set asked: train | validation | heldout
    view: str  # the image shown: train | validation | heldout | none | all (pooled)
    metric: str  # a metric of smfa.eval.metrics.METRICS
    value: float | None  # the metric's mean over the n answers
    n: int  # how many answers it averages
    higher_is_better: bool  # the metric's direction (METRICS)
    per_group: NotRequired[dict[str, float]]  # pooled attack rows: the value per repetition


Key = tuple[str, str, str, str, str]  # (split, kind, image_type, phrasing, view)


def _row(model: str, probe: str, key: Key, metric: str, values: list[float]) -> Row:
    split, kind, image_type, phrasing, view = key
    return Row(
        model=model,
        probe=probe,
        split=split,
        kind=kind,
        image_type=image_type,
        phrasing=phrasing,
        view=view,
        metric=metric,
        value=metrics.mean(values),
        n=len(values),
        higher_is_better=metrics.METRICS[metric].higher_is_better,
    )


def _grouped(scored: Iterable[Scored], keys: Any) -> dict[Key, dict[str, list[Scored]]]:
    groups: dict[Key, dict[str, list[Scored]]] = defaultdict(lambda: defaultdict(list))
    for s in scored:
        for key in keys(s):
            for metric in s.scores:
                groups[key][metric].append(s)
    return groups


def detail_rows(model: str, probe: str, scored: list[Scored]) -> list[Row]:
    """Per split x kind x image type x phrasing x view, pooled over image types, composites."""

    def keys(s: Scored) -> set[Key]:
        q = s.question
        view = q.view or View.NONE
        return {
            (s.split, q.kind, q.image_type or "text", q.phrasing, view),
            (s.split, q.kind, ALL, q.phrasing, view),
        }

    groups = _grouped(scored, keys)
    rows = [
        _row(model, probe, key, metric, [s.scores[metric] for s in members])
        for key, by_metric in sorted(groups.items())
        for metric, members in sorted(by_metric.items())
    ]
    return rows + composites(model, probe, scored)


def pooled_rows(model: str, probe: str, scored: list[Scored]) -> list[Row]:
    """Per split x kind and pooled over kinds ("all"), with `per_group` on the pooled rows."""

    def keys(s: Scored) -> set[Key]:
        q = s.question
        return {(s.split, q.kind, ALL, q.phrasing, ALL), (s.split, ALL, ALL, q.phrasing, ALL)}

    rows = []
    for key, by_metric in sorted(_grouped(scored, keys).items()):
        for metric, members in sorted(by_metric.items()):
            row = _row(model, probe, key, metric, [s.scores[metric] for s in members])
            groups: dict[str, list[float]] = defaultdict(list)
            for s in members:
                if s.group:
                    groups[s.group].append(s.scores[metric])
            if key[1] == ALL and groups:
                row["per_group"] = {g: round(metrics.mean(v), 4) for g, v in groups.items()}
            rows.append(row)
    return rows + membership_rows(model, probe, scored, keys)


def membership_rows(
    model: str, probe: str, scored: list[Scored], keys: Callable[[Scored], set[Key]]
) -> list[Row]:
    """Per group of answers (`keys`), the AUC of each membership score (`mia_auc_<score>`):
    true answer sentences against never-learned ones; n counts both."""
    groups: dict[Key, list[Scored]] = defaultdict(list)
    for s in scored:
        if s.membership:
            for key in keys(s):
                groups[key].append(s)
    rows = []
    for key, members in sorted(groups.items()):
        for name in sorted(members[0].membership or {}):
            pairs = [s.membership[name] for s in members if s.membership]
            value = membership.auc([p for p, _ in pairs], [n for _, n in pairs])
            row = _row(model, probe, key, f"mia_auc_{name}", [value])
            row["n"] = 2 * len(pairs)
            rows.append(row)
    return rows


def _pool(part: list[Scored], split: str, kinds: Collection[str], metric: str) -> list[float]:
    return [
        s.scores[metric]
        for s in part
        if s.split == split and s.question.kind in kinds and metric in s.scores
    ]


def composites(model: str, probe: str, scored: list[Scored]) -> list[Row]:
    """The paper's three overall scores, per phrasing, pooled over views and image types."""
    rows = []
    for phrasing in sorted({s.question.phrasing for s in scored}):
        part = [s for s in scored if s.question.phrasing == phrasing]

        key: Key = (Split.OVERALL, Kind.COMPOSITE, ALL, phrasing, View.ALL)
        understanding = [
            _pool(part, split, (Kind.IMAGE_UNDERSTANDING,), "accuracy")
            for split in (Split.FORGET, Split.RETAIN)
        ]
        retain_recall = _pool(part, Split.RETAIN, MEMORY_KINDS, "recall")
        forget_leak = _pool(part, Split.FORGET, MEMORY_KINDS, "leak_rate")
        meaningful = [s.scores["meaningfulness"] for s in part if "meaningfulness" in s.scores]
        values: dict[str, tuple[float, int]] = {}
        if all(understanding):
            values["overall_image_understanding"] = (
                metrics.overall_image_understanding(*map(metrics.mean, understanding)),
                sum(map(len, understanding)),
            )
        if retain_recall and forget_leak:
            values["overall_memory"] = (
                metrics.overall_memory(metrics.mean(retain_recall), metrics.mean(forget_leak)),
                len(retain_recall) + len(forget_leak),
            )
        if meaningful:
            values["overall_meaningful"] = (metrics.overall_meaningful(meaningful), len(meaningful))
        for metric, (value, n) in values.items():
            row = _row(model, probe, key, metric, [value])
            row["n"] = n
            rows.append(row)
    return rows


def records(model: str, scored: list[Scored]) -> list[dict[str, Any]]:
    """One generations-file record per question: what was asked, expected and answered."""
    return [
        {
            "model": model,
            "id": s.question.id,
            "split": s.split,
            "kind": s.question.kind,
            "subject": s.question.subject,
            "attribute": s.question.attribute,
            "phrasing": s.question.phrasing,
            "view": s.question.view,
            "image": s.question.image,
            "question": s.question.question,
            "answer": s.question.answer,
            "value": s.question.value,
            "prediction": s.prediction,
            "scores": {k: (None if math.isnan(v) else v) for k, v in s.scores.items()},
        }
        for s in scored
    ]
