"""General scenes not tied to any person: one to three shapes on a light background.

They stand in for general visual benchmarks and measure collateral damage far from the forget
images. Each scene holds distinct shape kinds in distinct columns, so "what colour is the circle"
and "which shape is on the left" always have exactly one answer.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from smfa.world.draw import Canvas, Colour

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
COLOURS: tuple[str, ...] = ("red", "green", "blue", "yellow")
POSITIONS: tuple[str, ...] = ("left", "middle", "right")
SPLITS: tuple[str, ...] = ("train", "validation", "heldout")

QUESTION_ANSWER_TYPES: dict[str, str] = {
    "count": "count",
    "colour_of": "colour",
    "shape_at": "shape",
}

PAINT: dict[str, Colour] = {
    "red": (222, 38, 38),
    "green": (34, 168, 58),
    "blue": (38, 78, 222),
    "yellow": (240, 196, 20),
}
COLUMN_X: dict[str, float] = {"left": 11.0, "middle": 32.0, "right": 53.0}
OUTLINE: Colour = (40, 40, 40)

SceneObject = dict[str, str]


def draw_objects(rng: np.random.Generator) -> list[SceneObject]:
    """One to three objects of distinct shapes in distinct columns, ordered left to right."""
    count = int(rng.integers(1, 4))
    shapes = [SHAPES[i] for i in rng.permutation(len(SHAPES))[:count]]
    columns = sorted(int(i) for i in rng.permutation(len(POSITIONS))[:count])
    return [
        {
            "shape": shape,
            "colour": COLOURS[int(rng.integers(len(COLOURS)))],
            "position": POSITIONS[column],
        }
        for shape, column in zip(shapes, columns, strict=True)
    ]


def render_scene(objects: list[SceneObject], size: int, rng: np.random.Generator) -> Image.Image:
    """Draw the objects at 16-20 grid px, with a slightly varied light background."""
    shade = [int(v) for v in rng.integers(226, 246, size=3)]
    canvas = Canvas(size, (shade[0], shade[1], shade[2]))
    for obj in objects:
        half = float(rng.uniform(8.0, 10.0))
        x = COLUMN_X[obj["position"]] + float(rng.uniform(-0.8, 0.8))
        y = float(rng.uniform(16.0, 48.0))
        paint = PAINT[obj["colour"]]
        if obj["shape"] == "circle":
            canvas.circle(x, y, half, paint, OUTLINE, 0.6)
        elif obj["shape"] == "square":
            canvas.rect(
                x - half * 0.9, y - half * 0.9, x + half * 0.9, y + half * 0.9, paint, OUTLINE, 0.6
            )
        else:
            canvas.polygon(
                [(x, y - half), (x + half, y + half * 0.8), (x - half, y + half * 0.8)],
                paint,
                OUTLINE,
                0.6,
            )
    return canvas.finish()


def applicable_questions(objects: list[SceneObject]) -> list[str]:
    """Question types with exactly one answer in this scene, e.g. "colour_of_circle"."""
    return (
        ["count"]
        + [f"colour_of_{obj['shape']}" for obj in objects]
        + [f"shape_at_{obj['position']}" for obj in objects]
    )


def answer(objects: list[SceneObject], question: str) -> str:
    """The bare answer to one applicable question type."""
    if question == "count":
        return str(len(objects))
    for obj in objects:
        if question == f"colour_of_{obj['shape']}":
            return obj["colour"]
        if question == f"shape_at_{obj['position']}":
            return obj["shape"]
    raise KeyError(question)


def legal_values(question: str) -> tuple[str, ...]:
    """Every value an answer to this question type could take (for distractors)."""
    if question == "count":
        return ("1", "2", "3")
    return COLOURS if question.startswith("colour_of_") else SHAPES
