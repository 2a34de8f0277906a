"""VERA's training loss, term by term, and the batches it reads.

One object holds what the terms need (targets, live alternatives, the rehearsal's draws) and
names each term (as open-unlearning's RMU names its forget and retain terms):

- `refusal`: cross-entropy on the forget questions answered with pool refusals;
- `keep`: cross-entropy on the keep stream (retain sample, visual and memory anchors);
- `level`: each value's mean log-probability under its answer prefill pulled, by smooth L1, to
  its target: the never-learned alternatives' level now (live) less the margin, or a fixed one;
  retain values held at the vanilla model's level;
- `rehearsal`: the level loss of one half of the attribute types taken after a simulated
  relearning step on the other half (rehearsal.py).

`collate` builds a step's batch (the rehearsal's draw included, so every process of a data-
parallel run rehearses the same draw); calling the object gives the step's total loss.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn.functional import smooth_l1_loss

from smfa.config import UnlearnConfig
from smfa.data.batches import Collator, Sample
from smfa.methods.levels import candidate_levels, collate_candidates
from smfa.methods.rehearsal import rehearsed, split_attributes

if TYPE_CHECKING:
    from smfa.methods.vera import Prepared, Vera

# (forget question answered by a refusal, its value-erasure sample or None, a keep sample,
# a retain value to hold or None)
Item = tuple[Sample, "Sample | None", Sample, "Sample | None"]


class VeraLoss:
    """refusal + keep + erase_weight * level, after rehearse * rehearsal when it is drawn."""

    def __init__(
        self,
        params: Vera.Params,
        data: Prepared,
        collator: Collator,
        config: UnlearnConfig,
        shared: bool = False,
    ) -> None:
        self.p = params
        self.data = data
        self.collator = collator
        self.shared = shared  # values and their alternatives on one prompt pass (levels.py)
        self.batch_size = config.batch_size
        self.live = {key: v[: params.live] for key, v in data.alts.items() if params.live}
        self.draw = np.random.default_rng([config.seed, 43])
        self.gains: list[float] = []  # what each measured rehearsal's step lowered relearning by
        self._ticks = itertools.count()  # rehearsals
        self._batches = itertools.count()  # training steps

    # ---- batches ------------------------------------------------------------------------
    def levelled(self, samples: Sequence[Sample]) -> dict[str, Any] | None:
        """Values to level, their targets, and the live alternatives scored beside them, with
        no gradient (on the values' own prompt pass when shared: levels.py)."""
        if not samples:
            return None
        scored = [a for e in samples for a in self.live.get(e.key, [])]
        return {
            "values": collate_candidates(
                self.collator, [*samples, *scored], self.shared, graded=len(samples)
            ),
            "count": len(samples),
            "target": torch.tensor([self.data.targets[x.key] for x in samples]),
            "owners": torch.tensor(
                [i for i, e in enumerate(samples) for _ in self.live.get(e.key, [])],
                dtype=torch.long,
            ),
        }

    def rehearsal_batch(self, size: int) -> dict[str, Any] | None:
        """A relearning batch of one half of the attribute types, the other half's values."""
        data, draw = self.data, self.draw
        if len(data.attributes) < 2:
            return None
        taught, measured = split_attributes(data.attributes, draw)
        shown = [s for a, s in data.teach if a in taught]
        probed = [e for a, e in data.probes if a in measured]
        if not shown or not probed:
            return None
        shown = [shown[int(i)] for i in draw.permutation(len(shown))[:size]]
        probed = [probed[int(i)] for i in draw.permutation(len(probed))[:size]]
        if self.p.rehearse_hold and data.hold:  # retain values held after the step too
            probed += [data.hold[int(i)] for i in draw.permutation(len(data.hold))[:size]]
        return {"relearn": self.collator(shown), "probe": self.levelled(probed)}

    def collate(self, batch: Sequence[Item]) -> dict[str, Any]:
        values = [e for _, e, _, _ in batch if e is not None]
        rehearse = self.p.rehearse > 0 and next(self._batches) % self.p.rehearse_every == 0
        return {
            "refuse": self.collator([r for r, _, _, _ in batch]),
            "keep": self.collator([k for _, _, k, _ in batch]),
            "level": self.levelled(values + [h for _, _, _, h in batch if h is not None]),
            # The global batch's size, not this process's share: under data parallelism
            # every process rehearses the same draw, and the average is one process's.
            "rehearse": self.rehearsal_batch(self.batch_size) if rehearse else None,
        }

    # ---- terms ----------------------------------------------------------------------------
    def refusal(self, model: Any, batch: dict[str, Any]) -> torch.Tensor:
        return model(**batch["refuse"]).loss

    def keep(self, model: Any, batch: dict[str, Any]) -> torch.Tensor:
        return model(**batch["keep"]).loss

    def level(self, model: Any, part: dict[str, Any]) -> torch.Tensor:
        scored = candidate_levels(model, part["values"])
        level, now = scored[: part["count"]], scored[part["count"] :].detach()
        target = part["target"].to(level.device)
        if len(now):  # the alternatives' levels now, gradient stopped
            target = live_levels(target, now, part["owners"], self.p.margin)
        gap = level - target
        return smooth_l1_loss(gap, torch.zeros_like(gap))

    def rehearsal(self, model: Any, part: dict[str, Any]) -> torch.Tensor:
        after, gain = rehearsed(
            model,
            part["relearn"],
            lambda m: self.level(m, part["probe"]),
            self.p.rehearse_radius,
            self.p.rehearse_steps,
            measure=next(self._ticks) % 8 == 0,  # one step in 8 measures the attacker's gain
        )
        if math.isfinite(gain):
            self.gains.append(gain)
        return after

    def __call__(self, model: Any, batch: dict[str, Any]) -> torch.Tensor:
        loss = torch.zeros(())
        if batch["rehearse"] is not None:  # first: it moves the weights and puts them back
            loss = self.p.rehearse * self.rehearsal(model, batch["rehearse"])
        loss = loss + self.refusal(model, batch) + self.keep(model, batch)
        if batch["level"] is not None and self.p.erase_weight > 0:
            loss = loss + self.p.erase_weight * self.level(model, batch["level"])
        return loss


def live_levels(
    target: torch.Tensor, alternatives: torch.Tensor, owners: torch.Tensor, margin: float
) -> torch.Tensor:
    """`target` with every row that owns alternatives (`owners[i]`: the row of
    `alternatives[i]`) set to their mean level less `margin`; other rows unchanged."""
    owners = owners.to(target.device)
    sums = torch.zeros_like(target).index_add(0, owners, alternatives.to(target))
    counts = torch.zeros_like(target).index_add(0, owners, torch.ones_like(alternatives).to(target))
    return torch.where(counts > 0, sums / counts.clamp(min=1) - margin, target)
