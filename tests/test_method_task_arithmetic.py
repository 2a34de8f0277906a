"""Task arithmetic: trains a forget-set adapter, leaves the base weights, returns -scale * tau."""

from __future__ import annotations

import torch

from smfa.data.batches import Collator
from smfa.methods.base import Job, get_method, make_params
from smfa.models.adapters import base_weights, set_weights


def forget_nll(job: Job, deltas: dict[str, torch.Tensor]) -> float:
    """Mean answer NLL of the forget set with `deltas` merged (the model is restored after)."""
    w0 = base_weights(job.model, list(deltas))
    set_weights(job.model, w0, deltas)
    collate = Collator(job.data.collator.encoder, train=True)  # no augmentation: same images
    job.model.eval()
    with torch.no_grad():
        loss = float(job.model(**collate(job.data.forget)).loss)
    set_weights(job.model, w0, {})
    return loss


def test_task_arithmetic_returns_the_negated_scaled_task_vector(method_job) -> None:  # type: ignore[no-untyped-def]
    method = get_method("task_arithmetic")
    job = method_job(make_params(method, {}), lr=5e-3, epochs=2)
    before = {n: p.detach().clone() for n, p in job.model.named_parameters()}
    output = method().run(job)
    after = dict(job.model.named_parameters())
    assert set(after) == set(before)
    assert all(torch.equal(before[n], after[n]) for n in before)  # no merge yet
    deltas = output.variants[""].deltas()
    assert deltas and all(".language_model." in n for n in deltas)  # never the vision tower
    assert all(torch.isfinite(d).all() for d in deltas.values())
    assert any(d.abs().sum() > 0 for d in deltas.values())
    assert output.stats["final_loss"] == output.stats["final_loss"]
    assert output.variants[""].params == {"scale": 1.0}
    assert (job.artifacts / "adapters" / "task" / "adapter_config.json").is_file()

    # Same seed, same adapter: half the scale is exactly half the delta.
    half = method_job(make_params(method, {"scale": 0.5}), lr=5e-3, epochs=2)
    half_deltas = method().run(half).variants[""].deltas()
    assert set(half_deltas) == set(deltas)
    assert all(torch.equal(2 * half_deltas[n], deltas[n]) for n in deltas)

    # Negation: W0 + tau learned the forget answers better, W0 - tau knows them worse.
    base = forget_nll(job, {})
    tau = {n: -d for n, d in deltas.items()}
    assert forget_nll(job, tau) < base < forget_nll(job, deltas)
