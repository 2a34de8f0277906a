"""Gradient Ascent: train a LoRA adapter to *raise* the loss on the forget set's true answers.

The capped ascent term and the LoRA run it shares with gd, kl and npo live in
`smfa.methods.shared`.

Paper: Jang et al., 2023, "Knowledge Unlearning for Mitigating Privacy Risks in Language
Models" (ACL 2023): gradient ascent on the target sequences' NLL, GPT-Neo, Adam lr 5e-5, batch
32 (8 x 4 accumulation), stopping once extraction likelihood and memorization accuracy fall
below those of unseen data. It is the GA baseline of TOFU (Maini et al., 2024: lr 1e-5, 5
epochs, weight decay 0.01) and MLLMU-Bench (Liu et al., 2024). Here the LoRA shape, lr, epochs
and batch come from `unlearn.*`, shared by every method.

Why the cap: NLL is unbounded above, so plain ascent never converges; once an answer is already
improbable, further pushing only spends the adapter on driving its probability toward zero,
which is what collapses the model (gibberish everywhere, TOFU's and NPO's observation).
Jang et al. stop early for the same reason. Here each example's per-token NLL is clamped at
`max_forget_nll` (20 nats ~ probability e^-20 per token, far beyond "forgotten"): the loss is
-mean(min(nll, cap)), so an example past the cap contributes no gradient and the rest keep
going. Set it very high to recover unbounded GA.
"""

from __future__ import annotations

from dataclasses import dataclass

from peft import PeftModel

from smfa.methods.base import (
    Job,
    Method,
    MethodOutput,
    epochs_of,
)
from smfa.methods.shared import capped_ascent, run_forget_adapter
from smfa.train import LossFn


class GradientAscent(Method):
    name = "ga"
    summary = "LoRA gradient ascent on the forget set's true answers (per-example NLL capped)"

    @dataclass
    class Params:
        max_forget_nll: float = 20.0  # stop pushing an example past this per-token NLL (nats)

    def run(self, job: Job) -> MethodOutput:
        params: GradientAscent.Params = job.params or self.Params()
        c = job.config
        order = epochs_of(job.data.forget, c.epochs, c.seed)

        def make_loss(peft: PeftModel) -> LossFn:
            return lambda model, batch: capped_ascent(model, batch, params.max_forget_nll)

        return run_forget_adapter(job, params, order, "ga: forget adapter", make_loss)
