"""Image transforms: the forget people's pictures mirrored, re-cropped, noisy or JPEG-compressed.

Unlearning that keys on the exact pixels of the pictures it saw can miss the same face seen a
little differently. Each transform is deterministic (noise is seeded by the image's path) and
its images are written once under workdir/attacks/images/<world>/<transform>/, so they can be
looked at and are reused by every model. Only questions with an image are asked.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image, ImageOps

from smfa.data.records import Question
from smfa.eval.probe import Answer, Probe, Prompt, Session, ask_both
from smfa.io import atomic_write_bytes

Transform = Callable[[Image.Image, int], Image.Image]


def flip(image: Image.Image, seed: int) -> Image.Image:
    return ImageOps.mirror(image)


def crop_resize(image: Image.Image, seed: int) -> Image.Image:
    """The central 80% of the picture, scaled back to full size."""
    width, height = image.size
    dx, dy = round(width * 0.1), round(height * 0.1)
    box = (dx, dy, width - dx, height - dy)
    return image.crop(box).resize(image.size, Image.Resampling.BICUBIC)


def noise(image: Image.Image, seed: int) -> Image.Image:
    """Gaussian pixel noise, standard deviation 12 of 255."""
    rng = np.random.default_rng(seed)
    pixels = np.asarray(image, dtype=np.float32)
    noisy = pixels + rng.normal(0.0, 12.0, size=pixels.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8))


def jpeg(image: Image.Image, seed: int) -> Image.Image:
    """A JPEG round trip at quality 30."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=30)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def transformed(source: Path, root: Path, transform: Transform) -> Path:
    """The transformed copy of `source` (a PNG under `root`), written on first use."""
    out = root / source.name
    if not out.is_file():
        with Image.open(source) as handle:
            image = handle.convert("RGB")
        buffer = io.BytesIO()
        transform(image, zlib.crc32(str(source.name).encode())).save(buffer, format="PNG")
        atomic_write_bytes(out, buffer.getvalue())
    return out


class ImageAttack(Probe):
    family = "image"
    transform: ClassVar[Transform]

    def ask(self, session: Session) -> list[Answer]:
        world = session.world
        root = session.workdir / "attacks" / "images" / world.world_hash[:12] / self.name

        def prompt(q: Question) -> Prompt:
            source = world.image_path(str(q.image))
            image = transformed(source, root / Path(str(q.image)).parent, type(self).transform)
            return Prompt(q, q.question, image)

        return ask_both(session.model, session, prompt, self.name, keep=lambda q: bool(q.image))


class Flip(ImageAttack):
    name = "flip"
    summary = "the picture mirrored left to right"
    transform = staticmethod(flip)


class CropResize(ImageAttack):
    name = "crop_resize"
    summary = "the central 80% of the picture, resized back"
    transform = staticmethod(crop_resize)


class Noise(ImageAttack):
    name = "noise"
    summary = "Gaussian pixel noise (sd 12/255)"
    transform = staticmethod(noise)


class Jpeg(ImageAttack):
    name = "jpeg"
    summary = "JPEG compression at quality 30"
    transform = staticmethod(jpeg)
