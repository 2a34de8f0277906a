"""SMFA's cost against IDK tuning alone, measured in one run on one machine.

SMFA's pipeline is the forgetting adapter (the same training as IDK tuning), the retaining
anchor, the mask and the merge. This script runs IDK and SMFA on the same world, vanilla model
and budget, each in a fresh process (so peak memory is each method's own), and records:
wall time of each, SMFA / IDK as a ratio, the mask computation's share of SMFA's time, the
merge time, and peak resident memory (and peak GPU memory when there is a GPU).

    .venv/bin/python benchmarks/bench_unlearn.py --workdir runs [--out benchmarks/results]

It uses the demo's world and vanilla model from `--workdir` (run `make demo` first).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_pipeline import demo_vanilla, machine, record
from smfa.config import RunConfig


def _one(method: str, world_dir: str, vanilla: str, out: str, queue: Any) -> None:
    import torch

    from smfa.data.format import load_world
    from smfa.unlearn import resolve_request, unlearn

    config = RunConfig()
    world = load_world(Path(world_dir), verify_hashes=False)
    request = resolve_request(world, ratio=config.forget_ratio)
    started = time.perf_counter()
    meta = unlearn(world, Path(vanilla), method, config, request, Path(out), show_progress=False)
    wall = time.perf_counter() - started
    gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put(
        {
            "wall_seconds": round(wall, 3),
            "timings": meta["timings"],
            "peak_rss_mib": round(peak_kib / 1024, 1),
            "peak_gpu_mib": gpu,
            "forget_questions": meta["request"]["forget_questions"],
            "retain_questions": meta["request"]["retain_questions"],
        }
    )


def run(method: str, world_dir: Path, vanilla: Path, scratch: Path) -> dict[str, Any]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(
        target=_one, args=(method, str(world_dir), str(vanilla), str(scratch / method), queue)
    )
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    config = RunConfig()
    world_dir, _, vanilla = demo_vanilla(args.workdir, config)
    with tempfile.TemporaryDirectory() as scratch:
        idk = run("idk", world_dir, vanilla, Path(scratch))
        smfa = run("smfa", world_dir, vanilla, Path(scratch))
    timings = smfa["timings"]
    report = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "config": {"unlearn": config.unlearn.__dict__, "forget_ratio": config.forget_ratio},
        "idk": idk,
        "smfa": smfa,
        "smfa_over_idk_wall": round(smfa["wall_seconds"] / idk["wall_seconds"], 3),
        "smfa_pipeline_seconds": {
            k: timings.get(k) for k in ("forget", "anchor", "mask", "merge", "total")
        },
        "mask_share_of_smfa": round(timings["mask"] / smfa["wall_seconds"], 5),
        "merge_share_of_smfa": round(timings["merge"] / smfa["wall_seconds"], 5),
    }
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2))
    record(args.out / "unlearn.json", report)


if __name__ == "__main__":
    main()
