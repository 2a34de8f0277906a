"""Layered VERA: the forget facts erased in layers, each layer keeping the facts of the next.

After Layered Unlearning (Qian et al., 2025, arXiv 2505.09500): relearning some forgotten facts
brings back the others when one mechanism suppresses them all, so undoing it for a few undoes
it for every one. LU splits the forget set in folds and unlearns them in stages: stage i forgets
folds 1..i while *retaining* folds i+1..L, then the next stage starts from its result. Each
stage must build a mechanism that tells its folds from the later ones, so the folds are
suppressed by different mechanisms, and relearning one fold leaves (at least) the earlier ones
forgotten.

Here each stage is VERA (vera.py, called, not copied) on a budget rearranged for it:

- the folds are the forget set's attribute types, split at random (seeded by `seed`) in `folds`
  parts (`by=attribute`), or its people (`by=person`: the cross-person relearning split);
- stage i's forget set is folds 1..i (their questions with true answers and refusals), its
  retain sample the few-shot retain sample plus the later folds' questions with their true
  answers: VERA trains on them as retain examples and holds their values at the model's own
  level under the answer's prefill (its `hold`), exactly what it does for the retain sample;
- stage i's chosen variant (k from `k`) is merged, and stage i + 1 starts from there; the
  last stage forgets every fold and keeps only the retain sample.

Output: the sum of the stages' deltas (the last stage's variants; one unless `sweep`).
VERA's own knobs for every stage: `rank`, `epochs`, `rehearse`, `rehearse_every`, `k`, `sweep`.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smfa.errors import ConfigError
from smfa.methods.base import (
    Deltas,
    Job,
    Method,
    MethodOutput,
    UnlearnData,
    Variant,
    check_knobs,
    params_dict,
)
from smfa.methods.vera import Vera
from smfa.models.adapters import base_weights, save_deltas, set_weights


class Layered(Method):
    name = "layered"
    summary = "VERA in layers: each stage erases some folds of the forget set, keeps the next (LU)"

    @dataclass
    class Params:
        folds: int = 2  # layers (>= 2); the last stage erases everything
        by: str = "attribute"  # what a fold is made of: attribute types or people
        seed: int = 0  # of the split in folds (beside unlearn.seed)
        # VERA's knobs for every stage (vera.py); its other knobs keep their defaults
        rank: int = 128
        epochs: int = 2
        rehearse: float = 0.5
        rehearse_every: int = 1
        k: float = 1.0
        sweep: list[float] = field(default_factory=list)  # the last stage's extra k values

        def __post_init__(self) -> None:
            check_knobs("layered", self, [
                ("folds", self.folds >= 2, ">= 2"),
                ("by", self.by in ("attribute", "person"), "attribute or person"),
                ("rank", self.rank >= 0, ">= 0"),
                ("epochs", self.epochs >= 0, ">= 0"),
                ("rehearse", self.rehearse >= 0, ">= 0"),
                ("rehearse_every", self.rehearse_every >= 1, ">= 1"),
            ])  # fmt: skip

    def run(self, job: Job) -> MethodOutput:
        p: Layered.Params = job.params or self.Params()
        folds = split_folds(job.data, p)
        names: list[str] = []
        total: Deltas = {}
        model = job.model
        timings: dict[str, float] = {}
        stats: dict[str, Any] = {"folds": [sorted(f) for f in folds], "stages": []}
        for stage in range(1, len(folds) + 1):
            started = time.perf_counter()
            erased = set().union(*folds[:stage])
            kept = set().union(*folds[stage:]) if stage < len(folds) else set()
            last = stage == len(folds)
            vera = Vera.Params(
                rank=p.rank, epochs=p.epochs, rehearse=p.rehearse,
                rehearse_every=p.rehearse_every, k=p.k, sweep=p.sweep if last else [],
            )  # fmt: skip
            artifacts = job.artifacts / f"stage{stage}"
            artifacts.mkdir(parents=True, exist_ok=True)
            sub = dataclasses.replace(
                job,
                model=model,
                data=stage_data(job.data, p.by, erased, kept),
                params=vera,
                artifacts=artifacts,
            )
            output = Vera().run(sub)
            timings[f"stage{stage}"] = round(time.perf_counter() - started, 3)
            stats["stages"].append({"erased": len(sub.data.forget), **output.stats})
            if last:
                stats["steps"] = sum(s["steps"] for s in stats["stages"])
                stats["final_loss"] = output.stats["final_loss"]
                return MethodOutput(_variants(p, output, total), output.default, stats, timings)
            deltas = output.variants[output.default].deltas()
            save_deltas(artifacts / "delta.safetensors", deltas, {"variant": output.default})
            total = add(total, deltas)
            if not names:
                names = list(deltas)
                model = copy.deepcopy(job.model)
            set_weights(model, base_weights(job.model, names), total)
        raise AssertionError("unreachable: folds >= 2")


def add(a: Deltas, b: Deltas) -> Deltas:
    """The sum of two delta sets, a weight in either taken as it is."""
    return {n: a[n] + b[n] if n in a and n in b else a.get(n, b.get(n)) for n in {**a, **b}}


def fold_of(question: Any, by: str) -> str:
    """What a forget question is folded by: its attribute type or its person."""
    return str(question.attribute_type if by == "attribute" else question.subject)


def split_folds(data: UnlearnData, p: Layered.Params) -> list[set[str]]:
    """The forget set's attribute types (or people), shuffled by `seed`, in `folds` parts of
    near-equal size; fewer than `folds` of them is an error naming the knob."""
    if len(data.forget_questions) != len(data.forget):
        raise ConfigError("method layered needs the questions beside their samples")
    keys = sorted({fold_of(q, p.by) for q in data.forget_questions})
    if len(keys) < p.folds:
        raise ConfigError(
            f"methods.layered.folds is {p.folds}, but the forget set has only {len(keys)} "
            f"{'attribute types' if p.by == 'attribute' else 'people'} to fold"
        )
    order = [keys[int(i)] for i in np.random.default_rng([p.seed, 53]).permutation(len(keys))]
    return [set(order[i :: p.folds]) for i in range(p.folds)]


def stage_data(data: UnlearnData, by: str, erased: set[str], kept: set[str]) -> UnlearnData:
    """The budget of one stage: the erased folds' forget questions, and the retain sample with
    the kept folds' forget questions (true answers) beside it."""
    refusals = {s.key: s for s in data.forget_refusals}
    pairs = list(zip(data.forget_questions, data.forget, strict=True))
    gone = [(q, s) for q, s in pairs if fold_of(q, by) in erased]
    held = [(q, s) for q, s in pairs if fold_of(q, by) in kept]
    return UnlearnData(
        forget=[s for _, s in gone],
        forget_refusals=[refusals[s.key] for _, s in gone],
        retain=[*data.retain, *(s for _, s in held)],
        collator=data.collator,
        forget_questions=[q for q, _ in gone],
        retain_questions=[*data.retain_questions, *(q for q, _ in held)],
    )


def _variants(p: Layered.Params, last: MethodOutput, earlier: Deltas) -> dict[str, Variant]:
    """The last stage's variants, each with the earlier stages' deltas added."""

    def summed(variant: Variant) -> Deltas:
        return add(earlier, variant.deltas())

    return {
        label: Variant({**params_dict(p), "k": v.params["k"]}, lambda v=v: summed(v))
        for label, v in last.variants.items()
    }
