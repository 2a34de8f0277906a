"""Negative Preference Optimization (NPO+RT): push the forget answers' likelihood below the
original model's, with a loss that saturates instead of diverging, plus a retain NLL.

This module owns the NPO loss. With logp the summed log-probability of an example's answer
(`answer_logprobs`) under the current model (theta) and under the reference (the same PEFT
model with adapters switched off, eval mode, no grad; no second copy):

    L_forget = -(2 / beta) * mean(logsigmoid(-beta * (logp_theta - logp_ref)))

At the start (adapter B = 0, so theta == ref) it equals (2 / beta) * log 2, and its gradient is
GA's gradient times 2 * sigmoid(beta * (logp_theta - logp_ref)), a weight that fades as an
answer becomes less likely than under the reference: that adaptive weight is why NPO collapses
exponentially slower than GA and needs no cap. As beta -> 0 it becomes plain GA. The retain
term (`retain_weight` * token-mean NLL on a paired retain batch) is the paper's NPO-RT variant.

Paper: Zhang, Lin, Bai and Mei, 2024, "Negative Preference Optimization: From Catastrophic
Collapse to Effective Unlearning" (COLM 2024; titled "... Towards Efficient and Balanced
Unlearning" in some citations); on TOFU beta = 0.1, lr 1e-5, 10 epochs, retain weight 1.
Here the LoRA shape, lr, epochs and batch come from `unlearn.*`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from peft import PeftModel
from torch.nn.functional import logsigmoid

from smfa.errors import ConfigError
from smfa.methods.base import (
    Job,
    Method,
    MethodOutput,
    PairCollator,
    answer_logprobs,
    paired,
)
from smfa.methods.shared import reference, run_forget_adapter
from smfa.train import LossFn

Batch = dict[str, torch.Tensor]


def npo_forget(model: Any, peft: PeftModel, batch: Batch, beta: float) -> torch.Tensor:
    """-(2/beta) * mean(logsigmoid(-beta * (logp_theta - logp_ref))) over the batch."""
    current = answer_logprobs(model, batch)
    with reference(peft):
        ref = answer_logprobs(model, batch)
    return -(2.0 / beta) * logsigmoid(-beta * (current - ref)).mean()


def npo_start(beta: float) -> float:
    """The forget term's value when the model still equals the reference: (2/beta) log 2."""
    return 2.0 / beta * math.log(2.0)


def npo_loss(
    model: Any, peft: PeftModel, batch: dict[str, Batch], beta: float, retain_weight: float
) -> torch.Tensor:
    """NPO on the forget batch + retain_weight * NLL on the retain batch."""
    forget = npo_forget(model, peft, batch["forget"], beta)
    if retain_weight == 0:
        return forget
    return forget + retain_weight * model(**batch["retain"]).loss


class NegativePreferenceOptimization(Method):
    name = "npo"
    summary = "LoRA: NPO on forget true answers vs the adapter-free model + retain NLL (NPO-RT)"

    @dataclass
    class Params:
        beta: float = 0.1  # inverse temperature; beta -> 0 recovers gradient ascent
        retain_weight: float = 1.0  # 0 gives plain NPO (the retain batch is still collated)

    def run(self, job: Job) -> MethodOutput:
        params: NegativePreferenceOptimization.Params = job.params or self.Params()
        if params.beta <= 0:
            raise ConfigError(f"methods.npo.beta must be positive, got {params.beta}")
        c = job.config
        pairs = paired(job.data.forget, job.data.retain, c.epochs, c.seed)

        def make_loss(peft: PeftModel) -> LossFn:
            return lambda model, batch: npo_loss(
                model, peft, batch, params.beta, params.retain_weight
            )

        return run_forget_adapter(
            job, params, pairs, "npo: forget adapter", make_loss, PairCollator(job.data.collator)
        )
