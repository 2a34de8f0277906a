"""LoRA input dropout, torch.nn.Dropout against GapDropout: the same masks, timed in one run.

A LoRA layer draws its input's dropout mask (p = 0.05, `unlearn.lora_dropout`) at every
forward pass; VERA's adapters (rank 128 on every projection of the tiny model's language model)
see inputs of hidden width 256 (attention, gate and up projections) and 688 (down projection).
For each shape, with `torch.nn.Dropout` and with `smfa.models.dropout.GapDropout`: the dropout
alone (forward, no gradient), and forward and backward through dropout then a rank-128 `lora_A`
product (what a LoRA layer's input adds to a training step); alternating in rounds (the first
round warms up), one thread; the median milliseconds per call, and the share dropped.

    .venv/bin/python benchmarks/bench_dropout.py [--calls 200] [--rounds 5] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from bench_pipeline import machine
from smfa.models.dropout import GapDropout

SHAPES = {"attention / gate / up input": (8, 64, 256), "down input": (8, 64, 688)}
P = 0.05


def per_call(
    drop: torch.nn.Module, x: torch.Tensor, lora_a: torch.Tensor | None, calls: int
) -> float:
    """Seconds per call: dropout alone (`lora_a` None, no gradient), or forward and backward of
    dropout and the `lora_A` product."""
    started = time.perf_counter()
    for _ in range(calls):
        if lora_a is None:
            with torch.no_grad():
                drop(x)
        else:
            (drop(x) @ lora_a).sum().backward()
    return (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    drops = {"torch": torch.nn.Dropout(P), "gap": GapDropout(P)}
    shapes = {}
    for label, shape in SHAPES.items():
        x = torch.randn(*shape, requires_grad=True)
        lora_a = torch.randn(shape[-1], 128) * 0.01
        entry: dict[str, object] = {"shape": list(shape)}
        for part, weight in (("dropout", None), ("dropout_lora_a_fwd_bwd", lora_a)):
            times: dict[str, list[float]] = {name: [] for name in drops}
            for round_ in range(args.rounds + 1):
                for name, drop in drops.items():
                    seconds = per_call(drop, x, weight, args.calls)
                    if round_:  # round 0 warms up
                        times[name].append(seconds)
            median = {name: statistics.median(t) for name, t in times.items()}
            entry[part] = {
                "torch_ms": round(median["torch"] * 1e3, 3),
                "gap_ms": round(median["gap"] * 1e3, 3),
                "gap_over_torch": round(median["gap"] / median["torch"], 3),
            }
        dropped = {name: float((drop(x) == 0).double().mean()) for name, drop in drops.items()}
        entry["dropped_share"] = {name: round(v, 4) for name, v in dropped.items()}
        shapes[label] = entry
    report = {
        "machine": machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "p": P,
        "lora_rank": 128,
        "calls": args.calls,
        "rounds": args.rounds,
        "shapes": shapes,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dropout.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
