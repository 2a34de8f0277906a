"""Gradient Difference: ascend on the forget set while descending on the retain sample.

This module owns the GD loss, -capped_forget_nll + retain_weight * retain_nll, computed on a
forget batch paired with a retain batch (`paired`, cycling the few-shot retain sample). The
forget term is GA's, capped per example at `max_forget_nll` for the same reason (see ga.py);
the retain term is the ordinary token-mean cross-entropy on the retain answers.

Paper: Liu, Liu and Stone, 2022, "Continual Learning and Private Unlearning" (CoLLAs 2022), and
the "Grad. Diff." baseline of TOFU (Maini et al., 2024: forget and retain losses weighted 1:1,
lr 1e-5, 5 epochs, batch 32, weight decay 0.01) and of MLLMU-Bench. Here the LoRA shape, lr,
epochs and batch come from `unlearn.*`; `retain_weight` defaults to TOFU's 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from peft import PeftModel

from smfa.methods.base import Job, Method, MethodOutput, PairCollator, paired
from smfa.methods.shared import capped_ascent, run_forget_adapter
from smfa.train import LossFn


def gd_loss(
    model: Any, batch: dict[str, Any], retain_weight: float, max_forget_nll: float
) -> torch.Tensor:
    """-mean(min(forget nll, cap)) + retain_weight * retain nll, on one paired batch."""
    forget = capped_ascent(model, batch["forget"], max_forget_nll)
    retain = model(**batch["retain"]).loss
    return forget + retain_weight * retain


class GradientDifference(Method):
    name = "gd"
    summary = "LoRA: ascent on forget true answers + descent on the few-shot retain sample"

    @dataclass
    class Params:
        retain_weight: float = 1.0  # weight of the retain NLL against the forget ascent
        max_forget_nll: float = 20.0  # stop pushing a forget example past this NLL (nats)

    def run(self, job: Job) -> MethodOutput:
        params: GradientDifference.Params = job.params or self.Params()
        c = job.config
        pairs = paired(job.data.forget, job.data.retain, c.epochs, c.seed)

        def make_loss(peft: PeftModel) -> LossFn:
            return lambda model, batch: gd_loss(
                model, batch, params.retain_weight, params.max_forget_nll
            )

        return run_forget_adapter(
            job, params, pairs, "gd: forget adapter", make_loss, PairCollator(job.data.collator)
        )
