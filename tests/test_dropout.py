"""Gap dropout: torch.nn.Dropout's masks (each element dropped independently with probability p,
the rest scaled by 1 / (1 - p)) drawn by the gaps between dropped elements, and put in place of
PEFT's dropout in one adapter only."""

from __future__ import annotations

import math

import pytest
import torch
from peft import LoraConfig, get_peft_model

from smfa.models.dropout import GapDropout, dropout_mask, dropped_positions, gap_dropout


def test_each_position_is_dropped_with_probability_p_and_independently() -> None:
    torch.manual_seed(0)
    p, n, draws = 0.05, 64, 4000
    dropped = torch.stack([dropout_mask((n,), p) == 0 for _ in range(draws)]).double()
    sigma = math.sqrt(p * (1 - p) / draws)  # one position's frequency: binomial
    per_position = dropped.mean(0)
    # The first and last positions too: positions off by one would never drop one of them.
    assert (per_position - p).abs().max() < 5 * sigma, per_position
    assert abs(float(dropped.mean()) - p) < 5 * sigma / math.sqrt(n)
    # Independence: neighbours (one gap apart) are dropped together with probability p^2 ...
    both = (dropped[:, :-1] * dropped[:, 1:]).mean()
    assert abs(float(both) - p * p) < 5 * math.sqrt(p * p / (draws * (n - 1)))
    # ... and the count per draw has the binomial's variance, n p (1 - p) = 3.04.
    assert float(dropped.sum(1).var()) == pytest.approx(n * p * (1 - p), rel=0.15)


def test_the_mask_scales_what_it_keeps_and_repeats_under_a_seed() -> None:
    torch.manual_seed(7)
    mask = dropout_mask((3, 5, 40), 0.2)
    assert mask.shape == (3, 5, 40)
    assert mask.unique().tolist() == [0.0, pytest.approx(1 / 0.8)]
    torch.manual_seed(7)
    assert torch.equal(dropout_mask((3, 5, 40), 0.2), mask)
    assert dropout_mask((4, 4), 1.0).abs().sum() == 0
    assert dropped_positions(10, 0.0).numel() == 0
    assert dropped_positions(6, 1.0).tolist() == [0, 1, 2, 3, 4, 5]
    # Rows far longer than a chunk of gaps: the positions stay sorted, distinct, inside.
    positions = dropped_positions(200_000, 0.3)
    assert positions.min() >= 0 and positions.max() < 200_000
    assert bool((positions[1:] > positions[:-1]).all())
    assert abs(positions.numel() / 200_000 - 0.3) < 0.01


def test_the_gradient_is_the_mask_and_eval_mode_is_the_identity() -> None:
    drop = GapDropout(0.5)
    x = torch.randn(6, 30, requires_grad=True)
    torch.manual_seed(3)
    out = drop(x)
    out.sum().backward()
    torch.manual_seed(3)
    mask = dropout_mask(x.shape, 0.5)
    assert torch.equal(out.detach(), x.detach() * mask)
    assert torch.equal(x.grad, mask)
    drop.eval()
    assert drop(x) is x
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        GapDropout(1.5)


def test_it_replaces_the_dropout_of_one_adapter_only() -> None:
    base = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    config = LoraConfig(r=2, lora_alpha=2, lora_dropout=0.1, target_modules=["0", "2"])
    model = get_peft_model(base, config, adapter_name="forget")
    model.add_adapter("anchor", config)
    assert gap_dropout(model, "forget") == 2
    for layer in (model.base_model.model[0], model.base_model.model[2]):
        assert isinstance(layer.lora_dropout["forget"], GapDropout)
        assert layer.lora_dropout["forget"].p == 0.1
        assert type(layer.lora_dropout["anchor"]) is torch.nn.Dropout
    # An adapter without dropout keeps PEFT's identity; nothing to replace.
    model.add_adapter("plain", LoraConfig(r=2, lora_alpha=2, target_modules=["0"]))
    assert gap_dropout(model, "plain") == 0
    # The adapter trains through it: its dropout is drawn in train mode only.
    model.train()
    model.set_adapter("forget")
    x = torch.randn(5, 8)
    torch.manual_seed(1)
    first = model(x)
    torch.manual_seed(1)
    assert torch.equal(model(x), first)
    model.eval()
    assert torch.equal(model(x), model(x))
