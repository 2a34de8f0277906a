"""Precision: int8 really quantizes the decoder (and only it); bf16 runs on a bf16 copy."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch.ao.nn.quantized.dynamic import Linear as QuantizedLinear

from smfa.attacks.precision import Bf16, Int8Prefill, int8_language_model
from smfa.data.format import World
from tests.conftest import attack_session, person_text, probe_rows


def test_int8_quantizes_the_language_model_linears_only(tiny: tuple) -> None:
    model = copy.deepcopy(tiny[0])
    quantized = int8_language_model(model)
    modules = dict(quantized.named_modules())
    decoder = [n for n in modules if ".language_model.layers." in n and n.endswith("q_proj")]
    assert decoder and all(isinstance(modules[n], QuantizedLinear) for n in decoder)
    assert not any(isinstance(m, QuantizedLinear) for n, m in modules.items() if "vision" in n)
    ids = torch.tensor([[1, 5, 9, 12]])
    with torch.no_grad():
        exact = tiny[0](input_ids=ids).logits
        rounded = quantized(input_ids=ids).logits
    assert not torch.equal(exact, rounded)  # int8 rounding changes the logits...
    assert torch.corrcoef(torch.stack([exact.flatten(), rounded.flatten()]))[0, 1] > 0.9  # a bit


def test_precision_attacks_keep_what_the_model_knows(
    refuser: tuple, mini_world: World, tmp_path: Path
) -> None:
    questions = person_text(mini_world, "heldout")
    target = attack_session(*refuser, mini_world, questions, [], tmp_path)
    prefilled = {r["kind"]: r["value"] for r in probe_rows(Int8Prefill(), target)}
    assert prefilled["all"] >= 0.5  # int8 + prefill still extracts the refused values
    plain = {r["kind"]: r for r in probe_rows(Bf16(), target)}
    assert plain["all"]["n"] == len(questions)
    assert next(p for p in refuser[0].parameters()).dtype == torch.float32  # the model stays
