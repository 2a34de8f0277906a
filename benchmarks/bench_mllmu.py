"""MLLMU-Bench as published, end to end: the 40 real profiles of `shared/data/mllmu-sample/`
imported as the hub ships them, a vanilla and an oracle trained on them, and SMFA, IDK, NPO and
VERA compared at the published forget_10 list, every step with the project's defaults.

Each step is the CLI a user would type (`smfa import mllmu`, `smfa train`, `smfa compare`), timed.
The acceptance of issue 32 is checked on the results: vanilla's plain leak >= 90%; SMFA, IDK
and VERA at or below the oracle's leak (the free-text floor) + 5 points with meaningful answers
>= 90%; attacks and fair multiple choice reported beside the oracle. The headline figures, the
checks, the machine and the times are written to results/mllmu-sample.md.

    python benchmarks/bench_mllmu.py --root /tmp/mllmu        # about an hour on 2 cores
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_pipeline import machine
from smfa.protocol.attack_rows import matrix
from smfa.protocol.figures import FIGURES, figures_of

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "mllmu-sample"
METHODS = ("smfa", "idk", "npo", "vera")
FORGETTERS = ("smfa", "idk", "vera")  # held to the oracle's floor + 5 points
RATIO = 10
LEAKS = ("forget_leak_image", "forget_leak_text")


def smfa(*args: str | Path) -> tuple[str, float]:
    """Run one CLI command; its stdout and wall time (its stderr shown on failure)."""
    command = [sys.executable, "-m", "smfa.cli", *map(str, args)]
    started = time.perf_counter()
    ran = subprocess.run(command, capture_output=True, text=True)
    if ran.returncode != 0:
        raise SystemExit(f"smfa {' '.join(map(str, args[:2]))} failed:\n{ran.stderr[-3000:]}")
    return ran.stdout, time.perf_counter() - started


def run(root: Path, source: Path, extra: list[str]) -> tuple[dict[str, Any], dict[str, float]]:
    """Import, train both references, compare; the results dict and each step's seconds."""
    work = ["--set", f"workdir={root / 'work'}", *extra]
    times: dict[str, float] = {}
    _, times["import"] = smfa("import", "mllmu", source, root / "world", "--overwrite")
    world = root / "world"
    out, times["train vanilla"] = smfa("train", "--world", world, *work)
    vanilla = out.strip().splitlines()[-1]
    out, times["train oracle"] = smfa(
        "train", "--world", world, "--role", "oracle", "--forget-ratio", RATIO, *work
    )
    oracle = out.strip().splitlines()[-1]
    _, times["compare"] = smfa(
        "compare", "--world", world, "--vanilla", vanilla, "--oracle", oracle,
        "--out", root / "compare", "--set", f"compare.methods={','.join(METHODS)}",
        "--set", f"forget_ratio={RATIO}", *work,
    )  # fmt: skip
    data = json.loads((root / "compare" / "results.json").read_text(encoding="utf-8"))
    return data, times


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def checks(figures: dict[str, dict[str, float | None]]) -> list[tuple[str, bool, str]]:
    """The acceptance lines: (what, met, the measured figures)."""
    out: list[tuple[str, bool, str]] = []
    leak = {m: max((figures[m][k] or 0.0) for k in LEAKS) for m in figures}
    least = min((figures["vanilla"][k] or 0.0) for k in LEAKS)  # image and text, each
    out.append(("vanilla plain leak >= 90% (image and text)", least >= 0.9, _pct(least)))
    floor = leak.get("oracle", 0.0)
    for method in FORGETTERS:
        if method not in figures:
            continue
        line = f"{method}: plain leak <= oracle floor {_pct(floor)} + 5 points"
        out.append((line, leak[method] <= floor + 0.05, _pct(leak[method])))
        meaningful = figures[method]["meaningfulness"]
        line = f"{method}: meaningful answers >= 90%"
        out.append((line, meaningful is not None and meaningful >= 0.9, _pct(meaningful)))
    return out


def attack_table(data: dict[str, Any], models: list[str], shown: list[str]) -> list[str]:
    """Each attack's forget leak per model (fair MC: accuracy, beside its chance level)."""
    lines = ["| attack (forget) | " + " | ".join(shown) + " |", "|---|" + "---:|" * len(shown)]
    for split, metric, label in (("forget", "leak_rate", "leak"),
                                 ("forget", "mc_accuracy", "accuracy"),
                                 ("forget", "chance", "chance")):  # fmt: skip
        attacks, _, values = matrix(data, models, split, metric)
        for attack, row in zip(attacks, values, strict=True):
            lines.append(f"| {attack} {label} | " + " | ".join(map(_pct, row)) + " |")
    return [*lines, ""]


def markdown(data: dict[str, Any], times: dict[str, float], command: str) -> str:
    """The committed report: headline figures per model, the checks, times and the machine."""
    found = data.get("models", {})
    chosen = {info.get("method"): name for name, info in found.items() if info.get("selected")}
    names = {"vanilla": "vanilla", "oracle": "oracle"} | {m: chosen.get(m, m) for m in METHODS}
    roles = [m for m in ("vanilla", "oracle", *METHODS) if names[m] in found]
    models = [names[m] for m in roles]
    by_model = figures_of(data, models)
    figures = {role: by_model[names[role]] for role in roles}  # a method's row: its chosen variant
    shown = [f for f in FIGURES if any(figures[m][f.key] is not None for m in figures)]
    absent = [f.label for f in FIGURES if f not in shown]
    lines = [
        "# MLLMU-Bench sample (40 real profiles, hub parquet layout), forget_10",
        "",
        f"`{command}`",
        "",
        "| model | " + " | ".join(f"{f.label} {f.arrow}" for f in shown) + " |",
        "|---|" + "---:|" * len(shown),
    ]
    for model in figures:
        cells = [_pct(figures[model][f.key]) for f in shown]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines += ["", f"Not given by this data: {', '.join(absent)}." if absent else "", ""]
    lines += attack_table(data, models, list(figures))
    lines += ["| check | met | measured |", "|---|---|---:|"]
    lines += [f"| {what} | {'yes' if ok else 'NO'} | {got} |" for what, ok, got in checks(figures)]
    lines += ["", "| step | seconds |", "|---|---:|"]
    lines += [f"| {step} | {seconds:.0f} |" for step, seconds in times.items()]
    lines += ["", "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/bench-mllmu"))
    parser.add_argument("--source", type=Path, default=SAMPLE)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "mllmu-sample.md"
    )
    args = parser.parse_args()
    extra = [item for pair in (("--set", o) for o in args.overrides) for item in pair]
    data, times = run(args.root, args.source, extra)
    command = "python benchmarks/bench_mllmu.py " + " ".join(f"--set {o}" for o in args.overrides)
    text = markdown(data, times, command.strip())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
