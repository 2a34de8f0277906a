"""Saliency-masked unlearning (MMUnlearner-style): gradient difference on a Fisher-chosen mask.

This module owns the `fisher` method and its mask: the empirical Fisher diagonal (squared
per-batch gradients of the answer NLL) of every weight matrix the LoRA target pattern selects
(`unlearn.lora_targets`, the language model by default), on the forget set and on the few-shot
retain sample; the saliency mask (entries whose forget/retain Fisher ratio is in the top
`share`); full-weight training of the masked entries only; and the dense deltas `W - W0`.
The model's weights are restored to W0 before `run` returns; the deltas are merged later.

Paper: Huo et al., 2025, "MMUnlearner: Reformulating Multimodal Machine Unlearning in the Era
of Multimodal Large Language Models" (ACL Findings; code github.com/Z1zs/MMUnlearner). It
scores each weight by the ratio of its Fisher information on the forget data to that on the
retained data and updates only weights whose ratio passes a saliency threshold, with gradient
ascent on the forget set plus gradient descent on retain data (released settings: AdamW,
lr 1e-5, 1 epoch, batch 4, forget weight 1, gradient clipping 1.0; its released loop masks the
forget step only). Choices here: the threshold is a share (`share=0.05`, top 5% per matrix)
instead of a fixed ratio value, because raw Fisher ratios change scale with the model, the
data and their sizes while a share fixes the sparsity, so runs stay comparable; both loss
terms go through the mask (it is the method's claim that only masked weights move); the forget
NLL is capped at `max_forget_nll` so ascent stops once answers are already unlikely; lr,
epochs and batch come from `unlearn.*`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from smfa.data.batches import Sample
from smfa.errors import ConfigError
from smfa.io import atomic_write_json
from smfa.methods.base import Deltas, Job, Method, MethodOutput, PairCollator, Variant, paired
from smfa.models.adapters import save_deltas, target_modules

SCOPES = ("matrix", "global")


def saliency_mask(ratios: dict[str, torch.Tensor], share: float, scope: str) -> Deltas:
    """Boolean masks of the entries with the top `share` of `ratios`, per matrix or over all.

    Exactly `round(share * n)` entries are chosen (n: the matrix's or all matrices' size);
    ties are broken arbitrarily but never change the count.
    """
    if scope not in SCOPES:
        raise ConfigError(f"methods.fisher.scope must be one of {', '.join(SCOPES)}, got {scope}")
    if not 0.0 < share <= 1.0:
        raise ConfigError(f"methods.fisher.share must be in (0, 1], got {share}")
    groups = [[name] for name in ratios] if scope == "matrix" else [list(ratios)]
    masks: Deltas = {}
    for names in groups:
        flat = torch.cat([ratios[n].detach().float().flatten() for n in names])
        chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
        chosen[torch.topk(flat, round(share * flat.numel())).indices] = True
        start = 0
        for n in names:
            size = ratios[n].numel()
            masks[n] = chosen[start : start + size].view(ratios[n].shape)
            start += size
    return masks


def fisher_diagonal(
    job: Job, samples: Sequence[Sample], weights: dict[str, torch.nn.Parameter], batch: int
) -> Deltas:
    """Mean over batches of the squared NLL gradient of each weight (the empirical Fisher)."""
    fisher = {n: torch.zeros_like(w, dtype=torch.float32) for n, w in weights.items()}
    device = next(iter(weights.values())).device
    chunks = [samples[i : i + batch] for i in range(0, len(samples), batch)]
    for chunk in chunks:
        inputs = {k: v.to(device) for k, v in job.data.collator(list(chunk)).items()}
        for w in weights.values():
            w.grad = None
        job.model(**inputs).loss.backward()
        for n, w in weights.items():
            if w.grad is not None:
                fisher[n] += w.grad.detach().float().pow(2) / len(chunks)
    for w in weights.values():
        w.grad = None
    return fisher


class FisherMasked(Method):
    name = "fisher"
    summary = "gradient difference on full weights, masked to the top forget/retain Fisher ratio"

    @dataclass
    class Params:
        share: float = 0.05  # fraction of entries updated (the saliency threshold, as a share)
        scope: str = "matrix"  # "matrix": top share of each matrix; "global": of all together
        max_forget_nll: float = 20.0  # the ascended forget NLL stops contributing above this
        retain_weight: float = 1.0  # weight of the retain NLL in the gradient difference
        rel_eps: float = 1e-3  # ratio denominator floor, relative to the matrix's mean Fisher
        fisher_batch: int = 1  # samples per gradient in the Fisher sums (1: per example)

        def __post_init__(self) -> None:
            if self.fisher_batch < 1:
                raise ConfigError(
                    f"methods.fisher.fisher_batch must be >= 1, got {self.fisher_batch}"
                )

    def run(self, job: Job) -> MethodOutput:
        p: FisherMasked.Params = job.params or FisherMasked.Params()
        started = time.perf_counter()
        c = job.config
        named = dict(job.model.named_parameters())
        weights = {f"{m}.weight": named[f"{m}.weight"] for m in target_modules(job.model, job.lora)}
        with _trained_in_place(job.model, weights) as w0:
            job.model.eval()  # no dropout while measuring importance
            f_forget = fisher_diagonal(job, job.data.forget, weights, p.fisher_batch)
            f_retain = fisher_diagonal(job, job.data.retain, weights, p.fisher_batch)
            ratios = {
                n: f_forget[n] / (f_retain[n] + p.rel_eps * f_retain[n].mean() + 1e-30)
                for n in weights
            }
            masks = saliency_mask(ratios, p.share, p.scope)
            importance_s = time.perf_counter() - started
            hooks = [
                w.register_hook(lambda g, m=masks[n].to(w.dtype): g * m.to(g.device, g.dtype))
                for n, w in weights.items()
            ]
            cap = p.max_forget_nll

            def loss_fn(model: Any, batch: dict[str, Any]) -> torch.Tensor:
                forget = torch.clamp(model(**batch["forget"]).loss, max=cap)
                return -forget + p.retain_weight * model(**batch["retain"]).loss

            try:
                pairs = paired(job.data.forget, job.data.retain, c.epochs, c.seed)
                collate = PairCollator(job.data.collator)
                result = job.train(job.model, pairs, "fisher: masked unlearning", loss_fn, collate)
            finally:
                for hook in hooks:
                    hook.remove()
            with torch.no_grad():
                deltas = {
                    n: (w.detach().float() - w0[n].to(w.device).float()).cpu()
                    for n, w in weights.items()
                }
        chosen, total = _save_masks(job, p, masks)
        return MethodOutput(
            variants={"": Variant({"share": p.share, "scope": p.scope}, lambda: deltas)},
            stats={
                "steps": result.steps,
                "final_loss": result.final_loss,
                "masked_entries": chosen,
                "masked_share": chosen / total,
            },
            timings={
                "importance": round(importance_s, 3),
                "unlearn": round(time.perf_counter() - started - importance_s, 3),
            },
        )


@contextlib.contextmanager
def _trained_in_place(model: Any, weights: dict[str, torch.nn.Parameter]) -> Iterator[Deltas]:
    """Only `weights` trainable, for the block; then every weight, flag and mode as it was.
    Yields the weights' values before (W0)."""
    named = dict(model.named_parameters())
    flags = {n: w.requires_grad for n, w in named.items()}
    was_training = model.training
    w0 = {n: w.detach().clone() for n, w in weights.items()}
    try:
        for n, w in named.items():
            w.requires_grad_(n in weights)
        yield w0
    finally:
        with torch.no_grad():
            for n, w in weights.items():
                w.copy_(w0[n])
                w.grad = None
        for n, w in named.items():
            w.requires_grad_(flags[n])
        model.train(was_training)


def _save_masks(job: Job, p: FisherMasked.Params, masks: Deltas) -> tuple[int, int]:
    """mask.json (shares) and mask.safetensors beside the run; (entries chosen, entries)."""
    shares = {n: float(m.float().mean()) for n, m in masks.items()}
    chosen = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    atomic_write_json(
        job.artifacts / "mask.json",
        {
            "share": p.share,
            "scope": p.scope,
            "total_share": chosen / total,
            "entries": chosen,
            "matrices": shares,
        },
    )
    save_deltas(
        job.artifacts / "mask.safetensors",
        {n: m.to(torch.uint8).cpu() for n, m in masks.items()},
        {"share": str(p.share), "scope": p.scope},
    )
    return chosen, total
