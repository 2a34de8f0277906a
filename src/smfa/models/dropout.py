"""Dropout drawn by the gaps between dropped elements: the same masks, p times the draws.

`torch.nn.Dropout` draws one Bernoulli variable per element. On a CPU that draw is the cost:
a LoRA layer's input dropout (p = 0.05) takes about as long as the layer's rank-128 `lora_A`
product forward and backward (benchmarks/results/dropout.json), and it was an eighth of
VERA's training (py-spy, benchmarks/LOG.md).
In a row of independent Bernoulli(p) trials the gaps between successes are independent
geometric variables (Feller, vol. 1, ch. XIII), so the dropped positions can be drawn as the
running sum of about n * p geometric gaps, each from one uniform: G = 1 + floor(log U /
log(1 - p)), P(G > g) = (1 - p)^g. The mask has the distribution of `torch.nn.Dropout`'s:
each element zeroed independently with probability p, the others scaled by 1 / (1 - p); only
the random stream differs. Draws come from torch's default generator (on the input's device),
so `torch.manual_seed` repeats them.

`gap_dropout(model, name)` puts it in place of PEFT's dropout in adapter `name`'s LoRA layers.
"""

from __future__ import annotations

import math
from typing import Any

import torch


def dropped_positions(n: int, p: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """Sorted flat positions in [0, n) of a row of n Bernoulli(p) trials' successes."""
    if n <= 0 or p <= 0:
        return torch.zeros(0, dtype=torch.long, device=device)
    if p >= 1:
        return torch.arange(n, device=device)
    scale = 1.0 / math.log1p(-p)
    expected = n * p
    chunk = int(expected + 6 * math.sqrt(expected) + 16)
    ends: list[torch.Tensor] = []
    reached = 0.0
    while reached < n:
        # 1 - U is in (0, 1]: its log is finite; float64 keeps the gaps' tail exact to 2^-53.
        u = 1.0 - torch.rand(chunk, dtype=torch.float64, device=device)
        gaps = torch.floor(torch.log(u) * scale) + 1
        part = gaps.cumsum_(0) + reached
        ends.append(part)
        reached = float(part[-1])
    ends_at = torch.cat(ends)
    inside = int(torch.searchsorted(ends_at, float(n), right=True))  # sorted: the ones <= n
    return ends_at[:inside].long() - 1  # the k-th success sits at (sum of the first k gaps) - 1


def dropout_mask(
    shape: torch.Size | tuple[int, ...],
    p: float,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """`torch.nn.Dropout`'s mask for an input of `shape`: 0 where dropped, 1 / (1 - p) elsewhere."""
    n = math.prod(shape)
    if p >= 1:
        return torch.zeros(shape, dtype=dtype, device=device)
    mask = torch.full((n,), 1.0 / (1.0 - p), dtype=dtype, device=device)
    mask.index_fill_(0, dropped_positions(n, p, device), 0.0)
    return mask.view(shape)


class GapDropout(torch.nn.Module):
    """`torch.nn.Dropout(p)` with its mask drawn by `dropout_mask`; the identity in eval mode."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * dropout_mask(x.shape, self.p, x.dtype, x.device)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def gap_dropout(model: Any, name: str) -> int:
    """Put `GapDropout` (same p) in place of each `torch.nn.Dropout` of adapter `name`'s LoRA
    layers; how many were replaced (a LoRA layer without dropout holds an Identity: kept)."""
    replaced = 0
    for module in model.modules():
        drops = getattr(module, "lora_dropout", None)
        if not isinstance(drops, torch.nn.ModuleDict) or name not in drops:
            continue
        if isinstance(drops[name], torch.nn.Dropout):
            drops[name] = GapDropout(drops[name].p)
            replaced += 1
    return replaced
