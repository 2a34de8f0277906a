"""The contract every registered method keeps, checked over the registry (a new method file is
covered the moment it registers): on the tiny world it trains an adapter whose weight change is
real and finite and touches only the language model, leaves the base weights as they were, and
returns its statistics and timings."""

from __future__ import annotations

import math

import pytest
import torch

from smfa.methods.base import REGISTRY, get_method, make_params

get_method("smfa")  # importing the package registers every method
METHODS = sorted(REGISTRY)


@pytest.mark.parametrize("name", METHODS)
def test_every_method_keeps_the_contract(name: str, method_job) -> None:  # type: ignore[no-untyped-def]
    method = get_method(name)
    job = method_job(make_params(method, _small(name)))
    before = {n: p.detach().clone() for n, p in job.model.named_parameters()}
    output = method().run(job)
    after = dict(job.model.named_parameters())
    assert set(after) == set(before) and all(torch.equal(before[n], after[n]) for n in before)
    assert output.default in output.variants
    for variant in output.variants.values():
        deltas = variant.deltas()
        assert deltas and all(".language_model." in n for n in deltas)  # never the vision tower
        assert all(torch.isfinite(d).all() for d in deltas.values())
        assert any(bool(d.abs().sum() > 0) for d in deltas.values())  # the adapter changed
    assert output.stats["steps"] >= 1 and math.isfinite(output.stats["final_loss"])
    assert output.timings and all(t >= 0 for t in output.timings.values())


def _small(name: str) -> dict[str, object]:
    """Each method's cheapest settings that still exercise every part of it."""
    return {
        "vera": {"rank": 4, "epochs": 1, "rehearse_every": 4},
        "smfa": {"sweep": []},
        "undo": {"teacher_rank": 4, "teacher_epochs": 1, "teacher_rehearse_every": 4},
    }.get(name, {})
