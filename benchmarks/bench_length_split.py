"""What `train.length_parts` saves in reference training: the same batches, split or not, one run.

Builds the demo's default world (25 people) and the vanilla model's training schedule
(`smfa.reference.schedule`), then trains the tiny model with `smfa.train.train_loop` on the
first `--steps` batches of that schedule twice per setting, alternating (the first pair warms
up): each batch collated whole (`train.length_parts=1`), and as `length_parts` micro-batches of
similar length (`smfa.data.batches.LengthSplit` with `split_loss`: the same samples, the same
token-mean loss). Also records, over the whole schedule, the share of the computed positions
that are real tokens (not padding) for 1, 2, 4 and 8 parts.

    .venv/bin/python benchmarks/bench_length_split.py [--steps 24] [--parts 4] [--out DIR]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from bench_pipeline import machine
from smfa.config import TrainConfig, WorldConfig
from smfa.data.batches import Collator, Encoder, LengthSplit, Sample, split_loss
from smfa.data.format import load_world
from smfa.models.tiny import build_tiny_model
from smfa.reference import encode_questions, role_questions, schedule, world_corpus
from smfa.train import default_loss, train_loop
from smfa.world.build import build_world


def real_share(samples: list[Sample], batch_size: int, parts: int) -> float:
    """Tokens that are not padding, as a share of the positions computed."""
    lengths = [s.length for s in samples]
    real = padded = 0
    for start in range(0, len(lengths), batch_size):
        for group in np.array_split(np.sort(lengths[start : start + batch_size]), parts):
            if len(group):
                real += int(group.sum())
                padded += int(group.max()) * len(group)
    return real / padded


def seconds_per_step(model, samples, collator, loss_fn, config: TrainConfig) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = train_loop(
        copy.deepcopy(model), samples, collator, config.loop, loss_fn=loss_fn, show_progress=False
    )
    return (time.perf_counter() - started) / result.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=24, help="training steps per measurement")
    parser.add_argument("--parts", type=int, default=TrainConfig.length_parts)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    config = TrainConfig(bf16=False)  # fp32 on every CPU, so machines compare
    torch.set_num_threads(config.threads)
    with tempfile.TemporaryDirectory() as tmp:
        world = load_world(build_world(Path(tmp) / "w", WorldConfig()))
        model, processor = build_tiny_model(world_corpus(world), "tiny", 64, seed=0)
        model.model.vision_tower.requires_grad_(False)
        encoder = Encoder(processor)
        ratio = WorldConfig().forget_ratios[1]
        questions = schedule(role_questions(world, "vanilla", ratio), config)
        samples = encode_questions(encoder, world, questions)
        timed = samples[: args.steps * config.batch_size]
        collator = Collator(encoder, train=True, augment_images=True, seed=config.seed)
        settings = {
            "whole": (collator, default_loss),
            "split": (LengthSplit(collator, args.parts), split_loss),
        }
        timings = {}
        for name in ("whole", "split", "whole", "split"):  # the first pair warms up
            timings[name] = seconds_per_step(model, timed, *settings[name], config)
    report = {
        "machine": machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "world_people": WorldConfig().people,
        "schedule_samples": len(samples),
        "batch_size": config.batch_size,
        "length_parts": args.parts,
        "steps_timed": args.steps,
        "real_token_share": {
            str(parts): round(real_share(samples, config.batch_size, parts), 4)
            for parts in (1, 2, 4, 8)
        },
        "whole_seconds_per_step": round(timings["whole"], 4),
        "split_seconds_per_step": round(timings["split"], 4),
        "split_over_whole": round(timings["split"] / timings["whole"], 3),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "length_split.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
