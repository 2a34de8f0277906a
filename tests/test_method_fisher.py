"""Fisher-masked unlearning: moves only the saliency-masked entries, restores the base weights."""

from __future__ import annotations

import json

import pytest
import torch

from smfa.data.batches import Collator, Sample
from smfa.errors import ConfigError
from smfa.methods.base import Job, get_method, make_params
from smfa.methods.fisher import saliency_mask
from smfa.models.adapters import base_weights, load_deltas, set_weights


def answer_nll(job: Job, samples: list[Sample], deltas: dict[str, torch.Tensor]) -> float:
    """Mean answer NLL of `samples` with `deltas` merged (the model is restored after)."""
    w0 = base_weights(job.model, list(deltas))
    set_weights(job.model, w0, deltas)
    collate = Collator(job.data.collator.encoder, train=True)  # no augmentation: same images
    job.model.eval()
    with torch.no_grad():
        loss = float(job.model(**collate(samples)).loss)
    set_weights(job.model, w0, {})
    return loss


def test_saliency_mask_takes_exactly_the_top_share() -> None:
    ratio = torch.tensor([[4.0, 1.0], [3.0, 2.0]])
    assert saliency_mask({"w": ratio}, 0.25, "matrix")["w"].tolist() == [
        [True, False],
        [False, False],
    ]
    assert saliency_mask({"w": ratio}, 0.5, "matrix")["w"].tolist() == [
        [True, False],
        [True, False],
    ]
    ratios = {"a": ratio, "b": torch.tensor([[5.0, 0.0, 0.0, 0.0]])}
    per_matrix = saliency_mask(ratios, 0.25, "matrix")
    assert per_matrix["a"].sum() == 1 and per_matrix["b"].sum() == 1
    shared = saliency_mask({"a": ratio, "b": torch.tensor([[5.0, 6.0, 0.0, 0.0]])}, 0.25, "global")
    assert shared["a"].sum() == 0 and shared["b"].tolist() == [[True, True, False, False]]
    with pytest.raises(ConfigError):
        saliency_mask(ratios, 0.25, "layer")
    with pytest.raises(ConfigError):
        saliency_mask(ratios, 0.0, "matrix")


def test_fisher_updates_only_the_masked_entries(method_job) -> None:  # type: ignore[no-untyped-def]
    method = get_method("fisher")
    share = 0.05
    job = method_job(make_params(method, {"share": share}), lr=1e-2, epochs=2)
    before = {n: p.detach().clone() for n, p in job.model.named_parameters()}
    flags = {n: p.requires_grad for n, p in job.model.named_parameters()}
    output = method().run(job)
    after = dict(job.model.named_parameters())
    # The plain model comes back with exactly its own weights and trainable flags.
    assert set(after) == set(before)
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert {n: p.requires_grad for n, p in after.items()} == flags
    deltas = output.variants[""].deltas()
    assert deltas and all(".language_model." in n for n in deltas)  # never the vision tower
    assert all(torch.isfinite(d).all() for d in deltas.values())
    assert any(d.abs().sum() > 0 for d in deltas.values())
    assert output.stats["final_loss"] == output.stats["final_loss"]

    masks = {n: m.bool() for n, m in load_deltas(job.artifacts / "mask.safetensors").items()}
    assert set(masks) == set(deltas)
    for name, delta in deltas.items():
        mask = masks[name]
        assert abs(int(mask.sum()) - share * mask.numel()) <= 1  # the share, per matrix
        assert torch.all(delta[~mask] == 0)  # nothing outside the mask moved
    moved = sum(int((d != 0).sum()) for d in deltas.values())
    assert moved > 0.5 * sum(int(m.sum()) for m in masks.values())  # most masked entries did
    stats = json.loads((job.artifacts / "mask.json").read_text())
    assert stats["scope"] == "matrix" and set(stats["matrices"]) == set(deltas)
    assert all(abs(s - share) < 1 / masks[n].numel() for n, s in stats["matrices"].items())

    # Gradient difference on the salient entries: the forget answers get much less likely,
    # the retain answers barely move.
    forget_rise = answer_nll(job, job.data.forget, deltas) - answer_nll(job, job.data.forget, {})
    retain_rise = answer_nll(job, job.data.retain, deltas) - answer_nll(job, job.data.retain, {})
    assert forget_rise > 0.5 and forget_rise > 3 * abs(retain_rise)
