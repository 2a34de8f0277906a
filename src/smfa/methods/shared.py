"""Pieces several baselines share: the per-example answer NLL, capped gradient ascent, the
frozen reference (the same PEFT model with its adapters switched off, no second copy) and the
one LoRA run most baselines make (attach, train, dense deltas, save the adapter).

Why the cap: NLL is unbounded above, so plain ascent never converges; once an answer is already
improbable, pushing further only drives its probability toward zero, which collapses the model
(gibberish everywhere: TOFU's and NPO's observation). Each example's per-token NLL is clamped at
a cap, so an example past it contributes no gradient while the rest keep going.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from peft import PeftModel

from smfa.data.batches import IGNORE_INDEX
from smfa.methods.base import (
    Job,
    MethodOutput,
    Variant,
    answer_lengths,
    answer_logprobs,
    params_dict,
)
from smfa.models.adapters import attach_lora, dense_deltas, lora_session
from smfa.models.logprobs import log_distribution
from smfa.train import LossFn

Batch = dict[str, torch.Tensor]


def forget_nll(model: Any, batch: Batch) -> torch.Tensor:
    """Per example, the mean NLL per answer token (nats)."""
    return -answer_logprobs(model, batch) / answer_lengths(batch)


def capped_ascent(model: Any, batch: Batch, cap: float) -> torch.Tensor:
    """-mean(min(nll, cap)): gradient ascent that stops pushing examples already past `cap`."""
    return -forget_nll(model, batch).clamp(max=cap).mean()


@contextmanager
def reference(peft: PeftModel) -> Iterator[None]:
    """The frozen reference: adapters off, eval mode (no dropout), no grad; restored after."""
    was_training = peft.training
    peft.eval()
    try:
        with torch.no_grad(), peft.disable_adapter():
            yield
    finally:
        peft.train(was_training)


def reference_logprobs(model: Any, peft: PeftModel, batch: Batch) -> torch.Tensor:
    """Per-position log-softmax of the reference model, shifted like `answer_logprobs`."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with reference(peft):
        return log_distribution(model(**inputs).logits[:, :-1])


def answer_mask(batch: Batch) -> torch.Tensor:
    """Which shifted positions predict an answer token."""
    return batch["labels"][:, 1:] != IGNORE_INDEX


def run_forget_adapter(
    job: Job,
    params: Any,
    items: Sequence[Any],
    stage: str,
    make_loss: Callable[[PeftModel], LossFn],
    collate: Callable[[Sequence[Any]], Any] | None = None,
) -> MethodOutput:
    """Attach the "forget" LoRA, train it with `make_loss(peft)`, return its dense deltas."""
    started = time.perf_counter()
    c = job.config
    with lora_session(job.model) as session:
        peft = attach_lora(job.model, job.lora, "forget", c.seed)
        session["model"] = peft
        result = job.train(peft, items, stage, loss_fn=make_loss(peft), collate=collate)
        trained = time.perf_counter()
        deltas = dense_deltas(peft, "forget")
        peft.save_pretrained(str(job.artifacts / "adapters"))
    return MethodOutput(
        variants={"": Variant(params_dict(params), lambda: deltas)},
        stats={"steps": result.steps, "final_loss": result.final_loss},
        timings={
            "forget_adapter": round(trained - started, 3),
            "deltas": round(time.perf_counter() - trained, 3),
        },
    )
