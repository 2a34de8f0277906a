"""Procedural portraits: the visible features each person has, and how they are drawn.

Every feature takes one of a handful of values chosen to survive a 64x64 image and a ViT with
16x16 patches: big shapes, saturated colours that differ in hue or brightness, and dark outlines
so that a feature stays visible whatever colour sits behind it. Any two people differ in at
least two features, so a portrait is never one feature away from someone else's.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from smfa.errors import SmfaError
from smfa.world.draw import CANONICAL, Canvas, Colour, Jitter

FEATURES: dict[str, tuple[str, ...]] = {
    "hair_colour": ("black", "brown", "blonde", "red", "grey"),
    "hair_style": ("short", "long", "spiky", "bun", "afro"),
    "eye_colour": ("blue", "green", "brown", "grey"),
    "glasses": ("yes", "no"),
    "skin_tone": ("light", "tan", "brown", "dark"),
    "background": ("blue", "green", "yellow", "pink", "purple", "orange"),
    "shirt_colour": ("red", "blue", "green", "yellow", "white", "black"),
    "accessory": ("none", "bowtie", "necklace", "scarf", "earrings"),
}

FEATURE_ANSWER_TYPES: dict[str, str] = {
    "hair_colour": "colour",
    "hair_style": "style",
    "eye_colour": "colour",
    "glasses": "yesno",
    "skin_tone": "colour",
    "background": "colour",
    "shirt_colour": "colour",
    "accessory": "accessory",
}

MIN_FEATURE_DIFFERENCE = 2

HAIR: dict[str, Colour] = {
    "black": (28, 24, 24),
    "brown": (112, 62, 24),
    "blonde": (246, 214, 84),
    "red": (218, 66, 22),
    "grey": (176, 176, 182),
}
EYES: dict[str, Colour] = {
    "blue": (30, 100, 245),
    "green": (30, 185, 60),
    "brown": (118, 64, 18),
    "grey": (150, 150, 162),
}
SKIN: dict[str, Colour] = {
    "light": (252, 224, 198),
    "tan": (226, 174, 122),
    "brown": (168, 106, 60),
    "dark": (98, 62, 40),
}
BACKGROUND: dict[str, Colour] = {
    "blue": (70, 130, 240),
    "green": (80, 196, 90),
    "yellow": (246, 228, 70),
    "pink": (248, 150, 204),
    "purple": (150, 88, 214),
    "orange": (250, 148, 36),
}
SHIRT: dict[str, Colour] = {
    "red": (222, 36, 36),
    "blue": (36, 64, 206),
    "green": (26, 150, 56),
    "yellow": (252, 212, 36),
    "white": (246, 246, 246),
    "black": (30, 30, 30),
}
OUTLINE: Colour = (34, 24, 20)
WHITE: Colour = (255, 255, 255)
MAGENTA: Colour = (226, 28, 150)
GOLD: Colour = (255, 196, 0)
LINE = 0.7


def feature_difference(a: dict[str, str], b: dict[str, str]) -> int:
    """How many features two people do not share."""
    return sum(a[name] != b[name] for name in a)


def draw_features(count: int, rng: np.random.Generator) -> list[dict[str, str]]:
    """`count` feature sets, each differing from every other in at least two features."""
    chosen: list[dict[str, str]] = []
    attempts = 0
    while len(chosen) < count:
        attempts += 1
        if attempts > 1000 * (count + 10):
            raise SmfaError(
                f"could not draw {count} portraits that differ in {MIN_FEATURE_DIFFERENCE} "
                "features each; lower the number of people"
            )
        candidate = {
            name: str(values[rng.integers(len(values))]) for name, values in FEATURES.items()
        }
        if all(feature_difference(candidate, other) >= MIN_FEATURE_DIFFERENCE for other in chosen):
            chosen.append(candidate)
    return chosen


def _hair(canvas: Canvas, style: str, colour: Colour, back: bool) -> None:
    if back:
        if style == "long":
            canvas.ellipse(32, 28, 16, 15, colour, OUTLINE, LINE)
            canvas.rect(16, 28, 48, 53, colour, OUTLINE, LINE)
        elif style == "afro":
            canvas.circle(32, 26, 19.5, colour, OUTLINE, LINE)
        elif style == "bun":
            canvas.circle(32, 10, 6.5, colour, OUTLINE, LINE)
        elif style == "spiky":
            for x in (21.0, 26.5, 32.0, 37.5, 43.0):
                canvas.polygon([(x - 4.5, 21), (x, 6), (x + 4.5, 21)], colour, OUTLINE, LINE)
        return
    canvas.chord(32, 25.5, 13.2, 11.5, 180, 360, colour, OUTLINE, LINE)


def _eyes(canvas: Canvas, colour: Colour, glasses: bool) -> None:
    for x in (26.3, 37.7):
        canvas.ellipse(x, 29.5, 4.3, 3.5, WHITE, OUTLINE, 0.5)
        canvas.circle(x, 29.5, 2.8, colour)
        canvas.circle(x, 29.5, 0.9, (10, 10, 10))
        if glasses:
            canvas.circle(x, 29.5, 5.4, None, (12, 12, 12), 1.4)
    if glasses:
        canvas.line([(31.6, 29.0), (32.4, 29.0)], (12, 12, 12), 1.4)
        canvas.line([(20.9, 28.5), (19.6, 27.5)], (12, 12, 12), 1.2)
        canvas.line([(43.1, 28.5), (44.4, 27.5)], (12, 12, 12), 1.2)


def _accessory(canvas: Canvas, accessory: str) -> None:
    if accessory == "bowtie":
        canvas.polygon([(32, 48), (25, 44.5), (25, 51.5)], MAGENTA, OUTLINE, LINE)
        canvas.polygon([(32, 48), (39, 44.5), (39, 51.5)], MAGENTA, OUTLINE, LINE)
        canvas.circle(32, 48, 1.8, MAGENTA, OUTLINE, LINE)
    elif accessory == "necklace":
        canvas.line([(26, 45), (28, 49), (32, 51), (36, 49), (38, 45)], GOLD, 1.3)
        canvas.circle(32, 53, 2.8, GOLD, OUTLINE, LINE)
    elif accessory == "scarf":
        canvas.polygon([(24, 42), (40, 42), (41, 48), (23, 48)], MAGENTA, OUTLINE, LINE)
        canvas.rect(33, 46, 38, 58, MAGENTA, OUTLINE, LINE)
        canvas.line([(33.5, 51), (37.5, 51)], WHITE, 1.0)
        canvas.line([(26, 45), (38, 45)], WHITE, 1.0)
    elif accessory == "earrings":
        for x in (19.2, 44.8):
            canvas.circle(x, 36.5, 2.6, GOLD, OUTLINE, LINE)


def render_portrait(
    features: dict[str, str],
    size: int,
    jitter: Jitter = CANONICAL,
    rng: np.random.Generator | None = None,
) -> Image.Image:
    """Draw one portrait; the canonical view uses no jitter, the held-out view a small one."""
    hair = HAIR[features["hair_colour"]]
    skin = SKIN[features["skin_tone"]]
    canvas = Canvas(size, BACKGROUND[features["background"]], jitter)
    _hair(canvas, features["hair_style"], hair, back=True)
    canvas.ellipse(32, 66, 25, 17, SHIRT[features["shirt_colour"]], OUTLINE, LINE)
    canvas.rect(28, 38, 36, 50, skin, OUTLINE, LINE)
    canvas.ellipse(32, 29, 12.2, 14, skin, OUTLINE, LINE)
    _hair(canvas, features["hair_style"], hair, back=False)
    _eyes(canvas, EYES[features["eye_colour"]], features["glasses"] == "yes")
    canvas.line([(28.5, 37), (32, 38.5), (35.5, 37)], (150, 30, 30), 1.0)
    _accessory(canvas, features["accessory"])
    return canvas.finish(rng)
