"""Visual instruction pretraining: teach the tiny MLLM's language side to read what it sees.

The second half of building the base model, after `vision.pretrain_vision`, and the tiny
counterpart of LLaVA's alignment stage: the projector and language model learn to answer
feature questions ("what colour is this person's hair?", "how many lesions can you see?",
"what shape is on the left?") about freshly generated pictures, never the world's people, with
the world's training wordings only. After it, understanding a world image is perception rather
than memorization, which is what lets it carry over to re-rendered pictures and unseen scenes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from smfa.config import TrainConfig
from smfa.data.batches import Collator, Encoder, Sample
from smfa.models.vision import random_image
from smfa.train import train_loop
from smfa.world import scenes
from smfa.world.templates import FAMILIES, frames, scene_slots

# Share of each kind of picture in the alignment data.
MIX: dict[str, float] = {"portrait": 0.45, "fundus": 0.25, "scene": 0.30}
FEATURE_FAMILY = {"portrait": "portrait_feature", "fundus": "fundus_feature"}


def visual_question(kind: str, image_size: int, rng: np.random.Generator) -> tuple[Any, str, str]:
    """A fresh (image, question, answer) about one visible feature, in a training wording."""
    image, labels = random_image(kind, image_size, rng)
    if kind in FEATURE_FAMILY:
        family = FEATURE_FAMILY[kind]
        attribute = str(rng.choice(sorted(FAMILIES[family])))
        choices = frames(family, attribute, "train")
        frame = choices[int(rng.integers(len(choices)))]
        return image, frame.render(), labels[attribute]
    objects = [
        {"shape": labels[f"shape_{p}"], "colour": labels[f"colour_{p}"], "position": p}
        for p in scenes.POSITIONS
        if labels[f"shape_{p}"] != "none"
    ]
    question = str(rng.choice(scenes.applicable_questions(objects)))
    family, slots = scene_slots(question)
    choices = frames("scene", family, "train")
    frame = choices[int(rng.integers(len(choices)))]
    return image, frame.render(**slots), scenes.answer(objects, question)


def align(
    model: Any,
    processor: Any,
    image_size: int,
    steps: int,
    config: TrainConfig,
    on_step: Callable[[int, int, float], None] | None = None,
) -> float:
    """Train projector + language model (vision tower frozen) in place; returns the final loss."""
    rng = np.random.default_rng([config.seed, 13])
    kinds = list(MIX)
    weights = np.array([MIX[k] for k in kinds])
    encoder = Encoder(processor)
    samples: list[Sample] = []
    for index in range(steps * config.batch_size):
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        image, question, answer = visual_question(kind, image_size, rng)
        samples.append(encoder.encode(f"align-{index}", question, answer, image))
    model.model.vision_tower.requires_grad_(False)
    result = train_loop(
        model,
        samples,
        Collator(encoder, train=True),
        config,
        description="align vision and language",
        show_progress=False,
        on_step=on_step,
    )
    model.model.vision_tower.requires_grad_(True)
    return result.final_loss
