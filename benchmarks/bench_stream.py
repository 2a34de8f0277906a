"""Erasure requests over time: three requests of one person each against one holding all three.

On the demo world and its vanilla model (built and trained through the pipeline when absent,
reused from `--workdir` when `make demo` ran), the forget set's people are forgotten one request
at a time, each request chained on the previous one's model (`smfa stream`: erasure records
with lineage), and all at once in a single request. Every model (vanilla, after request 1, 2
and 3, all at once) is then asked the reported slice with the same forget split (all three
people), and each person's answer prefill attack on its own: per person the plain leak and the
leak under prefill, and retain memory, understanding and scenes as ratios to vanilla.

    .venv/bin/python benchmarks/bench_stream.py --workdir runs [--method smfa] [--set k=v ...]

Adds the method's run to benchmarks/results/stream.json (or `--out`), one entry per method,
and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_pipeline import machine, record
from smfa.config import load_config
from smfa.data.format import World
from smfa.erasure.measure import per_person_leaks
from smfa.erasure.stream import run_stream, unlearn_recorded
from smfa.eval.evaluate import Ask, evaluate
from smfa.pipeline import ensure_base, ensure_world
from smfa.protocol.figures import figures_of
from smfa.protocol.questions import REPORTED
from smfa.reference import train_reference
from smfa.unlearn import resolve_request

KEPT = ("retain_memory", "understanding_retain", "understanding_forget", "scenes")


def measure_model(
    name: str, model: Path, world: World, people: list[str], config: Any, workdir: Path
) -> dict[str, Any]:
    """Per person plain and prefill leak; the kept figures. Forget split: all the people."""
    asked = evaluate(
        model, world, Ask.of(REPORTED, people), config.eval, workdir,
        name=name, options=config.model,
    )  # fmt: skip
    plain = per_person_leaks(asked.records, tuple(people))
    prefill = {}
    for person in people:
        found = evaluate(
            model, world, Ask(REPORTED, (person,), ("prefill",)), config.eval, workdir,
            name=name, options=config.model,
        ).rows  # fmt: skip
        cell = [r for r in found if r["split"] == "forget" and r["kind"] == "all"]
        prefill[person] = cell[0]["value"] if cell else None
    figures = figures_of({"rows": asked.rows}, [name])[name]
    return {
        "leak": {p: {"plain": plain[p], "prefill": prefill[p]} for p in people},
        "figures": {k: figures[k] for k in KEPT},
    }


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def table(results: dict[str, Any], people: list[str], names: dict[str, str]) -> str:
    vanilla = results["vanilla"]["figures"]
    head = [f"{names[p]} ({p}) plain / prefill" for p in people]
    head += ["retain memory", "underst. retain", "underst. forget", "scenes"]
    lines = ["| model | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for label, result in results.items():
        cells = [f"{pct(v['plain'])} / {pct(v['prefill'])}" for v in result["leak"].values()]
        for key in KEPT:
            value, base = result["figures"][key], vanilla[key]
            ratio = f" (×{value / base:.2f})" if value is not None and base else ""
            cells.append(pct(value) + ("" if label == "vanilla" else ratio))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs"))
    parser.add_argument("--method", default="smfa")
    parser.add_argument("--attacks", default="prefill", help="the records' attacks")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    config = load_config(None, [f"eval.attacks={args.attacks}", *args.overrides])
    config.workdir = str(args.workdir)
    workdir = args.workdir
    world_dir = workdir / f"world-n{config.world.people}-s{config.world.seed}"
    world = ensure_world(world_dir, config.world)
    ensure_base(world, config)
    vanilla = train_reference(
        world, "vanilla", config.forget_ratio, config.model, config.train, workdir
    )
    people = list(world.splits.forget[config.forget_ratio])
    names = {p: world.people[p].name for p in people}
    out = workdir / "stream" / args.method
    seconds: dict[str, float] = {}

    requests = [resolve_request(world, people=[p]) for p in people]
    stamps = [time.perf_counter()]

    def done(i: int, step: Path, rec: dict[str, Any]) -> None:
        stamps.append(time.perf_counter())
        seconds[f"request {i}"] = round(stamps[-1] - stamps[-2], 1)
        print(f"request {i} ({people[i - 1]}): {rec['verdict']}, {step}", flush=True)

    steps = run_stream(
        world, vanilla, args.method, config, requests, out / "sequential", done, False
    )
    started = time.perf_counter()
    request = resolve_request(world, people=people)
    _, together = unlearn_recorded(
        world, vanilla, args.method, config, request, out / "all-at-once", False
    )
    seconds["all at once"] = round(time.perf_counter() - started, 1)

    models = {"vanilla": vanilla}
    for i, step in enumerate(steps, start=1):
        models[f"after request {i} ({people[i - 1]})"] = step.parent / "model"
    models["all three at once"] = out / "all-at-once" / "model"
    results = {}
    started = time.perf_counter()
    for i, (label, model) in enumerate(models.items()):
        results[label] = measure_model(f"m{i}", model, world, people, config, workdir)
        print(f"measured {label}", flush=True)
    seconds["measuring"] = round(time.perf_counter() - started, 1)
    markdown = table(results, people, names)
    print(markdown)
    path = args.out / "stream.json"
    runs = json.loads(path.read_text())["runs"] if path.is_file() else {}
    runs[args.method] = {
        "date": dt.date.today().isoformat(),
        "machine": {**machine(), "gpu": None},
        "records_attacks": config.eval.attacks,
        "world": str(world_dir),
        "vanilla": str(vanilla),
        "people": people,
        "records": [str(p) for p in steps] + [str(out / "all-at-once" / "erasure.json")],
        "params": together["params"],
        "all_at_once_verdict": together["verdict"],
        "seconds": seconds,
        "results": results,
        "table": markdown,
    }
    record(path, {"runs": runs})


if __name__ == "__main__":
    main()
