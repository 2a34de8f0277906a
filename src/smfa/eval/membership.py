"""Membership-inference scores of one answer, and the AUC that tells members from strangers.

Per answer, from its token log-probabilities (higher: more like a member): Min-K% Prob,
Min-K%++ and the zlib ratio; `auc` of the scores of true answers against never-learned ones.
The mia attack (`smfa.attacks.mia`) computes them; `MIA_SCORES` names them for the registry
(`smfa.eval.metrics.METRICS`). Pure functions of numbers and strings.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence

from smfa.errors import SmfaError

# --------------------------------------------------------------------------------------------
# Membership inference: per-answer scores and the AUC that separates members
# --------------------------------------------------------------------------------------------

# Min-K% and Min-K%++ average the lowest 20% of an answer's tokens (the papers' usual k).
MIN_K_FRACTION = 0.2


def _finite_list(name: str, values: Iterable[float]) -> list[float]:
    items = [float(value) for value in values]
    if not items:
        raise SmfaError(f"{name} needs at least one token log-probability")
    if any(math.isnan(value) for value in items):
        raise SmfaError(f"{name} got a NaN log-probability")
    return items


def min_k(token_logprobs: Sequence[float], fraction: float = MIN_K_FRACTION) -> float:
    """Min-K% Prob (Shi et al., "Detecting Pretraining Data from Large Language Models", ICLR
    2024): the mean of the lowest `fraction` of the token log-probabilities, at least one token
    (answers here are a few tokens long, where the paper's int(n * k) would be none)."""
    values = sorted(_finite_list("min_k", token_logprobs))
    count = max(1, int(len(values) * fraction))
    return math.fsum(values[:count]) / count


def min_k_plus_plus(
    token_logprobs: Sequence[float],
    means: Sequence[float],
    stds: Sequence[float],
    fraction: float = MIN_K_FRACTION,
) -> float:
    """Min-K%++ (Zhang et al., "Min-K%++: Improved Baseline for Detecting Pre-Training Data
    from Large Language Models", ICLR 2025): each token's log-probability standardized by the
    mean and standard deviation of the log-probability under the model's next-token
    distribution at that position, then `min_k` of those. A standard deviation of 0 (a
    one-hot distribution) counts as 1e-6, so such a token scores 0 when it is the one predicted."""
    values = _finite_list("min_k_plus_plus", token_logprobs)
    if not len(values) == len(means) == len(stds):
        raise SmfaError("min_k_plus_plus needs one mean and one deviation per token")
    z = [(v - mu) / max(float(sd), 1e-6) for v, mu, sd in zip(values, means, stds, strict=True)]
    return min_k(z, fraction)


def zlib_score(mean_logprob: float, text: str) -> float:
    """The zlib membership score (Carlini et al., "Extracting Training Data from Large Language
    Models", USENIX Security 2021, as the Min-K%++ code computes it): the mean token
    log-probability divided by the length in bytes of the zlib-compressed UTF-8 text."""
    return float(mean_logprob) / len(zlib.compress(text.encode("utf-8")))


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Area under the ROC curve of telling `positives` from `negatives` by score (higher:
    positive): the Mann-Whitney U statistic over every (positive, negative) pair, a tie counting
    half. 1.0 when every positive scores above every negative, 0.0 when below, 0.5 when all
    scores are equal. Raises `SmfaError` when either side is empty or a score is NaN."""
    pos, neg = [float(v) for v in positives], [float(v) for v in negatives]
    if not pos or not neg:
        raise SmfaError("auc needs at least one positive and one negative score")
    if any(math.isnan(v) for v in pos + neg):
        raise SmfaError("auc got a NaN score")
    pooled = sorted([(v, True) for v in pos] + [(v, False) for v in neg], key=lambda p: p[0])
    rank_sum = 0.0
    start = 0
    while start < len(pooled):  # tied scores share the mean of their ranks (1-based)
        end = start
        while end + 1 < len(pooled) and pooled[end + 1][0] == pooled[start][0]:
            end += 1
        rank = (start + end) / 2 + 1
        rank_sum += rank * sum(1 for _, positive in pooled[start : end + 1] if positive)
        start = end + 1
    u = rank_sum - len(pos) * (len(pos) + 1) / 2
    return u / (len(pos) * len(neg))


# The membership scores the mia attack computes per answer (higher: more like a member), by name.
MIA_SCORES = {
    "loss": "the mean token log-likelihood (the negated loss)",
    "zlib": "the zlib ratio",
    "mink": "Min-K% Prob (k = 20%)",
    "minkpp": "Min-K%++ (k = 20%)",
}
