"""Supersampled drawing on a 64-unit design grid, shared by portraits, fundus images and scenes.

Every world image is drawn at 4x its final size in the coordinates of a 64x64 grid, optionally
moved and scaled about the centre (the held-out view's jitter), then downsampled with LANCZOS.
Brightness and pixel noise are applied after downsampling, so the canonical view stays clean.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

GRID = 64
SUPERSAMPLE = 4

Colour = tuple[int, int, int]
Point = tuple[float, float]


@dataclass(frozen=True)
class Jitter:
    """How a held-out view departs from the canonical one (grid units; noise in 0-255 units)."""

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    brightness: float = 1.0
    noise: float = 0.0

    @staticmethod
    def draw(rng: np.random.Generator) -> Jitter:
        """A small random departure: offset up to 3 grid px, scale and brightness within 8%."""
        return Jitter(
            dx=float(rng.uniform(-3.0, 3.0)),
            dy=float(rng.uniform(-3.0, 3.0)),
            scale=float(rng.uniform(0.94, 1.06)),
            brightness=float(rng.uniform(0.92, 1.08)),
            noise=4.0,
        )


CANONICAL = Jitter()


class Canvas:
    """A 4x supersampled RGB canvas addressed in 64-grid units, with the jitter built in."""

    def __init__(self, size: int, background: Colour, jitter: Jitter = CANONICAL) -> None:
        self.size = size
        self.jitter = jitter
        self._k = size * SUPERSAMPLE / GRID
        self.image = Image.new("RGB", (size * SUPERSAMPLE, size * SUPERSAMPLE), background)
        self._draw = ImageDraw.Draw(self.image)

    def _xy(self, x: float, y: float) -> Point:
        j = self.jitter
        half = GRID / 2
        return (
            (half + (x - half) * j.scale + j.dx) * self._k,
            (half + (y - half) * j.scale + j.dy) * self._k,
        )

    def _len(self, value: float) -> float:
        return value * self.jitter.scale * self._k

    def _width(self, value: float) -> int:
        return max(1, round(self._len(value))) if value > 0 else 0

    def _box(self, cx: float, cy: float, rx: float, ry: float) -> list[float]:
        x, y = self._xy(cx, cy)
        return [x - self._len(rx), y - self._len(ry), x + self._len(rx), y + self._len(ry)]

    def ellipse(
        self,
        cx: float,
        cy: float,
        rx: float,
        ry: float,
        fill: Colour | None,
        outline: Colour | None = None,
        width: float = 0.0,
    ) -> None:
        self._draw.ellipse(
            self._box(cx, cy, rx, ry),
            fill=fill,
            outline=outline,
            width=self._width(width) if outline else 0,
        )

    def circle(
        self,
        cx: float,
        cy: float,
        r: float,
        fill: Colour | None,
        outline: Colour | None = None,
        width: float = 0.0,
    ) -> None:
        self.ellipse(cx, cy, r, r, fill, outline, width)

    def chord(
        self,
        cx: float,
        cy: float,
        rx: float,
        ry: float,
        start: float,
        end: float,
        fill: Colour,
        outline: Colour | None = None,
        width: float = 0.0,
    ) -> None:
        self._draw.chord(
            self._box(cx, cy, rx, ry),
            start,
            end,
            fill=fill,
            outline=outline,
            width=self._width(width) if outline else 0,
        )

    def polygon(
        self,
        points: Sequence[Point],
        fill: Colour | None,
        outline: Colour | None = None,
        width: float = 0.0,
    ) -> None:
        xy = [self._xy(x, y) for x, y in points]
        self._draw.polygon(
            xy, fill=fill, outline=outline, width=self._width(width) if outline else 0
        )

    def rect(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        fill: Colour,
        outline: Colour | None = None,
        width: float = 0.0,
    ) -> None:
        self.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], fill, outline, width)

    def line(self, points: Sequence[Point], fill: Colour, width: float) -> None:
        xy = [self._xy(x, y) for x, y in points]
        self._draw.line(xy, fill=fill, width=self._width(width), joint="curve")

    def finish(self, rng: np.random.Generator | None = None) -> Image.Image:
        """Downsample to the final size, then apply the jitter's brightness and noise."""
        small = self.image.resize((self.size, self.size), Image.Resampling.LANCZOS)
        return shade(small, self.jitter, rng)


def shade(image: Image.Image, jitter: Jitter, rng: np.random.Generator | None) -> Image.Image:
    """`image` (RGB) with the jitter's brightness and pixel noise applied."""
    if jitter.brightness == 1.0 and jitter.noise == 0.0:
        return image
    pixels = np.asarray(image, dtype=np.float64) * jitter.brightness
    if jitter.noise > 0.0:
        if rng is None:
            raise ValueError("a noisy jitter needs a random generator")
        pixels = pixels + rng.normal(0.0, jitter.noise, pixels.shape)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")


def jitter_image(image: Image.Image, jitter: Jitter, rng: np.random.Generator) -> Image.Image:
    """A held-out view of a finished picture (a photo): the canvas jitter applied to pixels.

    Moved by (dx, dy) grid units and scaled about the centre as `Canvas` draws a held-out
    view (a grid unit is 1/64 of the picture's side), the uncovered border filled with the
    picture's mean border colour, then shaded like `Canvas.finish`."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    pixels = np.asarray(rgb, dtype=np.float64)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    fill = tuple(int(v) for v in np.rint(border.mean(axis=0)))
    inverse = 1.0 / jitter.scale
    cx, cy = width / 2, height / 2
    ox, oy = cx + jitter.dx * width / GRID, cy + jitter.dy * height / GRID
    # Output (x, y) shows input ((x - ox) / scale + cx, (y - oy) / scale + cy).
    affine = (inverse, 0.0, cx - ox * inverse, 0.0, inverse, cy - oy * inverse)
    moved = rgb.transform(
        (width, height),
        Image.Transform.AFFINE,
        affine,
        resample=Image.Resampling.BICUBIC,
        fillcolor=fill,
    )
    return shade(moved, jitter, rng)


def png_bytes(image: Image.Image) -> bytes:
    """PNG bytes with no metadata, so the same pixels always give the same file."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
