"""The two ways the instrument questions a model: greedy generation and teacher forcing.

`generate` answers many questions in batches (left padding, KV cache, greedy, stop at EOS).
`answer_logprobs` scores given answers token by token under teacher forcing, which is what
catches knowledge that greedy decoding hides. Both sort by length to waste little on padding
and return results in the input order. Neither knows what is being measured. Launched as
several processes, each runs whole batches of the same length-sorted order (round-robin) and
the results are gathered, so every answer is the one a single process computes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from smfa.data.batches import IGNORE_INDEX, Collator, Encoder, Sample
from smfa.distributed import gather_pairs, mine_of

Tick = Callable[[int], None]


def _order(samples: Sequence[Sample]) -> list[int]:
    return sorted(
        range(len(samples)),
        key=lambda i: (samples[i].image is None, len(samples[i].prompt_ids), i),
    )


def _batches(samples: Sequence[Sample], batch_size: int) -> list[list[int]]:
    """Sample indices in length order, cut into batches: the same cut for any process count."""
    order = _order(samples)
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


@torch.inference_mode()
def generate(
    model: Any,
    encoder: Encoder,
    samples: Sequence[Sample],
    batch_size: int = 64,
    max_new_tokens: int = 24,
    tick: Tick | None = None,
) -> list[str]:
    """Greedy answers to the prompts of `samples` (their answer ids are ignored)."""
    model.eval()
    collate = Collator(encoder, train=False)
    answers: list[str] = [""] * len(samples)
    tokenizer = encoder.tokenizer
    device = next(model.parameters()).device
    local: list[tuple[int, str]] = []
    for _, index in mine_of(_batches(samples, batch_size)):
        batch = {k: v.to(device) for k, v in collate([samples[i] for i in index]).items()}
        output = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        local += zip(index, texts, strict=True)
        if tick is not None:
            tick(len(index))
    for i, text in gather_pairs(local):
        answers[i] = text.strip()
    return answers


@torch.inference_mode()
def answer_logprobs(
    model: Any,
    encoder: Encoder,
    samples: Sequence[Sample],
    batch_size: int = 64,
    tick: Tick | None = None,
) -> list[list[float]]:
    """Per-token log-probabilities of each sample's answer ids (EOS included)."""
    model.eval()
    collate = Collator(encoder, train=True)
    scores: list[list[float]] = [[] for _ in samples]
    device = next(model.parameters()).device
    local: list[tuple[int, list[float]]] = []
    for _, index in mine_of(_batches(samples, batch_size)):
        batch = {k: v.to(device) for k, v in collate([samples[i] for i in index]).items()}
        labels = batch.pop("labels")
        logits = model(**batch).logits[:, :-1].float()
        targets = labels[:, 1:]
        mask = targets != IGNORE_INDEX
        picked = (
            torch.log_softmax(logits, dim=-1)
            .gather(-1, targets.clamp(min=0).unsqueeze(-1))
            .squeeze(-1)
        )
        local += [(i, picked[row][mask[row]].tolist()) for row, i in enumerate(index)]
        if tick is not None:
            tick(len(index))
    for i, values in gather_pairs(local):
        scores[i] = values
    return scores
