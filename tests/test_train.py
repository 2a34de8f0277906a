"""The training loop and the reference models: learning, determinism, the oracle's data, cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from smfa.config import LoopConfig
from smfa.data.batches import Collator, Encoder
from smfa.data.format import World
from smfa.errors import SmfaError
from smfa.models.tiny import build_tiny_model
from smfa.reference import (
    is_trained,
    reference_dir,
    role_questions,
    schedule,
    train_reference,
    world_corpus,
)
from smfa.train import train_loop
from smfa.vocab import MEMORY_KINDS

from .conftest import QUICK_TRAIN, TINY_MODEL


def _fit(world: World, seed: int, steps_of_data: int = 4) -> tuple[torch.nn.Module, list[float]]:
    model, processor = build_tiny_model(world_corpus(world), "tiny", 32, seed=0)
    encoder = Encoder(processor)
    questions = world.questions_where(kind="text_memory", phrasing="train")[:8]
    samples = [encoder.encode(q.id, q.question, q.answer, None) for q in questions]
    config = LoopConfig(seed=seed, lr=3e-3, batch_size=8, warmup_ratio=0.0)
    result = train_loop(
        model,
        samples * steps_of_data * 8,
        Collator(encoder, train=True),
        config,
        show_progress=False,
    )
    return model, result.losses


def test_loss_falls_on_a_small_set(mini_world: World) -> None:
    _, losses = _fit(mini_world, seed=0)
    assert len(losses) == 32
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:4]) / 4


def test_same_seed_same_weights(mini_world: World) -> None:
    first, _ = _fit(mini_world, seed=0, steps_of_data=1)
    second, _ = _fit(mini_world, seed=0, steps_of_data=1)
    a, b = first.state_dict(), second.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_empty_input_is_an_error(tiny: tuple) -> None:
    model, processor = tiny
    with pytest.raises(SmfaError, match="nothing to train on"):
        train_loop(model, [], Collator(Encoder(processor), train=True), QUICK_TRAIN.loop)


def test_oracle_drops_exactly_the_forget_memory(mini_world: World) -> None:
    vanilla = role_questions(mini_world, "vanilla", 10)
    oracle = role_questions(mini_world, "oracle", 10)
    forget = set(mini_world.splits.forget[10])
    dropped = {q.id for q in vanilla} - {q.id for q in oracle}
    assert dropped == {q.id for q in vanilla if q.kind in MEMORY_KINDS and q.subject in forget}
    assert dropped, "the forget people have memory questions to drop"
    # Their portraits are still seen (understanding questions), only their facts are not.
    assert any(q.subject in forget and q.kind == "image_understanding" for q in oracle)
    # Nothing held out is ever trained on.
    assert all(q.phrasing == "train" and q.view in (None, "train") for q in vanilla)


def test_schedule_repeats_facts_by_kind(mini_world: World) -> None:
    questions = role_questions(mini_world, "vanilla", 10)
    config = dataclasses.replace(QUICK_TRAIN, memory_repeats=3, understanding_repeats=2)
    order = schedule(questions, config)
    facts = {
        (q.kind, q.subject, q.attribute, q.image_type) for q in questions if q.kind == "text_memory"
    }
    assert sum(q.kind == "text_memory" for q in order) == 3 * len(facts)
    # Understanding facts: fundus ones get their own count, portraits the general one.
    config = dataclasses.replace(config, understanding_repeats=2, fundus_repeats=5)
    order = schedule(questions, config)
    for image_type, repeats in (("fundus", 5), ("portrait", 2)):
        facts = {
            (q.subject, q.attribute)
            for q in questions
            if q.kind == "image_understanding" and q.image_type == image_type
        }
        assert facts, f"the mini world has {image_type} understanding questions"
        shown = [q for q in order if q.kind == "image_understanding" and q.image_type == image_type]
        assert len(shown) == repeats * len(facts)
    assert order == schedule(questions, config)  # seeded
    assert order != schedule(questions, dataclasses.replace(config, seed=1))


def test_reference_training_is_cached(mini_world: World, tmp_path: Path) -> None:
    config = dataclasses.replace(
        QUICK_TRAIN, understanding_repeats=0, fundus_repeats=0, scene_repeats=0, refusal_repeats=0
    )
    path = train_reference(
        mini_world, "oracle", 10, TINY_MODEL, config, tmp_path, show_progress=False
    )
    assert is_trained(path)
    assert path == reference_dir(tmp_path, mini_world, "oracle", 10, TINY_MODEL, config)
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    again = train_reference(
        mini_world, "oracle", 10, TINY_MODEL, config, tmp_path, show_progress=False
    )
    assert again == path and (path / "model.safetensors").stat().st_mtime_ns == stamp
    other = reference_dir(tmp_path, mini_world, "oracle", 5, TINY_MODEL, config)
    assert other != path  # the oracle depends on the forget ratio; vanilla does not
    assert reference_dir(tmp_path, mini_world, "vanilla", 5, TINY_MODEL, config) == reference_dir(
        tmp_path, mini_world, "vanilla", 15, TINY_MODEL, config
    )


def test_loading_options_do_not_change_the_reference_cache_keys(mini_world: World) -> None:
    from smfa.reference import base_dir, cache_key

    loading = dataclasses.replace(
        TINY_MODEL,
        dtype="bf16",
        device="cuda",
        attn_implementation="sdpa",
        gradient_checkpointing=True,
    )
    assert cache_key(mini_world, "vanilla", 10, loading, QUICK_TRAIN) == cache_key(
        mini_world, "vanilla", 10, TINY_MODEL, QUICK_TRAIN
    )
    assert base_dir(Path("w"), mini_world, loading, 0) == base_dir(
        Path("w"), mini_world, TINY_MODEL, 0
    )
    trained = dataclasses.replace(TINY_MODEL, vision_steps=TINY_MODEL.vision_steps + 1)
    assert cache_key(mini_world, "vanilla", 10, trained, QUICK_TRAIN) != cache_key(
        mini_world, "vanilla", 10, TINY_MODEL, QUICK_TRAIN
    )


def test_bf16_autocast_only_where_the_device_computes_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import smfa.train

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for native, wanted in ((True, "bf16"), (False, "no")):
        monkeypatch.setattr(smfa.train, "cpu_computes_bf16", lambda native=native: native)
        assert smfa.train.mixed_precision(True) == wanted
        assert smfa.train.mixed_precision(False) == "no"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert smfa.train.mixed_precision(True) == "bf16"  # a GPU, whatever the CPU


def test_one_process_trains_at_both_precisions(mini_world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # An unlearn at unlearn.bf16=false, then its record's relearning attack in bf16: accelerate's
    # process-wide state refused the second precision ("AcceleratorState has already been
    # initialized") until the loop reset a single process's state.
    from accelerate.state import AcceleratorState

    import smfa.train

    monkeypatch.setattr(smfa.train, "cpu_computes_bf16", lambda: True)  # bf16 on any CPU
    model, processor = build_tiny_model(world_corpus(mini_world), "tiny", 32, seed=0)
    encoder = Encoder(processor)
    questions = mini_world.questions_where(kind="text_memory", phrasing="train")[:4]
    samples = [encoder.encode(q.id, q.question, q.answer, None) for q in questions]
    for bf16 in (False, True, False):
        config = LoopConfig(batch_size=4, bf16=bf16)
        result = train_loop(
            model, samples, Collator(encoder, train=True), config, show_progress=False
        )
        assert result.steps == 1
        assert AcceleratorState().mixed_precision == ("bf16" if bf16 else "no")
