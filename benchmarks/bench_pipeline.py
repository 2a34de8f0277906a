"""Time each stage of the pipeline on this machine and record it with the machine's description.

Stages: building the default world, loading it, vision pretraining (steps/s), reference-model
training (sequences/s and tokens/s, 1 thread, as the demo's parallel workers run), and the
evaluation harness (probe questions/s, generation and teacher forcing together). Training and
vision stages run a fixed number of steps so the script finishes in a few minutes; the full
runs' own timings are written by `make demo` into each model's smfa-train.json.

    .venv/bin/python benchmarks/bench_pipeline.py [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
import transformers

from smfa.config import EvalConfig, RunConfig
from smfa.data.batches import Collator, Encoder
from smfa.data.format import World, load_world
from smfa.eval.evaluate import Ask, ask_probe
from smfa.eval.plain import Plain
from smfa.eval.probe import Session
from smfa.models.tiny import build_tiny_model
from smfa.models.vision import pretrain_vision
from smfa.protocol.questions import FULL
from smfa.reference import (
    encode_questions,
    reference_dir,
    role_questions,
    schedule,
    world_corpus,
)
from smfa.train import train_loop
from smfa.world.build import build_world


def record(path: Path, report: dict[str, object]) -> None:
    """Write a benchmark's report as JSON at `path` and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"written: {path}")


def demo_vanilla(workdir: Path, config: RunConfig) -> tuple[Path, World, Path]:
    """The demo's world directory, world and vanilla model under `workdir` (after `make demo`)."""
    world_dir = workdir / f"world-n{config.world.people}-s{config.world.seed}"
    world = load_world(world_dir, verify_hashes=False)
    vanilla = reference_dir(workdir, world, "vanilla", 10, config.model, config.train)
    if not (vanilla / "config.json").is_file():
        raise SystemExit(f"no vanilla model at {vanilla}: run `make demo` first")
    return world_dir, world, vanilla


def machine() -> dict[str, object]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "platform": platform.platform(),
    }


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--vision-steps", type=int, default=60)
    parser.add_argument("--train-steps", type=int, default=60)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = RunConfig()
    report: dict[str, object] = {"machine": machine(), "config": dataclasses.asdict(config)}
    stages: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root, seconds = timed(build_world, Path(tmp) / "world", config.world)
        stages["world_build"] = {"seconds": seconds, "people": config.world.people}
        world, seconds = timed(load_world, root)
        stages["world_load_and_verify"] = {"seconds": seconds, "questions": len(world.questions)}

        model, processor = build_tiny_model(world_corpus(world), config.model.preset, 64, seed=0)
        _, seconds = timed(
            pretrain_vision,
            model,
            processor.image_processor,
            64,
            args.vision_steps,
            config.model.vision_batch,
            config.model.vision_lr,
            0,
        )
        stages["vision_pretraining"] = {
            "seconds": seconds,
            "steps": args.vision_steps,
            "steps_per_second": args.vision_steps / seconds,
            "full_run_estimate_seconds": seconds / args.vision_steps * config.model.vision_steps,
        }

        model.model.vision_tower.requires_grad_(False)
        encoder = Encoder(processor)
        questions = schedule(role_questions(world, "vanilla", 10), config.train)
        all_samples = encode_questions(encoder, world, questions)
        samples = all_samples[: args.train_steps * config.train.batch_size]
        tokens = sum(s.length for s in samples)
        result, seconds = timed(
            train_loop,
            model,
            samples,
            Collator(encoder, train=True, augment_images=True),
            config.train.loop,
            show_progress=False,
        )
        rate = len(samples) / seconds
        stages["reference_training"] = {
            "seconds": seconds,
            "steps": result.steps,
            "sequences_per_second": rate,
            "tokens_per_second": tokens / seconds,
            "full_run_sequences": len(all_samples),
            "full_run_estimate_seconds": len(all_samples) / rate,
        }

        ask = Ask.of(FULL, world.splits.forget[10])
        session = Session(
            model, processor, world, ask, EvalConfig(threads=1), root, lambda _: model
        )
        asked, seconds = timed(ask_probe, Plain(), session)
        stages["evaluation"] = {
            "seconds": seconds,
            "probe_questions": len(asked["records"]),
            "questions_per_second": len(asked["records"]) / seconds,
        }
    report["stages"] = stages
    print(json.dumps(report, indent=2))
    record(args.out / "pipeline.json", report)


if __name__ == "__main__":
    main()
