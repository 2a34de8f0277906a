"""Gradient difference: its loss is -forget + weight * retain, and it trains only its adapter."""

from __future__ import annotations

import pytest
import torch
from torch.nn.functional import cross_entropy

from smfa.data.batches import IGNORE_INDEX, Collator
from smfa.methods.base import PairCollator, get_method, make_params, paired
from smfa.methods.gd import gd_loss
from smfa.models.adapters import attach_lora

from .conftest import check_output


def per_example_nll(model, batch) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """Written out independently of smfa's helpers: mean token cross-entropy per example."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs).logits[:, :-1].float()
    labels = batch["labels"][:, 1:]
    rows = []
    for i in range(len(labels)):
        keep = labels[i] != IGNORE_INDEX
        rows.append(cross_entropy(logits[i][keep], labels[i][keep]))
    return torch.stack(rows)


@torch.no_grad()
def test_gd_loss_is_minus_forget_plus_weighted_retain(method_job) -> None:  # type: ignore[no-untyped-def]
    job = method_job()
    peft = attach_lora(job.model, job.lora, "forget", 0)
    for name, param in peft.named_parameters():  # a non-trivial adapter, not B = 0
        if "lora_B" in name:
            param.normal_(0, 0.05)
    peft.eval()
    collate = PairCollator(Collator(job.data.collator.encoder, train=True))
    batch = collate(paired(job.data.forget, job.data.retain, 1, 0)[:4])

    forget = per_example_nll(peft, batch["forget"])  # call 1
    retain = peft(**batch["retain"]).loss  # call 2
    expected = -forget.mean() + 0.5 * retain
    assert float(gd_loss(peft, batch, 0.5, 20.0)) == pytest.approx(float(expected), abs=1e-5)
    # The cap binds per example: with it between the smallest and largest NLL only some clamp.
    cap = float(forget.min() + forget.max()) / 2
    expected = -forget.clamp(max=cap).mean() + 2.0 * retain
    assert float(gd_loss(peft, batch, 2.0, cap)) == pytest.approx(float(expected), abs=1e-5)


def test_gd_trains_only_the_adapter(method_job) -> None:  # type: ignore[no-untyped-def]
    method = get_method("gd")
    job = method_job(make_params(method, {"retain_weight": 0.5}))
    before = {n: p.detach().clone() for n, p in job.model.named_parameters()}
    output = method().run(job)
    deltas = check_output(job, output, before)
    assert any(d.abs().sum() > 0 for d in deltas.values())
    assert output.variants[""].params == {"retain_weight": 0.5, "max_forget_nll": 20.0}
