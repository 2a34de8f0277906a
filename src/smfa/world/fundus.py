"""Procedural fundus-like medical images: their visible features, layout and drawing.

A dark orange-red disc on black, a pale optic disc on the left or right, dark vessels fanning out
of it, and a few round lesions. The features asked about are the disc side, the lesion count and
colour, the vessel count and the tint. Where the feature space allows, any two patients differ in
at least two features; where it does not, in at least one; beyond that the build refuses.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from smfa.errors import SmfaError
from smfa.world.draw import CANONICAL, Canvas, Colour, Jitter

FEATURES: dict[str, tuple[str, ...]] = {
    "disc_side": ("left", "right"),
    "lesion_count": ("1", "2", "3", "4"),
    "lesion_colour": ("yellow", "white", "black"),
    "vessel_count": ("3", "4", "5"),
    "tint": ("red", "orange", "brown"),
}

FEATURE_ANSWER_TYPES: dict[str, str] = {
    "disc_side": "position",
    "lesion_count": "count",
    "lesion_colour": "colour",
    "vessel_count": "count",
    "tint": "colour",
}

TINT: dict[str, Colour] = {"red": (186, 40, 28), "orange": (222, 116, 30), "brown": (122, 64, 38)}
LESION: dict[str, Colour] = {
    "yellow": (252, 232, 50),
    "white": (252, 252, 252),
    "black": (16, 16, 16),
}
VESSEL: Colour = (72, 6, 10)
DISC: Colour = (248, 228, 156)
RADIUS = 29.0


@dataclass(frozen=True)
class FundusLayout:
    """Where vessels and lesions go; fixed per patient so both views show the same eye."""

    vessel_angles: tuple[float, ...]
    lesions: tuple[tuple[float, float], ...]


def _distance(a: dict[str, str], b: dict[str, str]) -> int:
    return sum(a[name] != b[name] for name in a)


def choose_features(count: int, rng: np.random.Generator) -> list[dict[str, str]]:
    """`count` distinct feature sets, differing in two features each where the space allows."""
    names = list(FEATURES)
    combos = [
        dict(zip(names, values, strict=True)) for values in itertools.product(*FEATURES.values())
    ]
    if count > len(combos):
        raise SmfaError(
            f"{count} fundus patients but only {len(combos)} distinct fundus images exist; "
            "lower fundus_share"
        )
    order = [combos[i] for i in rng.permutation(len(combos))]
    chosen: list[dict[str, str]] = []
    for candidate in order:
        if all(_distance(candidate, other) >= 2 for other in chosen):
            chosen.append(candidate)
            if len(chosen) == count:
                return chosen
    return order[:count]


def _shade(colour: Colour, factor: float) -> Colour:
    return (int(colour[0] * factor), int(colour[1] * factor), int(colour[2] * factor))


def _disc_centre(side: str) -> tuple[float, float]:
    return (17.0 if side == "left" else 47.0, 32.0)


def draw_layout(features: dict[str, str], rng: np.random.Generator) -> FundusLayout:
    """Vessel angles fanning away from the disc, and lesions apart from the disc and each other."""
    vessels = int(features["vessel_count"])
    base = 0.0 if features["disc_side"] == "left" else 180.0
    spread = 150.0
    angles = tuple(
        base - spread / 2 + spread * i / (vessels - 1) + float(rng.uniform(-6.0, 6.0))
        for i in range(vessels)
    )
    disc = _disc_centre(features["disc_side"])
    lesions: list[tuple[float, float]] = []
    while len(lesions) < int(features["lesion_count"]):
        r = 20.0 * math.sqrt(float(rng.uniform(0.0, 1.0)))
        theta = float(rng.uniform(0.0, 2 * math.pi))
        point = (32.0 + r * math.cos(theta), 32.0 + r * math.sin(theta))
        if math.dist(point, disc) < 11.0:
            continue
        if any(math.dist(point, other) < 10.0 for other in lesions):
            continue
        lesions.append(point)
    return FundusLayout(vessel_angles=angles, lesions=tuple(lesions))


def _vessel_path(disc: tuple[float, float], angle: float) -> list[tuple[float, float]]:
    """A gently curving line from the disc to the rim of the fundus."""
    points = []
    for step in range(40):
        length = 4.0 + step * 1.2
        bend = math.radians(angle + 0.25 * step)
        point = (disc[0] + length * math.cos(bend), disc[1] + length * math.sin(bend))
        if math.dist(point, (32.0, 32.0)) > RADIUS - 2.0:
            break
        points.append(point)
    return points


def render_fundus(
    features: dict[str, str],
    layout: FundusLayout,
    size: int,
    jitter: Jitter = CANONICAL,
    rng: np.random.Generator | None = None,
) -> Image.Image:
    """Draw one fundus image from its features and fixed layout."""
    tint = TINT[features["tint"]]
    canvas = Canvas(size, (0, 0, 0), jitter)
    for radius, shade in (
        (RADIUS, 0.62),
        (RADIUS - 2.5, 0.78),
        (RADIUS - 6, 0.9),
        (RADIUS - 11, 1.0),
    ):
        canvas.circle(32, 32, radius, _shade(tint, shade))
    disc = _disc_centre(features["disc_side"])
    for angle in layout.vessel_angles:
        path = _vessel_path(disc, angle)
        if len(path) >= 2:
            canvas.line(path, VESSEL, 2.0)
    canvas.circle(disc[0], disc[1], 5.8, DISC, (255, 244, 200), 0.6)
    colour = LESION[features["lesion_colour"]]
    for x, y in layout.lesions:
        canvas.circle(x, y, 3.0, colour, (40, 10, 10), 0.4)
    return canvas.finish(rng)
