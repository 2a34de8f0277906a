"""Where an evaluation's time goes, and what sharing the prompt saves, measured in one run.

Evaluates the demo's vanilla model on the reported slice (held-out phrasings and scenes) and
times its parts on one thread: greedy generation, and teacher forcing both ways, with each
prompt encoded once for all its candidate answers (the default) and with every candidate
scored as a whole sequence. Records both times, their ratio, and the largest difference
between the two sets of log-probabilities.

    .venv/bin/python benchmarks/bench_eval.py --workdir runs [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import torch

from bench_pipeline import demo_vanilla, machine, record
from smfa.config import RunConfig
from smfa.eval import decode, plain
from smfa.eval.evaluate import Ask, ask_probe
from smfa.eval.probe import Session
from smfa.models.io import load_model
from smfa.protocol.questions import REPORTED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    config = RunConfig()
    torch.set_num_threads(1)
    _, world, vanilla = demo_vanilla(args.workdir, config)
    model, processor = load_model(vanilla)
    seen: dict[str, Any] = {}
    timings: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            out = fn(*a, **k)
            timings[name] = time.perf_counter() - start
            seen[name] = (a, out)
            return out

        return wrapper

    plain.generate = timed("generate", decode.generate)  # type: ignore[attr-defined]
    plain.answer_logprobs = timed("likelihood_shared", decode.answer_logprobs)  # type: ignore[attr-defined]
    ask = Ask.of(REPORTED, world.splits.forget[config.forget_ratio])
    session = Session(model, processor, world, ask, config.eval, args.workdir, lambda _: model)
    started = time.perf_counter()
    ask_probe(plain.Plain(), session)
    total = time.perf_counter() - started
    arguments, shared = seen["likelihood_shared"]
    _, encoder, samples, batch = arguments[:4]
    start = time.perf_counter()
    decode.PREFIX_SHARING = frozenset()
    whole = decode.answer_logprobs(model, encoder, samples, batch)
    timings["likelihood_whole"] = time.perf_counter() - start
    pairs = zip(shared, whole, strict=True)
    diff = max(abs(a - b) for x, y in pairs for a, b in zip(x, y, strict=True))
    report = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "model": str(vanilla),
        "questions": len(seen["generate"][0][2]),
        "candidates_scored": len(samples),
        "seconds": {k: round(v, 2) for k, v in timings.items()} | {"evaluation": round(total, 2)},
        "whole_over_shared": round(timings["likelihood_whole"] / timings["likelihood_shared"], 2),
        "max_abs_logprob_difference": diff,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2))
    record(args.out / "eval.json", report)


if __name__ == "__main__":
    main()
