"""Who is forgotten: nested forget sets per ratio, their retain sets, and the few-shot budget.

The forget sets are prefixes of one seeded permutation of the people, so the 5% set lies inside
the 10% set, which lies inside the 15% set. The few-shot retain questions come only from people
retained at every ratio, so one budget serves every experiment.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from smfa.errors import SmfaError
from smfa.vocab import PERSON_KINDS, Kind, View

VALIDATION = {"phrasing": "validation", "scene_view": "validation"}


def forget_count(people: int, ratio: int) -> int:
    """How many people a ratio (in percent) forgets, rounded half up."""
    return math.floor(people * ratio / 100 + 0.5)


def _few_shot_candidate(row: dict[str, Any], kind: str, kept: set[str]) -> bool:
    view_ok = row["view"] == View.TRAIN or (row["kind"] == Kind.TEXT_MEMORY and row["view"] is None)
    return row["kind"] == kind and row["subject"] in kept and row["phrasing"] == "train" and view_ok


def build_splits(
    person_ids: list[str],
    questions: list[dict[str, Any]],
    ratios: tuple[int, ...],
    few_shot: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """The contents of splits.json for these people and questions."""
    if not ratios:
        raise SmfaError("forget_ratios is empty; give at least one ratio such as 5")
    order = [person_ids[int(i)] for i in rng.permutation(len(person_ids))]
    forget: dict[str, list[str]] = {}
    retain: dict[str, list[str]] = {}
    for ratio in sorted(set(ratios)):
        count = forget_count(len(order), ratio)
        if count < 1:
            raise SmfaError(
                f"forget ratio {ratio}% of {len(order)} people forgets nobody; "
                "raise the ratio or the number of people"
            )
        if count >= len(order):
            raise SmfaError(
                f"forget ratio {ratio}% of {len(order)} people retains nobody; lower the ratio"
            )
        forget[str(ratio)] = sorted(order[:count])
        retain[str(ratio)] = sorted(order[count:])
    kept = set(retain[str(max(ratios))])
    per_kind = [
        few_shot // len(PERSON_KINDS) + (i < few_shot % len(PERSON_KINDS))
        for i in range(len(PERSON_KINDS))
    ]
    chosen: list[str] = []
    for kind, want in zip(PERSON_KINDS, per_kind, strict=True):
        pool = [row["id"] for row in questions if _few_shot_candidate(row, kind, kept)]
        if want > len(pool):
            raise SmfaError(
                f"few_shot_retain asks for {want} {kind} questions but the retained "
                f"people have only {len(pool)}; lower few_shot_retain"
            )
        chosen += [pool[int(i)] for i in rng.choice(len(pool), size=want, replace=False)]
    return {
        "forget": forget,
        "retain": retain,
        "few_shot_retain": sorted(chosen),
        "validation": dict(VALIDATION),
    }
