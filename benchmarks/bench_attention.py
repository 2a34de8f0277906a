"""Eager against SDPA attention on this CPU: reference training and evaluation, one run.

Whether `model.attn_implementation=eager` would make the demo faster on the CPU (the default,
"", is transformers' pick: SDPA). It changes no figure beyond rounding but retrains every model,
so it is worth it only for a clear gain (2026-12-04: training x1.08-1.13, evaluation x0.95;
not taken). Training: the
first `--steps` batches of the vanilla's schedule from the demo's base model (bf16 autocast, one
thread, as `smfa train` runs them), a fresh model per try, the two implementations alternating
for `--rounds` rounds, first alone, then as `make demo` trains its two reference models: two
processes side by side, one thread each. Evaluation: the reported slice of `--model` (default:
the demo's vanilla), into an empty cache each time, one thread. The record holds each try's
seconds, the last losses and how far the evaluations' figures are apart.

    .venv/bin/python benchmarks/bench_attention.py --workdir runs [--model DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))

from bench_pipeline import demo_vanilla, machine, record
from smfa.config import RunConfig
from smfa.data.batches import Collator, Encoder
from smfa.data.format import World, load_world
from smfa.eval.evaluate import Ask, evaluate
from smfa.models.io import load_model
from smfa.protocol.questions import REPORTED
from smfa.reference import base_dir, encode_questions, role_questions, schedule
from smfa.train import train_loop

IMPLEMENTATIONS = ("sdpa", "eager")


def train_seconds(world: World, config: RunConfig, attention: str, steps: int) -> dict[str, Any]:
    options = dataclasses.replace(config.model, attn_implementation=attention)
    base = base_dir(Path(config.workdir), world, config.model, config.train.seed)
    model, processor = load_model(base, options=options)
    model.model.vision_tower.requires_grad_(False)
    encoder = Encoder(processor)
    questions = schedule(role_questions(world, "vanilla", config.forget_ratio), config.train)
    samples = encode_questions(encoder, world, questions)[: steps * config.train.batch_size]
    collator = Collator(encoder, train=True, augment_images=True, seed=config.train.seed)
    started = time.perf_counter()
    result = train_loop(model, samples, collator, config.train.loop, show_progress=False)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "last_losses": [round(x, 5) for x in result.losses[-3:]]}


def _side_by_side(args: tuple[str, str, str, int]) -> dict[str, Any]:
    workdir, world_dir, attention, steps = args
    config = dataclasses.replace(RunConfig(), workdir=workdir)
    world = load_world(Path(world_dir), verify_hashes=False)
    return train_seconds(world, config, attention, steps)


def eval_seconds(
    world: World, config: RunConfig, model_dir: Path, attention: str, scratch: Path
) -> tuple[float, dict[tuple[Any, ...], float]]:
    options = dataclasses.replace(config.model, attn_implementation=attention)
    forget = tuple(p.id for p in world.forget_people(config.forget_ratio))
    started = time.perf_counter()
    rows = evaluate(
        model_dir,
        world,
        Ask.of(REPORTED, forget),
        config.eval,
        scratch / attention / str(time.monotonic_ns()),
        name="m",
        options=options,
    ).rows
    seconds = time.perf_counter() - started
    figures = {tuple(str(r.get(k)) for k in sorted(r) if k != "value"): r["value"] for r in rows}
    return seconds, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs"))
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    config = dataclasses.replace(RunConfig(), workdir=str(args.workdir))
    world_dir = args.workdir / f"world-n{config.world.people}-s{config.world.seed}"
    if args.model is not None:
        world, model_dir = load_world(world_dir, verify_hashes=False), args.model
    else:
        _, world, model_dir = demo_vanilla(args.workdir, config)
    torch.set_num_threads(1)
    training: dict[str, list[dict[str, Any]]] = {a: [] for a in IMPLEMENTATIONS}
    evaluation: dict[str, list[float]] = {a: [] for a in IMPLEMENTATIONS}
    figures: dict[str, dict[tuple[Any, ...], float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.rounds):
            order = IMPLEMENTATIONS if round_ % 2 == 0 else IMPLEMENTATIONS[::-1]
            for attention in order:
                training[attention].append(train_seconds(world, config, attention, args.steps))
                seconds, figures[attention] = eval_seconds(
                    world, config, model_dir, attention, Path(scratch)
                )
                evaluation[attention].append(round(seconds, 2))
                print(attention, training[attention][-1], evaluation[attention][-1], flush=True)
        # As `make demo` trains: two processes at once, one thread each.
        paired: dict[str, list[float]] = {a: [] for a in IMPLEMENTATIONS}
        context = multiprocessing.get_context("spawn")
        for round_ in range(args.rounds):
            order = IMPLEMENTATIONS if round_ % 2 == 0 else IMPLEMENTATIONS[::-1]
            for attention in order:
                job = (config.workdir, str(world_dir), attention, args.steps)
                with context.Pool(2) as pool:
                    both = pool.map(_side_by_side, [job, job])
                paired[attention] += [t["seconds"] for t in both]
                print(attention, "side by side", paired[attention][-2:], flush=True)
    a, b = (figures[x] for x in IMPLEMENTATIONS)
    gaps = [abs(a[k] - b[k]) for k in a if k in b and a[k] is not None and b[k] is not None]

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    train_mean = {x: mean([t["seconds"] for t in training[x]]) for x in IMPLEMENTATIONS}
    eval_mean = {x: mean(evaluation[x]) for x in IMPLEMENTATIONS}
    report = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "model": str(model_dir),
        "steps": args.steps,
        "training": training,
        "training_two_processes_seconds": paired,
        "sdpa_over_eager_training_two_processes": round(
            mean(paired["sdpa"]) / mean(paired["eager"]), 3
        ),
        "evaluation_seconds": evaluation,
        "sdpa_over_eager_training": round(train_mean["sdpa"] / train_mean["eager"], 3),
        "sdpa_over_eager_evaluation": round(eval_mean["sdpa"] / eval_mean["eager"], 3),
        "figures_compared": len(gaps),
        "largest_figure_gap": max(gaps) if gaps else None,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2))
    record(args.out / "attention.json", report)


if __name__ == "__main__":
    main()
