"""VERA's cost against SMFA's, measured in one run on one machine (issue "Erasure that holds").

Both methods unlearn the demo's 10% forget set from the demo's vanilla with the default
settings, each in a fresh process (bench_unlearn.run), one after the other; the record holds
each one's wall time, stage timings and peak memory, and VERA / SMFA as a ratio (the issue's
target: at most 1.5).

    .venv/bin/python benchmarks/bench_vera.py --workdir runs [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_pipeline import demo_vanilla, machine, record
from bench_unlearn import run
from smfa.config import RunConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    world_dir, _, vanilla = demo_vanilla(args.workdir, RunConfig())
    with tempfile.TemporaryDirectory() as scratch:
        smfa = run("smfa", world_dir, vanilla, Path(scratch))
        vera = run("vera", world_dir, vanilla, Path(scratch))
    report = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "smfa": smfa,
        "vera": vera,
        "vera_over_smfa_wall": round(vera["wall_seconds"] / smfa["wall_seconds"], 3),
    }
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2))
    record(args.out / "vera_cost.json", report)


if __name__ == "__main__":
    main()
