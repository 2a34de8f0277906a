"""Candidate answers scored on one pass of their shared prompt, with gradient: VERA's levels.

VERA levels each forget value against never-learned values written in its place: the same
prompt (question, picture and the answer's words up to the value) with two or four candidate
answers, each a few tokens long. Scored as whole sequences, every candidate runs the prompt
again, and the prompts are most of the tokens. Here the samples are grouped by prompt (ids and
picture), each distinct prompt runs once (left padded, positions counted from its first real
token) and its KV cache is repeated for its candidates, whose tokens alone run again: the
evaluation's `shared_prompt_logprobs`, with gradient where it is enabled (a candidate's
gradient reaches the weights through the shared prompt pass as through its own). The result
equals scoring each whole sequence up to float rounding; a group's candidates see one
augmented draw of their picture (one collator call draws per prompt, not per candidate).

Models whose prompts cannot be cached this way (`smfa.eval.decode.shares_prefix`: LLaVA only),
or that recompute activations (gradient checkpointing turns the cache off), score whole
sequences as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import DynamicCache

from smfa.data.batches import Collator, Sample
from smfa.eval.decode import _cache_name, answer_rows, answers_on_cache, shares_prefix
from smfa.methods.base import answer_lengths, answer_logprobs
from smfa.models.logprobs import log_distribution


def can_share(model: Any) -> bool:
    """Whether `model` scores candidates on a shared prompt pass (its family, no checkpointing)."""
    return shares_prefix(model) and not getattr(model, "is_gradient_checkpointing", False)


def collate_candidates(
    collator: Collator, samples: Sequence[Sample], shared: bool, graded: int | None = None
) -> dict[str, Any]:
    """A batch for `candidate_levels`: distinct prompts and candidate tokens, or whole rows.
    Only the first `graded` samples (all when None) are scored with gradient."""
    graded = len(samples) if graded is None else graded
    if not shared:
        rest = samples[graded:]
        return {
            "whole": collator(samples[:graded]) if graded else None,
            "free": collator(rest) if rest else None,
        }
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, s in enumerate(samples):
        groups.setdefault((s.prompt_ids, s.image, s.augment), []).append(i)
    owner_of = {i: k for k, g in enumerate(groups.values()) for i in g}
    pad = int(collator.encoder.tokenizer.pad_token_id)
    ids, mask = answer_rows([s.answer_ids for s in samples], pad)
    return {
        "prompts": collator.prompts([samples[g[0]] for g in groups.values()]),
        "owner": torch.tensor([owner_of[i] for i in range(len(samples))], dtype=torch.long),
        "ids": ids,
        "mask": mask,
        "graded": graded,  # the candidates with gradient, then the others: two second passes
    }


def candidate_levels(model: Any, batch: dict[str, Any]) -> torch.Tensor:
    """Each candidate's mean log-probability per answer token, in the input order; the
    candidates past `graded` without gradient."""
    if "whole" in batch:
        parts = []
        for key, grad in (("whole", True), ("free", False)):
            if batch[key] is not None:
                with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
                    parts.append(answer_logprobs(model, batch[key]) / answer_lengths(batch[key]))
        return torch.cat(parts)
    device = next(model.parameters()).device
    prompts = {k: v.to(device) for k, v in batch["prompts"].items()}
    owner, ids, mask = (batch[k].to(device) for k in ("owner", "ids", "mask"))
    prompt_mask = prompts["attention_mask"]
    positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
    out = model(**prompts, position_ids=positions, use_cache=True, logits_to_keep=1)
    first = log_distribution(out.logits[:, -1])
    cache_arg = _cache_name(model)
    layers = [(layer.keys, layer.values) for layer in getattr(out, cache_arg).layers]
    graded = batch["graded"]
    parts = []
    for rows, grad in ((slice(0, graded), True), (slice(graded, None), False)):
        sel, part_ids, part_mask = owner[rows], ids[rows], mask[rows]
        if not len(sel):
            continue
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            kept = [(k if grad else k.detach(), v if grad else v.detach()) for k, v in layers]
            cache = DynamicCache(ddp_cache_data=[(k[sel], v[sel]) for k, v in kept])
            heads = (first if grad else first.detach())[sel]
            picked = answers_on_cache(
                model, cache_arg, cache, prompt_mask[sel], heads, part_ids, part_mask
            )
            parts.append((picked * part_mask).sum(dim=1) / part_mask.sum(dim=1).clamp(min=1))
    return torch.cat(parts)
