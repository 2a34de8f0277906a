"""The reference models: vanilla (trained on everything) and oracle (never saw the forget people's
memory questions), trained identically from the same base model and cached.

The base model is the tiny MLLM before it meets the world's people: tokenizer trained on the
world's text, random language model, vision tower pretrained on fresh generated images. Cache
keys are made of the world's hash, the role (and forget ratio for the oracle), the model and
training configs and a schema version: the same inputs reuse a model, any change retrains it.
Under `accelerate launch` the main process builds the base first, every process trains its
share of each batch, and the main process saves.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smfa.config import ModelConfig, TrainConfig
from smfa.data.batches import Collator, Encoder, LengthSplit, Sample, split_loss
from smfa.data.format import Question, World
from smfa.distributed import barrier, is_distributed, is_main, main_process_first
from smfa.errors import SmfaError
from smfa.io import canonical_json, out_lock, sha256_text
from smfa.models.io import load_model, save_model, weights_problem
from smfa.models.tiny import build_tiny_model
from smfa.models.vision import pretrain_vision
from smfa.protocol.questions import training_questions
from smfa.train import LossFn, default_loss, mixed_precision, train_loop
from smfa.vocab import Kind
from smfa.world.refusals import refusal_pool

ROLES = ("vanilla", "oracle")
# Bumped when what is cached changes: the base model (tokenizer, vision pretraining) and the
# trained reference models separately, so a training change keeps the cached base.
BASE_SCHEMA = 3  # 3: role-word tokens
CACHE_SCHEMA = 4  # 3: role-word tokens; 4: scenes are never augmented
TRAIN_META = "smfa-train.json"
BASE_META = "smfa-base.json"
StepFn = Callable[[int, int, float], None]
StageStepFn = Callable[[str, int, int, float], None]


def role_questions(world: World, role: str, ratio: int) -> list[Question]:
    """A reference model's training data (`smfa.protocol.questions.training_questions`): the
    oracle's leaves out the memory questions about the forget people at `ratio`."""
    if role not in ROLES:
        raise SmfaError(f"unknown role '{role}' (choose from {', '.join(ROLES)})")
    forget = set(world.splits.forget[ratio]) if role == "oracle" else set()
    return training_questions(world, forget)


def repeats_for(question: Question, config: TrainConfig) -> int:
    """Exposures per fact of this question's kind (and, for understanding, image type)."""
    kind = question.kind
    if kind == Kind.IMAGE_UNDERSTANDING and question.image_type == "fundus":
        return config.fundus_repeats
    return {
        Kind.IMAGE_MEMORY: config.memory_repeats,
        Kind.TEXT_MEMORY: config.memory_repeats,
        Kind.IMAGE_UNDERSTANDING: config.understanding_repeats,
        Kind.GENERAL_SCENE: config.scene_repeats,
        Kind.UNKNOWN_PERSON: config.refusal_repeats,
    }.get(kind, 1)


def schedule(questions: list[Question], config: TrainConfig) -> list[Question]:
    """A seeded order of training exposures.

    Questions about one fact (same kind, subject, attribute, image) are its phrasings; each
    exposure picks one phrasing at random, and a fact gets `repeats_for(question)` exposures.
    Unknown-person rows have no subject and each counts as its own fact.
    """
    facts: dict[tuple[Any, ...], list[Question]] = defaultdict(list)
    for q in questions:
        key = (q.kind, q.subject, q.attribute, q.image_type)
        facts[key if q.subject is not None else (q.id,)].append(q)
    rng = np.random.default_rng([config.seed, 7])
    order: list[Question] = []
    for key in sorted(facts, key=str):
        rows = facts[key]
        for _ in range(repeats_for(rows[0], config)):
            order.append(rows[int(rng.integers(len(rows)))])
    permutation = rng.permutation(len(order))
    return [order[i] for i in permutation]


def world_corpus(world: World) -> list[str]:
    """Every text the tiny model's tokenizer should know: questions, answers, refusals."""
    texts = [f"{q.question} {q.answer}" for q in world.questions]
    texts += [p.name for p in world.people.values()]
    texts += refusal_pool()
    return texts


def encode_questions(encoder: Encoder, world: World, questions: list[Question]) -> list[Sample]:
    """Tokenized samples; only photos of people may be re-framed by training augmentation."""
    return [
        encoder.encode(
            q.id,
            q.question,
            q.answer,
            world.image_path(q.image) if q.image else None,
            augment=q.image_type != "scene",
        )
        for q in questions
    ]


# How a checkpoint is loaded for unlearning and evaluation: the tiny model's training never
# reads these, so they stay out of its cache keys (changing them retrains nothing).
LOADING_ONLY = frozenset({"dtype", "attn_implementation", "gradient_checkpointing", "device"})


def training_fields(model: ModelConfig) -> dict[str, Any]:
    return {k: v for k, v in asdict(model).items() if k not in LOADING_ONLY}


def base_dir(workdir: Path, world: World, model: ModelConfig, seed: int) -> Path:
    payload = {
        "schema": BASE_SCHEMA,
        "world": world.world_hash,
        "model": training_fields(model),
        "seed": seed,
    }
    return Path(workdir) / "models" / f"base-{sha256_text(canonical_json(payload))[:12]}"


def world_image_size(world: World, default: int = 64) -> int:
    """The generator's image size from the manifest; a world finished by hand with
    `write_manifest` records no parameters (`params: null`), and gets the default."""
    params = world.manifest.get("params")
    size = params.get("image_size") if isinstance(params, dict) else None
    if isinstance(size, int) and not isinstance(size, bool) and size >= 16:
        return size
    return default


def build_base(
    world: World,
    model_config: ModelConfig,
    seed: int,
    workdir: Path,
    on_step: StageStepFn | None = None,
) -> Path:
    """The tiny MLLM before it meets the world's people (built once, then cached)."""
    out = base_dir(workdir, world, model_config, seed)
    if is_cached(out, BASE_META):
        return out
    with out_lock(out, enabled=is_main(), wait=True):
        if is_cached(out, BASE_META):  # built by another run while we waited
            return out
        return _build_base(world, model_config, seed, out, on_step)


def _build_base(
    world: World,
    model_config: ModelConfig,
    seed: int,
    out: Path,
    on_step: StageStepFn | None,
) -> Path:
    image_size = world_image_size(world)
    started = time.time()
    torch.set_num_threads(model_config.base_threads)
    model, processor = build_tiny_model(
        world_corpus(world), model_config.preset, image_size, seed=seed
    )
    accuracy = pretrain_vision(
        model,
        processor.image_processor,
        image_size,
        model_config.vision_steps,
        model_config.vision_batch,
        model_config.vision_lr,
        seed,
        on_step=None if on_step is None else lambda s, n, loss: on_step("vision", s, n, loss),
    )
    meta = {
        "world_hash": world.world_hash,
        "model": asdict(model_config),
        "seed": seed,
        "vision_feature_accuracy": accuracy,
        "seconds": round(time.time() - started, 2),
    }
    save_model(model, processor, out, extra={BASE_META: json.dumps(meta, indent=2)})
    return out


def cache_key(world: World, role: str, ratio: int, model: ModelConfig, train: TrainConfig) -> str:
    payload = {
        "schema": CACHE_SCHEMA,
        "world": world.world_hash,
        "role": role,
        "ratio": ratio if role == "oracle" else None,
        "model": training_fields(model),
        "train": asdict(train),
    }
    return sha256_text(canonical_json(payload))


def reference_dir(
    workdir: Path, world: World, role: str, ratio: int, model: ModelConfig, train: TrainConfig
) -> Path:
    key = cache_key(world, role, ratio, model, train)
    suffix = f"-f{ratio}" if role == "oracle" else ""
    return Path(workdir) / "models" / f"{role}{suffix}-{key[:12]}"


def is_cached(path: Path, meta: str) -> bool:
    """A finished cache entry whose weights are intact (sizes and hashes as recorded at save).
    A damaged entry is not reused: it is rebuilt, and the rebuild replaces it."""
    return (
        (path / meta).is_file()
        and (path / "config.json").is_file()
        and weights_problem(path) is None
    )


def is_trained(path: Path) -> bool:
    return is_cached(path, TRAIN_META)


def train_reference(
    world: World,
    role: str,
    ratio: int,
    model_config: ModelConfig,
    train_config: TrainConfig,
    workdir: Path,
    show_progress: bool = True,
    on_step: StepFn | None = None,
) -> Path:
    """Train (or reuse from the cache) one reference model; returns its directory."""
    out = reference_dir(workdir, world, role, ratio, model_config, train_config)
    if is_trained(out):
        return out
    with out_lock(out, enabled=is_main(), wait=True):  # one training run per cache entry
        if is_trained(out):  # trained by another run while we waited
            return out
        return _train_reference(
            world, role, ratio, model_config, train_config, workdir, out, show_progress, on_step
        )


def _train_reference(
    world: World,
    role: str,
    ratio: int,
    model_config: ModelConfig,
    train_config: TrainConfig,
    workdir: Path,
    out: Path,
    show_progress: bool,
    on_step: StepFn | None,
) -> Path:
    with main_process_first():  # built once, by the main process, when launched
        base = build_base(world, model_config, train_config.seed, workdir)
    model, processor = load_model(base)
    if train_config.freeze_vision:
        model.model.vision_tower.requires_grad_(False)
    encoder = Encoder(processor)
    questions = schedule(role_questions(world, role, ratio), train_config)
    samples = encode_questions(encoder, world, questions)
    collator: Any = Collator(
        encoder, train=True, augment_images=train_config.augment, seed=train_config.seed
    )
    loss_fn: LossFn = default_loss
    # Launched as several processes, each already computes only its share of a batch.
    if train_config.length_parts > 1 and not is_distributed():
        collator, loss_fn = LengthSplit(collator, train_config.length_parts), split_loss
    started = time.time()
    result = train_loop(
        model,
        samples,
        collator,
        train_config.loop,
        loss_fn=loss_fn,
        description=f"train {role}",
        show_progress=show_progress,
        on_step=on_step,
    )
    meta = {
        "role": role,
        "base": str(base),
        "forget_ratio": ratio if role == "oracle" else None,
        "world_hash": world.world_hash,
        "model": asdict(model_config),
        "train": asdict(train_config),
        # What the CPU (or GPU) trained at: "bf16" autocast where it computes bf16, else "no"
        # (fp32): one seed gives other weights at each (train.py's `mixed_precision`)
        "precision": mixed_precision(train_config.bf16),
        "examples": len(samples),
        "steps": result.steps,
        "seconds": round(time.time() - started, 2),
        "final_loss": result.final_loss,
        "loss_curve": result.losses[:: max(1, len(result.losses) // 200)],
    }
    if is_main():
        save_model(model, processor, out, extra={TRAIN_META: json.dumps(meta, indent=2)})
    barrier()
    return out
