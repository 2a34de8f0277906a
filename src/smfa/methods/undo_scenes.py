"""UNDO's self-generated scene inputs: fresh pictures of shapes, drawn by the world's own scene
generator with the method's seed, asked the training phrasings of the scene questions and
answered by the teacher (greedy). Nothing here is the world's: no scene of any split, no label.

The few-shot budget holds no scene question, and a student whose weights were shrunk and
noised relearns only what it is shown; without these it would lose how to read a picture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from smfa.data.batches import Encoder, Sample
from smfa.methods.vera_data import self_answers
from smfa.world import scenes
from smfa.world.templates import frames, scene_slots


def draw_scenes(folder: Path, count: int, size: int, seed: int) -> list[tuple[Path, list[str]]]:
    """`count` new scenes written as PNGs into `folder`, each with its question types."""
    rng = np.random.default_rng([seed, 59])
    folder.mkdir(parents=True, exist_ok=True)
    drawn = []
    for i in range(count):
        objects = scenes.draw_objects(rng)
        path = folder / f"scene{i:04d}.png"
        scenes.render_scene(objects, size, rng).save(path)
        drawn.append((path, scenes.applicable_questions(objects)))
    return drawn


def scene_inputs(
    teacher: Any,
    encoder: Encoder,
    pictures: Sequence[Path],
    folder: Path,
    wanted: int,
    seed: int,
    max_tokens: int,
) -> list[Sample]:
    """`wanted` questions about fresh scenes (the size of the budget's first picture): each
    scene's question types with one answer, each in one training phrasing, answered by the
    teacher (an empty answer is dropped)."""
    if wanted < 1:
        return []
    size = Image.open(pictures[0]).size[0] if pictures else 64
    rng = np.random.default_rng([seed, 61])
    asked = []
    for path, questions in draw_scenes(folder, math.ceil(wanted / 3), size, seed):
        for question in questions:  # at least 3 a scene: the count, a colour, a shape
            key, slots = scene_slots(question)
            options = frames("scene", key, "train")
            text = options[int(rng.integers(len(options)))].render(**slots)
            asked.append((f"scene:{path.stem}:{question}", text, path))
    answered = self_answers(teacher, encoder, asked[:wanted], max_tokens)
    return [Sample(s.key, s.prompt_ids, s.answer_ids, s.image, augment=False) for s in answered]
