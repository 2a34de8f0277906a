"""`make demo`: the whole story on a fresh machine, cached so a second run is quick.

Builds the default world, trains (or reuses) the vanilla and oracle models side by side,
evaluates both, writes results.json / results.csv / generations, and prints the table plus a
short explanation of what happened.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from smfa.config import RunConfig, to_dict
from smfa.eval.results import merge_results
from smfa.io import atomic_write_json
from smfa.pipeline import ReferenceJob, ensure_base, ensure_world, run_reference_jobs
from smfa.report.table import print_table


def run_demo(config: RunConfig) -> Path:
    console = Console()
    started = time.time()
    workdir = Path(config.workdir)
    world_dir = workdir / f"world-n{config.world.people}-s{config.world.seed}"
    out_dir = workdir / "demo"
    world = ensure_world(world_dir, config.world)
    forget = world.forget_people(config.forget_ratio)
    console.print(
        f"[bold]forget set[/bold] ({config.forget_ratio}%): "
        + ", ".join(f"{p.name} ({p.id})" for p in forget)
    )
    ensure_base(world, config)
    jobs = [
        ReferenceJob(role, config, str(world_dir), str(out_dir)) for role in ("vanilla", "oracle")
    ]
    results = run_reference_jobs(jobs, parallel=True)
    models = {
        name: {
            "path": result["model_dir"],
            "role": name,
            "train_seconds": round(result["train_seconds"], 1),
        }
        for name, result in sorted(results.items(), key=lambda item: item[0] != "vanilla")
    }
    rows = [row for name in ("vanilla", "oracle") for row in results[name]["rows"]]
    data = merge_results(out_dir, world.world_hash, config.forget_ratio, models, rows)
    atomic_write_json(out_dir / "config.json", to_dict(config))
    print_table(data, console)
    console.print(
        "[dim]vanilla memorized everyone; the oracle never saw the forget people's private facts, "
        "so its leak rate is what 'forgotten' looks like (guessing level).[/dim]"
    )
    console.print(f"results: {out_dir / 'results.json'} · {out_dir / 'results.csv'}")
    console.print(f"answers: {out_dir}/generations-vanilla.jsonl, generations-oracle.jsonl")
    console.print(f"done in {time.time() - started:.0f}s")
    return out_dir
