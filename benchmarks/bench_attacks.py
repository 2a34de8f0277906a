"""What each attack costs on one model: every named attack asked once, timed, on one thread.

On the demo's world and its vanilla (or oracle, or any `--model` of that world) under
`--workdir` (after `make demo`), each attack of `--attacks` is asked the reported slice's
questions as `smfa compare` asks them (the 10% forget people, `eval.attack_retain` retain
questions), into no cache, and timed; the forget figure it reports (pooled leak,
multiple-choice accuracy or the largest AUC) is printed beside the seconds, and each group's
value where the attack reports groups (a relearning seed, a grid cell). `--set` overrides apply
as on the command line (a corner of the strong relearning grid: `--set
eval.relearn_strong_lrs=1e-3 --set eval.relearn_strong_steps=48 ...`).

    .venv/bin/python benchmarks/bench_attacks.py --workdir runs \
        [--role oracle | --model DIR] [--attacks prefill,leak_at_k,mia] [--set k=v ...]

Writes benchmarks/results/attacks-<role, or the model's directory name>.json (or `--out`) and
prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import torch

from bench_pipeline import demo_vanilla, machine, record
from smfa.checks import check_run
from smfa.config import ModelConfig, load_config
from smfa.eval.evaluate import Ask, ask_probe
from smfa.eval.probe import Session, get_probe
from smfa.models.io import load_model
from smfa.protocol.questions import REPORTED
from smfa.reference import reference_dir

DEFAULT = "prefill,fair_mc,relearn,leak_at_k,leak_at_k_prefill,mia"


def forget_figure(rows: list[dict[str, Any]]) -> tuple[str, float] | None:
    """The pooled forget figure an attack reports: its leak, its MC accuracy or its best AUC."""
    pooled = {r["metric"]: r["value"] for r in rows if (r["split"], r["kind"]) == ("forget", "all")}
    for metric in ("leak_rate", "mc_accuracy"):
        if metric in pooled:
            return metric, pooled[metric]
    aucs = [v for m, v in pooled.items() if m.startswith("mia_auc_")]
    return ("best mia_auc", max(aucs)) if aucs else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs"))
    parser.add_argument("--role", choices=("vanilla", "oracle"), default="vanilla")
    parser.add_argument("--model", type=Path, help="another model of the demo's world")
    parser.add_argument("--attacks", default=DEFAULT)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    config = check_run(load_config(None, [f"eval.attacks={args.attacks}", *args.overrides]))
    torch.set_num_threads(config.eval.threads)
    _, world, model_dir = demo_vanilla(args.workdir, config)
    if args.role == "oracle":
        model_dir = reference_dir(args.workdir, world, "oracle", 10, config.model, config.train)
    model_dir = args.model or model_dir
    model, processor = load_model(model_dir)
    ask = Ask.of(REPORTED, world.splits.forget[10], config.eval.attacks)

    def load(precision: str) -> Any:
        return load_model(model_dir, options=dataclasses.replace(ModelConfig(), dtype=precision))[0]

    timings: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in config.eval.attacks:
            session = Session(model, processor, world, ask, config.eval, Path(scratch), load)
            started = time.perf_counter()
            rows = ask_probe(get_probe(name)(), session)["rows"]
            seconds = time.perf_counter() - started
            figure = forget_figure(rows)
            groups = next((r["per_group"] for r in rows if "per_group" in r), {})
            timings[name] = {"seconds": round(seconds, 1), "forget": figure, "per_group": groups}
            print(f"| {name} | {seconds:.1f} s | {figure} | {groups or ''} |", flush=True)
    forget, retain = session.targets()
    report = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "model": str(model_dir),
        "overrides": args.overrides,
        "threads": config.eval.threads,
        "questions": {"forget": len(forget), "retain": len(retain)},
        "attacks": timings,
    }
    role = args.model.name if args.model else args.role
    record(args.out or Path(__file__).parent / "results" / f"attacks-{role}.json", report)


if __name__ == "__main__":
    main()
