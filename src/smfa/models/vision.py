"""Vision pretraining for the tiny MLLM: teach its CLIP tower to see before it learns to talk.

Real MLLMs start from a pretrained vision encoder (LLaVA from CLIP). The tiny model has none to
download, so it gets one here: the tower is trained to name every visible feature of freshly
generated portraits, fundus images and scenes (random ones, never the world's people), from
the same patch features LLaVA hands to its projector. Fresh images every step, with the held-out
style jitter, is what lets image understanding carry over to re-rendered pictures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from smfa.world import fundus, portraits, scenes
from smfa.world.draw import CANONICAL, Jitter

NONE = "none"
# Share of each batch per image type: fundus features (counting lesions and vessels) are the
# hardest to see, scenes the easiest.
MIX: dict[str, float] = {"portrait": 0.35, "fundus": 0.45, "scene": 0.2}
# Per image type: the features a head must name, with their possible values.
TASKS: dict[str, dict[str, tuple[str, ...]]] = {
    "portrait": dict(portraits.FEATURES),
    "fundus": dict(fundus.FEATURES),
    "scene": {
        f"{what}_{position}": (NONE, *values)
        for position in scenes.POSITIONS
        for what, values in (("shape", scenes.SHAPES), ("colour", scenes.COLOURS))
    },
}


def random_image(kind: str, size: int, rng: np.random.Generator) -> tuple[Image.Image, dict]:
    """A fresh random picture of `kind` and the value of every feature of its task."""
    jitter = Jitter.draw(rng) if rng.random() < 0.75 else CANONICAL
    if kind == "portrait":
        features = {k: str(rng.choice(v)) for k, v in portraits.FEATURES.items()}
        return portraits.render_portrait(features, size, jitter, rng), features
    if kind == "fundus":
        features = {k: str(rng.choice(v)) for k, v in fundus.FEATURES.items()}
        layout = fundus.draw_layout(features, rng)
        return fundus.render_fundus(features, layout, size, jitter, rng), features
    objects = scenes.draw_objects(rng)
    labels = {name: NONE for name in TASKS["scene"]}
    for obj in objects:
        labels[f"shape_{obj['position']}"] = obj["shape"]
        labels[f"colour_{obj['position']}"] = obj["colour"]
    return scenes.render_scene(objects, size, rng), labels


class FeatureHeads(nn.Module):
    """One linear classifier per feature, applied to every patch feature on its own.

    Asking each patch token to name every feature of the whole picture puts the full
    description in every token the projector hands to the language model, so reading "hair
    colour" is one attention step to any image token rather than a puzzle spread over many.
    """

    def __init__(self, width: int):
        super().__init__()
        self.heads = nn.ModuleDict(
            {
                f"{kind}__{name}": nn.Linear(width, len(values))
                for kind, task in TASKS.items()
                for name, values in task.items()
            }
        )

    def forward(self, kind: str, name: str, features: torch.Tensor) -> torch.Tensor:
        """Logits per patch token: (batch, tokens, values)."""
        return self.heads[f"{kind}__{name}"](features)


def token_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every token's prediction against the picture's label."""
    tokens = logits.shape[1]
    return nn.functional.cross_entropy(logits.flatten(0, 1), target.repeat_interleave(tokens))


def patch_features(model: Any, pixel_values: torch.Tensor) -> torch.Tensor:
    """The patch features LLaVA's projector reads (layer and CLS handling from the config)."""
    config = model.config
    output = model.model.vision_tower(pixel_values, output_hidden_states=True, return_dict=True)
    hidden = output.hidden_states[config.vision_feature_layer]
    return hidden[:, 1:] if config.vision_feature_select_strategy == "default" else hidden


def image_pool(
    kind: str, count: int, image_size: int, image_processor: Any, rng: np.random.Generator
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """`count` fresh pictures of `kind` as pixel values, with each feature's class index."""
    images, labels = zip(*(random_image(kind, image_size, rng) for _ in range(count)), strict=True)
    pixels = image_processor(list(images), return_tensors="pt")["pixel_values"]
    targets = {
        name: torch.tensor([values.index(label[name]) for label in labels])
        for name, values in TASKS[kind].items()
    }
    return pixels, targets


def pool_sizes(steps: int, batch_size: int, reuse: int = 3) -> dict[str, tuple[int, int]]:
    """Per image kind: pictures per step, and pictures in the pool drawn once for `steps` steps
    (each met about `reuse` times)."""
    per_step = {kind: max(1, round(share * batch_size)) for kind, share in MIX.items()}
    return {kind: (count, max(count, steps * count // reuse)) for kind, count in per_step.items()}


def pretrain_vision(
    model: Any,
    image_processor: Any,
    image_size: int,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    on_step: Callable[[int, int, float], None] | None = None,
    reuse: int = 3,
) -> dict[str, float]:
    """Train the vision tower in place; returns accuracy per image type on fresh pictures."""
    tower = model.model.vision_tower
    torch.manual_seed(seed)
    with torch.no_grad():
        probe = patch_features(model, torch.zeros(1, 3, image_size, image_size))
    heads = FeatureHeads(probe.shape[2])
    params = [*tower.parameters(), *heads.parameters()]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, lr, total_steps=max(1, steps), pct_start=0.1
    )
    rng = np.random.default_rng([seed, 11])
    sizes = pool_sizes(steps, batch_size, reuse)
    per_kind = {kind: count for kind, (count, _) in sizes.items()}
    # Rendering is the slow part: draw a pool once (each picture is met about `reuse` times)
    # instead of fresh pictures every step.
    pools = {
        kind: image_pool(kind, pool, image_size, image_processor, rng)
        for kind, (_, pool) in sizes.items()
    }
    tower.train()
    for step in range(steps):
        loss = torch.zeros(())
        for kind, count in per_kind.items():
            pixels, targets = pools[kind]
            index = torch.from_numpy(rng.integers(len(pixels), size=count))
            features = patch_features(model, pixels[index])
            for name, target in targets.items():
                loss = loss + token_loss(heads(kind, name, features), target[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        if on_step is not None:
            on_step(step + 1, steps, float(loss.detach()))
    tower.eval()
    return vision_accuracy(model, heads, image_processor, image_size, seed)


@torch.inference_mode()
def vision_accuracy(
    model: Any,
    heads: FeatureHeads,
    image_processor: Any,
    image_size: int,
    seed: int,
    count: int = 96,
) -> dict[str, float]:
    """Share of features named correctly on fresh jittered images, per image type."""
    rng = np.random.default_rng([seed, 12])
    scores = {}
    for kind, task in TASKS.items():
        images, labels = zip(
            *(random_image(kind, image_size, rng) for _ in range(count)), strict=True
        )
        pixels = image_processor(list(images), return_tensors="pt")["pixel_values"]
        features = patch_features(model, pixels)
        right = total = 0
        for name, values in task.items():
            guess = heads(kind, name, features).mean(1).argmax(-1).tolist()
            right += sum(values[g] == label[name] for g, label in zip(guess, labels, strict=True))
            total += len(labels)
        scores[kind] = right / total
    return scores
