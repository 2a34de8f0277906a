"""KL minimisation: ascend on the forget set while keeping the retain answers' next-token
distributions close to the model before unlearning.

This module owns the KL loss: -capped_forget_nll + kl_weight * KL(reference || current),
the KL summed over the vocabulary and averaged over the retain batch's answer tokens. The
reference is the same PEFT model with its adapters switched off (eval mode, no grad), so no
second copy of the model is held. The forget term is GA's, capped per example (see ga.py).

Paper: the "KL Min." baseline of TOFU (Maini et al., 2024, "TOFU: A Task of Fictitious
Unlearning for LLMs"): gradient ascent on the forget set plus KL(original || current) on the
retain set, weighted 1:1, lr 1e-5, 5 epochs, batch 32, weight decay 0.01; also a baseline of
MLLMU-Bench. TOFU takes the KL over every position of the retain sequence; here only the
answer positions count, like every other loss in smfa (the prompt is never trained). The LoRA
shape, lr, epochs and batch come from `unlearn.*`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from peft import PeftModel

from smfa.methods.base import Job, Method, MethodOutput, PairCollator, paired
from smfa.methods.shared import answer_mask, capped_ascent, reference_logprobs, run_forget_adapter
from smfa.models.logprobs import log_distribution
from smfa.train import LossFn

Batch = dict[str, torch.Tensor]


def retain_kl(model: Any, peft: PeftModel, batch: Batch) -> torch.Tensor:
    """KL(reference || current) per answer token, averaged over the batch's answer tokens."""
    ref = reference_logprobs(model, peft, batch)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    cur = log_distribution(model(**inputs).logits[:, :-1])
    per_position = (ref.exp() * (ref - cur)).sum(dim=-1)
    mask = answer_mask(batch)
    return (per_position * mask).sum() / mask.sum().clamp(min=1)


def kl_loss(
    model: Any, peft: PeftModel, batch: dict[str, Batch], kl_weight: float, max_forget_nll: float
) -> torch.Tensor:
    """-mean(min(forget nll, cap)) + kl_weight * KL(reference || current) on retain answers."""
    forget = capped_ascent(model, batch["forget"], max_forget_nll)
    return forget + kl_weight * retain_kl(model, peft, batch["retain"])


class KLMinimisation(Method):
    name = "kl"
    summary = "LoRA: ascent on forget true answers + KL to the original model on retain answers"

    @dataclass
    class Params:
        kl_weight: float = 1.0  # weight of the retain KL against the forget ascent
        max_forget_nll: float = 20.0  # stop pushing a forget example past this NLL (nats)

    def run(self, job: Job) -> MethodOutput:
        params: KLMinimisation.Params = job.params or self.Params()
        c = job.config
        pairs = paired(job.data.forget, job.data.retain, c.epochs, c.seed)

        def make_loss(peft: PeftModel) -> LossFn:
            return lambda model, batch: kl_loss(
                model, peft, batch, params.kl_weight, params.max_forget_nll
            )

        return run_forget_adapter(
            job, params, pairs, "kl: forget adapter", make_loss, PairCollator(job.data.collator)
        )
