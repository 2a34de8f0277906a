"""Image transforms: exact on hand-made pictures, deterministic, cached, image questions only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from smfa.attacks.images import Flip, Jpeg, crop_resize, flip, jpeg, noise, transformed
from smfa.data.format import World
from tests.conftest import attack_session, probe_rows


def _picture() -> Image.Image:
    pixels = np.zeros((8, 10, 3), dtype=np.uint8)
    pixels[:, :5] = (255, 0, 0)  # left half red, right half black
    return Image.fromarray(pixels)


def test_transforms_on_a_hand_made_picture() -> None:
    image = _picture()
    flipped = np.asarray(flip(image, 0))
    assert tuple(flipped[0, 9]) == (255, 0, 0) and tuple(flipped[0, 0]) == (0, 0, 0)
    assert crop_resize(image, 0).size == image.size
    a, b = np.asarray(noise(image, 1)), np.asarray(noise(image, 1))
    assert np.array_equal(a, b) and not np.array_equal(a, np.asarray(image))
    assert not np.array_equal(np.asarray(noise(image, 2)), a)  # the seed matters
    assert jpeg(image, 0).size == image.size


def test_transformed_images_are_written_once(tmp_path: Path) -> None:
    source = tmp_path / "face.png"
    _picture().save(source)
    out = transformed(source, tmp_path / "flip", flip)
    stamp = out.stat().st_mtime_ns
    assert transformed(source, tmp_path / "flip", flip) == out and out.stat().st_mtime_ns == stamp
    with Image.open(out) as written:
        assert np.array_equal(np.asarray(written), np.asarray(flip(_picture(), 0)))


def test_only_questions_with_a_picture_are_asked(
    tiny: tuple, mini_world: World, tmp_path: Path
) -> None:
    person = mini_world.splits.forget[10][0]
    forget = [
        q for q in mini_world.questions_where(subject=person, phrasing="heldout") if q.kind in (
            "image_memory", "text_memory")
    ]  # fmt: skip
    with_image = [q for q in forget if q.image]
    target = attack_session(*tiny, mini_world, forget, [], tmp_path, max_new_tokens=4)
    for attack in (Flip(), Jpeg()):
        rows = probe_rows(attack, target)
        pooled = next(r for r in rows if r["kind"] == "all")
        assert pooled["n"] == len(with_image) and {r["kind"] for r in rows} == {
            "all",
            "image_memory",
        }
    assert len(list((tmp_path / "attacks" / "images").rglob("*.png"))) == 2 * len(
        {q.image for q in with_image}
    )
