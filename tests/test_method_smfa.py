"""SMFA: the mask on hand-computed cases, rho per matrix or global, the two adapters, the merge."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from smfa.config import RunConfig, UnlearnConfig
from smfa.data.format import World
from smfa.errors import ConfigError
from smfa.methods.base import get_method, make_params
from smfa.methods.smfa import combine, frobenius_ratio, sculpt
from smfa.models.io import load_model, save_model
from smfa.unlearn import resolve_request, unlearn


def test_the_method_docs_check_k_half_masks_both_k_three_masks_none() -> None:
    dwf = {"w": torch.tensor([[2.0, -2.0]])}
    dwa = {"w": torch.tensor([[-1.0, 1.0]])}
    # rho = ||dWf|| / ||dWa|| = sqrt(8) / sqrt(2) = 2
    assert frobenius_ratio(dwf, dwa, 0.0, "matrix")["w"] == pytest.approx(2.0)
    half, share = sculpt(dwf, dwa, k=0.5, eps=0.0)
    assert torch.equal(half["w"], torch.tensor([[0.0, 0.0]])) and share["w"] == 1.0
    three, share = sculpt(dwf, dwa, k=3.0, eps=0.0)
    assert torch.equal(three["w"], dwf["w"]) and share["w"] == 0.0


def test_only_sign_conflicts_that_dominate_are_masked() -> None:
    dwf = {"w": torch.tensor([[3.0, 1.0, -1.0, 0.5]])}
    dwa = {"w": torch.tensor([[1.0, 1.0, 4.0, -0.1]])}
    # rho = sqrt(9+1+1+.25) / sqrt(1+1+16+.01) = 3.3541 / 4.2438 = 0.79035
    # entry 0, 1: same sign -> kept; entry 2: conflict, k*rho*4 = 3.16 > 1 -> kept;
    # entry 3: conflict, k*rho*0.1 = 0.079 < 0.5 -> masked (k = 1)
    out, share = sculpt(dwf, dwa, k=1.0, eps=0.0)
    assert torch.equal(out["w"], torch.tensor([[3.0, 1.0, -1.0, 0.0]]))
    assert share["w"] == pytest.approx(0.25)
    # k = 0 masks every sign conflict.
    out, _ = sculpt(dwf, dwa, k=0.0, eps=0.0)
    assert torch.equal(out["w"], torch.tensor([[3.0, 1.0, 0.0, 0.0]]))


def test_rho_per_matrix_differs_from_global() -> None:
    dwf = {"a": torch.tensor([[4.0]]), "b": torch.tensor([[1.0]])}
    dwa = {"a": torch.tensor([[-1.0]]), "b": torch.tensor([[-1.0]])}
    per = frobenius_ratio(dwf, dwa, 0.0, "matrix")
    assert per == {"a": 4.0, "b": 1.0}
    pooled = frobenius_ratio(dwf, dwa, 0.0, "global")
    assert pooled["a"] == pooled["b"] == pytest.approx((17**0.5) / (2**0.5))
    # k = 0.5: per matrix, a: 0.5*4*1 = 2 < 4 masked; b: 0.5*1*1 = .5 < 1 masked.
    # global rho 2.915: a: 1.46 < 4 masked; b: 1.46 > 1 kept.
    assert sculpt(dwf, dwa, 0.5, "matrix", 0.0)[1] == {"a": 1.0, "b": 1.0}
    assert sculpt(dwf, dwa, 0.5, "global", 0.0)[1] == {"a": 1.0, "b": 0.0}
    with pytest.raises(ConfigError, match="rho"):
        frobenius_ratio(dwf, dwa, 0.0, "layer")


def test_split_views_combine_by_mean_or_sum() -> None:
    parts = [{"w": torch.tensor([2.0])}, {"w": torch.tensor([4.0])}]
    assert combine(parts, "mean")["w"].item() == 3.0
    assert combine(parts, "sum")["w"].item() == 6.0
    with pytest.raises(ConfigError):
        combine(parts, "max")


def test_smfa_trains_two_adapters_and_leaves_the_base_untouched(method_job) -> None:  # type: ignore[no-untyped-def]
    method = get_method("smfa")
    job = method_job(make_params(method, {"k": 1.0, "sweep": [0.0, 100.0]}))
    before = {n: p.detach().clone() for n, p in job.model.named_parameters()}
    output = method().run(job)
    after = dict(job.model.named_parameters())
    assert set(after) == set(before) and all(torch.equal(before[n], after[n]) for n in before)
    assert list(output.variants) == ["k=1", "k=0", "k=100"] and output.default == "k=1"
    shares = [output.stats["masked_share"]["overall"]]
    full = output.variants["k=0"].deltas()
    few = output.variants["k=100"].deltas()
    assert all(".language_model." in n for n in full)
    masked_k0 = sum(int((d == 0).sum()) for d in full.values())
    masked_k100 = sum(int((d == 0).sum()) for d in few.values())
    assert masked_k0 > masked_k100  # k = 0 masks every conflict; large k masks almost none
    assert 0.0 < shares[0] < 1.0
    for adapter in ("forget", "anchor"):
        assert (job.artifacts / "adapters" / adapter / "adapter_model.safetensors").is_file()
    saved = load_file(str(job.artifacts / "delta.safetensors"))
    default = output.variants["k=1"].deltas()
    assert set(saved) == set(default) and all(torch.equal(saved[n], default[n]) for n in saved)


def test_split_views_train_an_adapter_per_view(method_job) -> None:  # type: ignore[no-untyped-def]
    method = get_method("smfa")
    job = method_job(make_params(method, {"views": "split"}))
    output = method().run(job)
    assert output.default == "k=5/10"
    assert {"forget_image", "forget_text", "anchor"} <= set(output.timings)


def test_merged_model_is_w0_plus_the_sculpted_delta(
    tiny: tuple[object, object], mini_world: World, tmp_path: Path
) -> None:
    model, processor = tiny
    vanilla = save_model(model, processor, tmp_path / "vanilla")
    config = RunConfig(unlearn=UnlearnConfig(retain_budget=6, epochs=1, batch_size=4))
    config.methods = {"smfa": {"k": 2.0}}
    request = resolve_request(mini_world, ratio=10)
    request = dataclasses.replace(request, questions=request.questions[:6])
    meta = unlearn(mini_world, vanilla, "smfa", config, request, tmp_path / "out", False)
    assert meta["default"] == "k=2" and meta["variants"]["k=2"]["model"] == "model"
    w0 = dict(load_model(vanilla)[0].named_parameters())
    merged = dict(load_model(tmp_path / "out" / "model")[0].named_parameters())
    delta = load_file(str(tmp_path / "out" / "delta.safetensors"))
    for name, w in merged.items():
        expected = w0[name] + delta[name] if name in delta else w0[name]
        assert torch.allclose(w, expected, atol=1e-7), name
    assert any(not torch.equal(merged[n], w0[n]) for n in delta)
    # A second call with the same inputs reuses the run instead of training again.
    again = unlearn(mini_world, vanilla, "smfa", config, request, tmp_path / "out", False)
    assert again["key"] == meta["key"]


def test_saved_adapters_load_with_stock_peft(method_job) -> None:  # type: ignore[no-untyped-def]
    from peft import PeftModel

    from smfa.models.adapters import dense_deltas

    method = get_method("smfa")
    job = method_job(make_params(method, {}))
    method().run(job)
    loaded = PeftModel.from_pretrained(job.model, str(job.artifacts / "adapters" / "forget"))
    assert set(dense_deltas(loaded, "default")) == set(
        load_file(str(job.artifacts / "delta.safetensors"))
    )
