"""What bf16 autocast costs on this CPU: the same training steps at fp32 and at bf16, one run.

Builds the tiny preset on a small generated world and trains the same samples with
`smfa.train.train_loop` twice per precision (the first of each is a warm-up), with the
Accelerate state forced to the precision asked for (`mixed_precision` would refuse bf16 on a CPU
without bf16 arithmetic: this measures why). Records seconds per step of each and their ratio,
and whether this CPU computes bf16 (`smfa.train.cpu_computes_bf16`).

    .venv/bin/python benchmarks/bench_precision.py [--steps 12] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from accelerate import Accelerator
from accelerate.state import AcceleratorState

from bench_pipeline import machine
from smfa.config import LoopConfig, WorldConfig
from smfa.data.batches import Collator, Encoder
from smfa.data.format import load_world
from smfa.models.tiny import build_tiny_model
from smfa.reference import world_corpus
from smfa.train import cpu_computes_bf16, train_loop
from smfa.world.build import build_world


def seconds_per_step(model, samples, collator, config: LoopConfig, precision: str) -> float:  # type: ignore[no-untyped-def]
    if AcceleratorState._shared_state:
        AcceleratorState._reset_state()
    accelerator = Accelerator(mixed_precision=precision)
    started = time.perf_counter()
    result = train_loop(
        model, samples, collator, config, show_progress=False, accelerator=accelerator
    )
    return (time.perf_counter() - started) / result.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="training steps per measurement")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        world = load_world(build_world(Path(tmp) / "w", WorldConfig(people=10, forget_ratios=[10])))
        model, processor = build_tiny_model(world_corpus(world), "tiny", 64, seed=0)
        encoder = Encoder(processor)
        questions = [q for q in world.questions if q.kind.endswith("memory")]
        config = LoopConfig(batch_size=32, threads=1)
        samples = [encoder.encode(q.id, q.question, q.answer, None) for q in questions]
        samples = (samples * (1 + 32 * args.steps // len(samples)))[: 32 * args.steps]
        collator = Collator(encoder, train=True)
        timings = {}
        for precision in ("no", "bf16", "no", "bf16"):  # the first pair warms up
            timings[precision] = seconds_per_step(model, samples, collator, config, precision)
    report = {
        "machine": machine(),
        "cpu_computes_bf16": cpu_computes_bf16(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "steps": args.steps,
        "batch_size": config.batch_size,
        "fp32_seconds_per_step": round(timings["no"], 4),
        "bf16_seconds_per_step": round(timings["bf16"], 4),
        "bf16_over_fp32": round(timings["bf16"] / timings["no"], 2),
        "config": dataclasses.asdict(config),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "precision.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "config"}, indent=2))


if __name__ == "__main__":
    main()
