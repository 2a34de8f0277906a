"""The two ways the instrument questions a model: greedy generation and teacher forcing.

`generate` answers many questions in batches (left padding, KV cache, greedy, stop at the end
of the assistant's turn). `answer_logprobs` scores given answers token by token under teacher
forcing, which is what catches knowledge that greedy decoding hides. Both sort by length to
waste little on padding and return results in the input order. Neither knows what is being measured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from smfa.data.batches import IGNORE_INDEX, Collator, Encoder, Sample

Tick = Callable[[int], None]


def _order(samples: Sequence[Sample]) -> list[int]:
    return sorted(
        range(len(samples)),
        key=lambda i: (samples[i].image is None, len(samples[i].prompt_ids), i),
    )


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
    order = _order(samples)
    answers: list[str] = [""] * len(samples)
    tokenizer = encoder.tokenizer
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        batch = {k: v.to(device) for k, v in collate([samples[i] for i in index]).items()}
        output = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=encoder.stop_ids,
        )
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        for i, text in zip(index, texts, strict=True):
            answers[i] = text.strip()
        if tick is not None:
            tick(len(index))
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
    order = _order(samples)
    scores: list[list[float]] = [[] for _ in samples]
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
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
        for row, i in enumerate(index):
            scores[i] = picked[row][mask[row]].tolist()
        if tick is not None:
            tick(len(index))
    return scores
