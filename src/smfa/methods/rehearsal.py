"""Relearning rehearsal: a training term that keeps an erasure in place after simulated relearning.

Knowledge that was suppressed rather than removed comes back when the model is tuned on related
facts (the relearning attack, `smfa.attacks.relearn`: a little tuning on the true answers of half
of the forget people's attribute types brings back the other half). Tamper-resistant training
(Tamirisa et al., 2024, "Tamper-Resistant Safeguards for Open-Weight LLMs") and sharpness-aware
unlearning (Fan et al., 2025, "Towards LLM Unlearning Resilient to Relearning Attacks") train
the erasure where an attacker's first steps would take the weights. Here, first order (as
Nichol et al., 2018, do for meta-learning): the trainable weights take `steps` gradient steps of
length `radius` (normalized) on the true answers of one half of the attribute types, the erasure
loss of the other half's values is taken there, its gradient is applied to the weights as they
were before the steps, and the weights are put back. Not a method: VERA (vera.py) uses it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch


def split_attributes(attributes: Sequence[str], rng: np.random.Generator) -> tuple[set, set]:
    """(taught, measured): a random half of the attribute types, the smaller half taught."""
    order = [attributes[int(i)] for i in rng.permutation(len(attributes))]
    cut = len(order) // 2
    return set(order[:cut]), set(order[cut:])


def rehearsed(
    model: Any,
    relearn: dict[str, Any],
    erasure: Callable[[Any], torch.Tensor],
    radius: float,
    steps: int = 1,
    measure: bool = True,
) -> tuple[torch.Tensor, float]:
    """The erasure loss after `steps` simulated relearning steps on the `relearn` batch, as a
    tensor whose value is that loss and whose gradient (to the trainable weights as they are
    now) is the loss's gradient taken after the steps (first order); and how much the steps
    lowered the relearning loss (what the simulated attacker gained; NaN unless `measure`, which
    costs one more forward pass). The weights are unchanged;
    call it before any other forward pass of the step (it changes the weights in place)."""
    params = [p for p in model.parameters() if p.requires_grad]
    saved = [p.detach().clone() for p in params]
    first = last = math.nan
    try:
        for step in range(steps):
            loss = model(**relearn).loss
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            if step == 0:
                first = float(loss.detach())
            moved = [(p, g) for p, g in zip(params, grads, strict=True) if g is not None]
            # One device sync for the norm, not one per weight.
            squares = torch.stack([g.pow(2).sum() for _, g in moved]) if moved else None
            norm = math.sqrt(float(squares.double().sum())) if squares is not None else 0.0
            if norm > 0:
                with torch.no_grad():
                    for p, g in moved:
                        p.sub_(g, alpha=radius / norm)
            torch.clear_autocast_cache()  # autocast keeps the weights' casts until cleared
        if measure:
            with torch.no_grad():
                last = float(model(**relearn).loss)
        value = erasure(model)
        grads = torch.autograd.grad(value, params, allow_unused=True)
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved, strict=True):
                p.copy_(s)
        torch.clear_autocast_cache()
    # Zero in value, `grads` in gradient: the post-step gradient applied at the present weights.
    carried = sum(
        (((p - p.detach()) * g).sum() for p, g in zip(params, grads, strict=True) if g is not None),
        torch.zeros((), device=value.device),
    )
    return value.detach() + carried, first - last
