"""Gradient ascent: trains only its LoRA adapter, raises the forget NLL, and the cap holds."""

from __future__ import annotations

import torch

from smfa.data.batches import Collator
from smfa.methods.base import get_method, make_params
from smfa.methods.shared import forget_nll
from smfa.models.adapters import base_weights, set_weights

from .conftest import check_output


@torch.no_grad()
def mean_forget_nll(job) -> float:  # type: ignore[no-untyped-def]
    collate = Collator(job.data.collator.encoder, train=True)  # no augmentation: comparable
    job.model.eval()
    return float(forget_nll(job.model, collate(job.data.forget)).mean())


def test_ga_raises_the_forget_nll_and_touches_only_the_adapter(method_job) -> None:  # type: ignore[no-untyped-def]
    method = get_method("ga")
    job = method_job(make_params(method, {}), lr=5e-3, epochs=2)
    before = {n: p.detach().clone() for n, p in job.model.named_parameters()}
    nll_before = mean_forget_nll(job)
    output = method().run(job)
    deltas = check_output(job, output, before)
    assert any(d.abs().sum() > 0 for d in deltas.values())
    assert output.stats["final_loss"] < 0  # the loss is a negated NLL
    set_weights(job.model, base_weights(job.model, deltas), deltas)
    nll_after = mean_forget_nll(job)
    assert nll_after > nll_before + 0.5, (nll_before, nll_after)


def test_ga_cap_stops_pushing_examples_past_it(method_job) -> None:  # type: ignore[no-untyped-def]
    # A random model's answer NLL is about log(vocab) ~ 7 nats: every example starts past a cap
    # of 1, so the clamped loss is constant, no gradient flows, and the adapter stays at B = 0.
    method = get_method("ga")
    job = method_job(make_params(method, {"max_forget_nll": 1.0}))
    before = {n: p.detach().clone() for n, p in job.model.named_parameters()}
    output = method().run(job)
    deltas = check_output(job, output, before)
    assert output.stats["final_loss"] == -1.0
    assert all(torch.count_nonzero(d) == 0 for d in deltas.values())
