"""Log-probabilities from a language model's logits: computed here and nowhere else.

Every place that scores tokens (teacher-forced evaluation, the methods' losses and their KL
terms, VERA's levels) reads `token_logprobs` or `log_distribution`, so the softmax is taken the
same way (in float32) everywhere.
"""

from __future__ import annotations

import torch


def log_distribution(logits: torch.Tensor) -> torch.Tensor:
    """log-softmax over the vocabulary, in float32."""
    return torch.log_softmax(logits.float(), dim=-1)


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) at each position (`targets` may hold -100 for positions to ignore: they are
    scored as token 0 and left for the caller's mask)."""
    picked = log_distribution(logits).gather(-1, targets.clamp(min=0).unsqueeze(-1))
    return picked.squeeze(-1)
