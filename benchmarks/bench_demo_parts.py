"""Where the first `make demo`'s time goes, part by part, and how fast the machine is right now.

This machine's speed changes through the day (the same demo took 885 s and 1307 s), so a time
means little without a gauge beside it. On the demo's world and vanilla under `--workdir` (after
`make demo`), one thread each, into no cache:

- gauge: an fp32 matrix product of the reference training's shape (1600 x 256 by 256 x 688),
  GFLOP/s alone and in two processes at once (two real cores give each the same speed);
- vision pool: seconds to render and to pre-process one picture of each kind, times the pool
  `model.vision_steps` draws (rendering runs on one core before the tower trains);
- reference step: seconds per training step of the vanilla schedule (its first batches), times
  the schedule's steps (vanilla and the oracle train side by side, one core each);
- evaluation: vanilla's plain evaluation of the reported slice (`benchmarks/bench_attacks.py`
  times each attack the same way).

    .venv/bin/python benchmarks/bench_demo_parts.py --workdir runs [--steps 8] [--out FILE]

Writes benchmarks/results/demo_parts.json (or `--out`) and prints it.
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from bench_pipeline import demo_vanilla, machine, record
from smfa.config import RunConfig
from smfa.data.batches import Collator, Encoder, LengthSplit, split_loss
from smfa.eval.evaluate import Ask, evaluate
from smfa.models.io import load_model
from smfa.models.vision import pool_sizes, random_image
from smfa.protocol.questions import REPORTED
from smfa.reference import encode_questions, role_questions, schedule
from smfa.train import train_loop

SHAPE = (1600, 256, 688)  # rows (a batch's tokens), hidden width, MLP width: the tiny preset's


def gemm_gflops(repeats: int = 300) -> float:
    """fp32 GFLOP/s of one thread on the reference training's largest product."""
    torch.set_num_threads(1)
    rows, width, out = SHAPE
    a, w = torch.randn(rows, width), torch.randn(out, width)
    for _ in range(20):
        a @ w.T
    started = time.perf_counter()
    for _ in range(repeats):
        a @ w.T
    return 2 * rows * width * out * repeats / (time.perf_counter() - started) / 1e9


def _gauge_worker(results: Any) -> None:
    results.put(gemm_gflops())


def gauge() -> dict[str, Any]:
    alone = gemm_gflops()
    context = mp.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_gauge_worker, args=(results,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    together = sorted(results.get() for _ in workers)
    for worker in workers:
        worker.join()
    return {"alone": round(alone, 1), "two_at_once": [round(g, 1) for g in together]}


def vision_pool(config: RunConfig, image_processor: Any, count: int = 150) -> dict[str, Any]:
    """Seconds per picture of each kind, and the whole pool the demo's pretraining draws."""
    model = config.model
    rng = np.random.default_rng([0, 11])
    parts: dict[str, Any] = {}
    total = 0.0
    for kind, (_, pool) in pool_sizes(model.vision_steps, model.vision_batch).items():
        started = time.perf_counter()
        images = [random_image(kind, 64, rng)[0] for _ in range(count)]
        render = (time.perf_counter() - started) / count
        started = time.perf_counter()
        image_processor(images, return_tensors="pt")
        process = (time.perf_counter() - started) / count
        parts[kind] = {"render_ms": round(1e3 * render, 2), "process_ms": round(1e3 * process, 2)}
        parts[kind]["pool"] = pool
        total += pool * (render + process)
    return {"kinds": parts, "pool_seconds": round(total, 1)}


def reference_step(config: RunConfig, world: Any, vanilla: Path, steps: int) -> dict[str, Any]:
    train = config.train
    torch.set_num_threads(train.threads)
    model, processor = load_model(vanilla)
    model.model.vision_tower.requires_grad_(False)
    encoder = Encoder(processor)
    questions = schedule(role_questions(world, "vanilla", config.forget_ratio), train)
    samples = encode_questions(encoder, world, questions[: (steps + 2) * train.batch_size])
    collator = LengthSplit(Collator(encoder, train=True, augment_images=True), train.length_parts)
    loop = train.loop
    loop.bf16 = False  # fp32 on every CPU, so machines compare
    train_loop(  # warm-up
        copy.deepcopy(model), samples[: 2 * train.batch_size], collator, loop,
        loss_fn=split_loss, show_progress=False,
    )  # fmt: skip
    timed = samples[2 * train.batch_size :]
    started = time.perf_counter()
    result = train_loop(model, timed, collator, loop, loss_fn=split_loss, show_progress=False)
    per_step = (time.perf_counter() - started) / result.steps
    total = -(-len(questions) // train.batch_size)
    return {"seconds_per_step": round(per_step, 3), "schedule_steps": total,
            "projected_seconds": round(per_step * total, 1)}  # fmt: skip


def plain_evaluation(config: RunConfig, world: Any, vanilla: Path) -> dict[str, Any]:
    ask = Ask.of(REPORTED, world.splits.forget[config.forget_ratio])
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        result = evaluate(vanilla, world, ask, config.eval, Path(scratch), options=config.model)
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "rows": len(result.rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs"))
    parser.add_argument("--steps", type=int, default=8, help="reference training steps timed")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    config = RunConfig()
    _, world, vanilla = demo_vanilla(args.workdir, config)
    processor = load_model(vanilla)[1]
    report = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "gemm_gflops": gauge(),
        "vision_pool": vision_pool(config, processor.image_processor),
        "reference_step": reference_step(config, world, vanilla, args.steps),
        "plain_evaluation": plain_evaluation(config, world, vanilla),
    }
    record(args.out or Path(__file__).parent / "results" / "demo_parts.json", report)
    print(report)


if __name__ == "__main__":
    main()
