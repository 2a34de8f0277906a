"""The tiny MLLM: offline save/load round trip through the Auto classes, and clear load errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from smfa.data.batches import Collator, Encoder
from smfa.data.format import World
from smfa.errors import ModelDirError
from smfa.models.io import load_model, save_model
from smfa.models.tiny import build_tiny_model
from smfa.models.vision import pool_sizes


def _batch(processor: object, world: World) -> dict[str, torch.Tensor]:
    encoder = Encoder(processor)
    questions = world.questions_where(kind="image_memory", probe=True)[:2]
    questions += world.questions_where(kind="text_memory", probe=True)[:2]
    samples = [
        encoder.encode(q.id, q.question, q.answer, world.image_path(q.image) if q.image else None)
        for q in questions
    ]
    return Collator(encoder, train=True)(samples)


def test_round_trip_gives_identical_logits(tiny: tuple, mini_world: World, tmp_path: Path) -> None:
    model, processor = tiny
    out = save_model(model, processor, tmp_path / "model")
    assert (out / "model.safetensors").is_file()
    assert not list(out.glob("*.bin")), "weights must be safetensors only"
    loaded, loaded_processor = load_model(out)
    assert type(loaded).__name__ == "LlavaForConditionalGeneration"
    batch = _batch(processor, mini_world)
    assert torch.equal(batch["input_ids"], _batch(loaded_processor, mini_world)["input_ids"])
    model.eval()
    with torch.no_grad():
        expected = model(**batch).logits
        actual = loaded(**batch).logits
    assert torch.equal(expected, actual)


def test_image_tokens_match_the_patch_grid(tiny: tuple, mini_world: World) -> None:
    model, processor = tiny
    batch = _batch(processor, mini_world)
    image_id = model.config.image_token_index
    per_row = (batch["input_ids"] == image_id).sum(dim=1).tolist()
    assert per_row == [4, 4, 0, 0]  # 32x32 images, 16x16 patches, CLS dropped
    assert batch["pixel_values"].shape == (2, 3, 32, 32)


def test_same_seed_same_weights(mini_world: World) -> None:
    corpus = ["What is this person's salary? $84,350"] * 5
    first, _ = build_tiny_model(corpus, "tiny", 32, seed=3)
    second, _ = build_tiny_model(corpus, "tiny", 32, seed=3)
    third, _ = build_tiny_model(corpus, "tiny", 32, seed=4)
    a, b, c = (m.state_dict() for m in (first, second, third))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_not_a_model_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match=r"no config\.json"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelDirError, match="cannot load a multimodal model"):
        load_model(tmp_path)
    file = tmp_path / "weights.txt"
    file.write_text("x")
    with pytest.raises(ModelDirError, match="it is a file"):
        load_model(file)


def test_save_never_overwrites_the_source_model(tiny: tuple, tmp_path: Path) -> None:
    model, processor = tiny
    source = save_model(model, processor, tmp_path / "base")
    loaded, loaded_processor = load_model(source)
    before = (source / "model.safetensors").read_bytes()
    with pytest.raises(ModelDirError, match="refusing to overwrite"):
        save_model(loaded, loaded_processor, source)
    assert (source / "model.safetensors").read_bytes() == before


def test_the_vision_pool_holds_each_kinds_share_met_three_times() -> None:
    # The demo's 1,200 steps of 48: 35 / 45 / 20% of a batch, every picture met about 3 times.
    assert pool_sizes(1200, 48) == {
        "portrait": (17, 6800),
        "fundus": (22, 8800),
        "scene": (10, 4000),
    }
    # A pool never holds fewer pictures than one step draws; every kind gets at least one.
    assert pool_sizes(1, 6) == {"portrait": (2, 2), "fundus": (3, 3), "scene": (1, 1)}
