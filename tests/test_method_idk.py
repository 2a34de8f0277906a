"""IDK tuning: trains only its LoRA adapter, leaves the base weights, returns one dense delta."""

from __future__ import annotations

import torch

from smfa.methods.base import get_method, make_params

from .conftest import check_output


def test_idk_trains_only_the_adapter_and_returns_finite_deltas(method_job) -> None:  # type: ignore[no-untyped-def]
    method = get_method("idk")
    job = method_job(make_params(method, {}))
    before = {n: p.detach().clone() for n, p in job.model.named_parameters()}
    deltas = check_output(job, method().run(job), before)
    assert any(d.abs().sum() > 0 for d in deltas.values())  # B moved away from zero
    assert len(job.data.forget_refusals) == len(job.data.forget)
    assert all(  # every forget answer was replaced by a refusal from the pool
        r.answer_ids != f.answer_ids
        for r, f in zip(job.data.forget_refusals, job.data.forget, strict=True)
    )
    assert torch.is_tensor(next(iter(deltas.values())))
