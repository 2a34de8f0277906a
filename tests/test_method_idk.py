"""IDK tuning: trains only its LoRA adapter, leaves the base weights, returns one dense delta."""

from __future__ import annotations

import torch

from smfa.methods.base import get_method, make_params


def test_idk_trains_only_the_adapter_and_returns_finite_deltas(method_job) -> None:  # type: ignore[no-untyped-def]
    method = get_method("idk")
    job = method_job(make_params(method, {}))
    before = {n: p.detach().clone() for n, p in job.model.named_parameters()}
    output = method().run(job)
    after = dict(job.model.named_parameters())
    # The plain model comes back with exactly its own parameters, unchanged (no merge yet).
    assert set(after) == set(before)
    assert all(torch.equal(before[n], after[n]) for n in before)
    deltas = output.variants[""].deltas()
    assert deltas and all(".language_model." in n for n in deltas)  # never the vision tower
    assert all(torch.isfinite(d).all() for d in deltas.values())
    assert any(d.abs().sum() > 0 for d in deltas.values())  # B moved away from zero
    assert output.stats["steps"] >= 1 and output.stats["final_loss"] == output.stats["final_loss"]
    assert (job.artifacts / "adapters" / "forget" / "adapter_config.json").is_file()
