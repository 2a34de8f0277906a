"""Relearning: seeded attribute halves, and the vanilla-above-oracle direction it must show."""

from __future__ import annotations

from pathlib import Path

import torch

from smfa.attacks.relearn import Relearn, halves
from smfa.data.format import World
from tests.conftest import attack_session, person_text, probe_rows


def test_halves_split_every_attribute_once_and_repeat_by_seed() -> None:
    attributes = ["a", "b", "c", "d", "e"]
    taught, measured = halves(attributes, 0)
    assert sorted(taught + measured) == attributes and len(taught) == 2
    assert halves(attributes, 0) == (taught, measured)
    assert {tuple(halves(attributes, s)[0]) for s in range(6)} != {tuple(taught)}


def test_relearning_brings_back_what_was_known_not_what_never_was(
    refuser: tuple, never_knew: tuple, mini_world: World, tmp_path: Path
) -> None:
    forget = person_text(mini_world, "train", probe=True)
    settings = {"relearn_steps": 6, "relearn_seeds": 2}
    model = refuser[0]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}  # type: ignore[attr-defined]
    known = probe_rows(
        Relearn(), attack_session(*refuser, mini_world, forget, [], tmp_path, **settings)
    )
    after = dict(model.named_parameters())  # type: ignore[attr-defined]
    assert all(torch.equal(before[n], after[n]) for n in before)  # the given model is untouched
    pooled = next(r for r in known if r["kind"] == "all")
    assert len(pooled["per_group"]) == 2
    # Each seed measures only the half it did not teach: 8 text attributes, 4 measured per seed.
    assert pooled["n"] == 2 * 4
    never = probe_rows(
        Relearn(), attack_session(*never_knew, mini_world, forget, [], tmp_path, **settings)
    )
    floor = next(r for r in never if r["kind"] == "all")["value"]
    assert floor == 0.0  # the oracle never learned the measured values
    assert pooled["value"] > floor + 0.25  # the vanilla-like model gives them back
