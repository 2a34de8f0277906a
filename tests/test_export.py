"""Exporting an unlearned model's change as a LoRA adapter: exact at full rank, energy by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from peft import PeftModel

from smfa.errors import SmfaError
from smfa.export import export_lora, factorize, run_source, weight_deltas
from smfa.io import atomic_write_json
from smfa.models.io import load_model, save_model


def test_factorize_keeps_the_energy_of_the_top_singular_values() -> None:
    delta = torch.diag(torch.tensor([3.0, 4.0, 0.0]))  # singular values 4, 3, 0
    a, b, kept = factorize(delta, 1)
    assert kept == pytest.approx(16 / 25)
    assert torch.allclose(b @ a, torch.diag(torch.tensor([0.0, 4.0, 0.0])), atol=1e-6)
    a, b, kept = factorize(delta, 2)
    assert kept == pytest.approx(1.0) and torch.allclose(b @ a, delta, atol=1e-6)
    with pytest.raises(SmfaError, match="rank 4 is out of range"):
        factorize(delta, 4)


def test_export_round_trips_through_stock_peft(tiny: tuple[object, object], tmp_path: Path) -> None:
    model, processor = tiny
    vanilla = save_model(model, processor, tmp_path / "vanilla")
    changed, _ = load_model(vanilla)
    torch.manual_seed(0)
    name = "model.language_model.layers.1.mlp.down_proj.weight"
    weight = dict(changed.named_parameters())[name]
    rank2 = torch.randn(weight.shape[0], 2) @ torch.randn(2, weight.shape[1]) * 0.01
    with torch.no_grad():
        weight.add_(rank2)
    unlearned = save_model(changed, processor, tmp_path / "unlearned")
    assert set(weight_deltas(load_model(vanilla)[0], load_model(unlearned)[0])) == {name}

    stats = export_lora(vanilla, unlearned, 2, tmp_path / "lora")
    assert stats["matrices"] == 1 and stats["kept_energy"] == pytest.approx(1.0, abs=1e-6)
    assert stats["adapter_parameters"] == 2 * sum(weight.shape)
    merged = PeftModel.from_pretrained(load_model(vanilla)[0], str(tmp_path / "lora"))
    merged = merged.merge_and_unload()
    expected = dict(load_model(unlearned)[0].named_parameters())
    for n, w in merged.named_parameters():
        assert torch.allclose(w, expected[n], atol=1e-5), n
    partial = export_lora(vanilla, unlearned, 1, tmp_path / "lora1")
    assert 0.0 < partial["kept_energy"] < 1.0
    with pytest.raises(SmfaError, match="nothing to export"):
        export_lora(vanilla, vanilla, 1, tmp_path / "none")


def test_run_source_reads_an_unlearn_directory(tmp_path: Path) -> None:
    atomic_write_json(
        tmp_path / "run.json",
        {"vanilla": "/models/v", "default": "k=3", "variants": {"k=3": {"model": "model"}}},
    )
    (tmp_path / "model").mkdir()
    assert run_source(tmp_path) == (Path("/models/v"), tmp_path / "model")
    with pytest.raises(SmfaError, match=r"no run\.json"):
        run_source(tmp_path / "absent")
    assert json.loads((tmp_path / "run.json").read_text())["default"] == "k=3"
