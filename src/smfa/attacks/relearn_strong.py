"""Strong relearning: the worst forget leak over a grid of relearning budgets and splits.

One relearning setting understates how much comes back: the leak grows with the budget, and
single-setting attacks overstate durability (Qi et al., "On Evaluating the Durability of
Safeguards for Open-Weight LLMs", 2024; UNDO, Lee et al. 2025, arXiv 2506.06278, sweeps learning
rates and steps). This attack relearns over a grid and reports its worst cell:
`eval.relearn_strong_lrs` (1e-4, 1e-3, 1e-2) x `..._steps` (48, 192; batch 8) x `..._modes`
("lora": a fresh LoRA adapter on the language model's projections; "full": every linear and
embedding weight of the language model, the vision tower and projector frozen) x `..._splits`:

- "a_to_b" (label "A->B"): half the forget people's attribute types relearned, the other half
  measured, as `relearn` does (Deeb & Roger, "Do Unlearning Methods Remove Information from
  Language Model Weights?", 2024);
- "cross_person" ("cross-person"): every fact of one forget person relearned, the other forget
  people measured (needs two forget people; the seed picks the person).

Each setting runs `eval.relearn_strong_seeds` (3) times (the split, the adapter's start and the
data order follow the seed) and its cell is the leak over every seed's answers together (the
mean, weighted by questions): the pooled rows' `per_group` holds every cell's value, labelled
"lora lr=1e-3 steps=192 A->B", on the forget leak row and on the retain recall row. The rows
themselves are the worst cell's (the highest forget leak; of equal ones the first in the grid's
order): its forget leak, per kind and pooled, and the retain recall measured after the same
relearning. The oracle under the same grid is the floor. The given model is never changed:
every run tunes a fresh copy (`smfa.attacks.relearn.relearned`).

Cost: one tuning run per seed and cell, 72 at the defaults (8,640 steps of 8), plus the
questions asked after each; far beyond the demo's budget on a CPU, so `eval.attacks` leaves it
out unless named (or `eval.attacks=all`); benchmarks/LOG.md has its measured cost.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import numpy as np

from smfa.attacks.relearn import halves, relearned, relearned_answers, taught_questions
from smfa.config import EvalConfig
from smfa.data.records import Question, World
from smfa.eval import metrics
from smfa.eval.probe import Answer, Probe, Session
from smfa.eval.rows import ALL, Row, pooled_rows
from smfa.eval.scoring import Scored
from smfa.vocab import Split

SPLIT_LABELS = {"a_to_b": "A->B", "cross_person": "cross-person"}


def lr_label(lr: float) -> str:
    """A learning rate as people write it: 1e-3, 2.5e-4."""
    mantissa, exponent = f"{lr:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def cell_label(mode: str, lr: float, steps: int, split: str) -> str:
    """One grid cell's name in `per_group`: "lora lr=1e-3 steps=192 A->B"."""
    return f"{mode} lr={lr_label(lr)} steps={steps} {SPLIT_LABELS[split]}"


def split_questions(
    split: str, forget: list[Question], world: World, seed: int
) -> tuple[list[Question], list[Question]]:
    """(what relearning trains on, the forget questions then measured) for one split and seed;
    both empty when the split is impossible (one attribute type, one forget person)."""
    people = sorted({q.subject or "" for q in forget})
    if split == "a_to_b":
        attributes = sorted({q.attribute for q in forget})
        if len(attributes) < 2:
            return [], []
        taught, measured = halves(attributes, seed)
        probes = [q for q in forget if q.attribute in measured]
        return taught_questions(world, people, taught), probes
    if len(people) < 2:
        return [], []
    person = people[int(np.random.default_rng(37).permutation(len(people))[seed % len(people)])]
    every = {q.attribute for q in world.questions if q.subject == person}
    return taught_questions(world, [person], every), [q for q in forget if q.subject != person]


class RelearnStrong(Probe):
    name = "relearn_strong"
    family = "relearn"
    summary = "worst leak over learning rates x steps x LoRA/full x A->B/cross-person, 3 seeds"

    def settings(self, config: EvalConfig) -> dict[str, Any]:
        return {
            **super().settings(config),
            "lrs": config.relearn_strong_lrs,
            "steps": config.relearn_strong_steps,
            "modes": config.relearn_strong_modes,
            "seeds": config.relearn_strong_seeds,
            "splits": config.relearn_strong_splits,
        }

    def ask(self, session: Session) -> list[Answer]:
        config = session.settings
        forget, retain = session.targets()
        grid = itertools.product(
            config.relearn_strong_splits,
            config.relearn_strong_modes,
            config.relearn_strong_lrs,
            config.relearn_strong_steps,
            range(config.relearn_strong_seeds),
        )
        out: list[Answer] = []
        for split, mode, lr, steps, seed in grid:
            taught, measured = split_questions(split, forget, session.world, seed)
            if not taught or not measured:
                continue
            model = relearned(session, taught, seed, steps, lr, mode)
            group = cell_label(mode, lr, steps, split)
            out += relearned_answers(model, session, measured, retain, group, f"{group} {seed}")
            del model
        return out

    def rows(self, scored: list[Scored]) -> list[Row]:
        """The worst cell's rows, with every cell's value in the pooled rows' `per_group`."""
        leaks: dict[str, list[float]] = defaultdict(list)
        for s in scored:
            if s.split == Split.FORGET and "leak_rate" in s.scores:
                leaks[s.group].append(s.scores["leak_rate"])
        if not leaks:
            return pooled_rows("model", self.name, scored)
        worst = max(leaks, key=lambda group: metrics.mean(leaks[group]))  # first of equals

        def key(row: Row) -> tuple[str, ...]:
            return (row["split"], row["kind"], row["phrasing"], row["metric"])

        every = {key(r): r["per_group"] for r in pooled_rows("model", self.name, scored)
                 if "per_group" in r}  # fmt: skip
        rows = pooled_rows("model", self.name, [s for s in scored if s.group == worst])
        for row in rows:
            if row["kind"] == ALL and key(row) in every:
                row["per_group"] = every[key(row)]
        return rows
