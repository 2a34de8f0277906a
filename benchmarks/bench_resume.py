"""kill -9 of `smfa compare` at five points: no process left behind, and the rerun into the same
--out finishes with the results of an uninterrupted run.

A tiny world and a quickly trained vanilla are made once; an uninterrupted comparison is the
reference. Then, five times, a comparison is started in its own process and killed with SIGKILL
when a file appears that marks a point of its work (its --out claimed; the first method's
staging under the work folder; the first finished unlearning run; the first generations file;
results.json before the report). Every process it had started (its worker pool) must be gone
within 10 s; the same command is then run again into the same --out and must finish. Its
results.json must equal the reference's but for wall-clock times (`seconds`, `timings`: two runs
never take the same time), and every generations file must be byte for byte the reference's.
Each trial starts from the same empty work folder path (caches cleared, the models kept), so
the paths written into results.json are the same.

    python benchmarks/bench_resume.py --root /tmp/resume   # writes results/resume.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_pipeline import machine, record

WORLD = [
    *("--set", "world.people=20", "--set", "world.image_size=32", "--set", "world.train_scenes=12"),
    *("--set", "world.validation_scenes=4", "--set", "world.heldout_scenes=4"),
    *("--set", "world.unknown_people=3", "--set", "world.few_shot_retain=9"),
]
QUICK = [
    *("--set", "train.memory_repeats=2", "--set", "train.understanding_repeats=1"),
    *("--set", "train.fundus_repeats=1", "--set", "train.refusal_repeats=1"),
    *("--set", "train.batch_size=16", "--set", "model.vision_steps=2"),
    *("--set", "model.vision_batch=6"),
]
COMPARE = [
    *("--set", "compare.methods=smfa,idk", "--set", "methods.smfa.sweep=1,3"),
    *("--set", "unlearn.epochs=1", "--set", "unlearn.retain_budget=6"),
    *("--set", "eval.attacks=prefill,fair_mc", "--set", "eval.max_new_tokens=8"),
]
VOLATILE = ("seconds", "timings")


def smfa(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "smfa.cli", *map(str, args)]
    ran = subprocess.run(command, capture_output=True, text=True)
    if ran.returncode != 0:
        raise SystemExit(f"{' '.join(command[3:5])} failed:\n{ran.stderr[-2000:]}")
    return ran


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (children, their children, ...), from /proc."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """The pids still running (a zombie that nobody reaped counts as gone)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            running.add(pid)
    return running


def without(value: Any) -> Any:
    """`value` with every wall-clock time removed, recursively."""
    if isinstance(value, dict):
        return {k: without(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [without(v) for v in value]
    return value


def kill_when(command: list[str], ready: Callable[[], bool], limit: float) -> dict[str, Any]:
    """Start `command`, SIGKILL it as soon as `ready()`; what was left running after 10 s."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    started = time.perf_counter()
    seen: set[int] = set()
    while process.poll() is None and not ready():
        seen |= descendants(process.pid)
        if time.perf_counter() - started > limit:
            break
        time.sleep(0.05)
    seen |= descendants(process.pid)
    killed_at = time.perf_counter() - started
    finished = process.poll() is not None
    if not finished:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.perf_counter() + 10
    while alive(seen) and time.perf_counter() < deadline:
        time.sleep(0.2)
    left = alive(seen)
    for pid in left:  # not to leave them to the next trial
        os.kill(pid, signal.SIGKILL)
    return {
        "killed_after_s": round(killed_at, 1),
        "finished_before_kill": finished,
        "processes_seen": len(seen),
        "processes_left": len(left),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("runs/resume"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    root = args.root.resolve()
    shutil.rmtree(root, ignore_errors=True)
    models, work = root / "models", root / "work"
    world = root / "world"
    started = time.perf_counter()
    smfa("world", "build", "--out", world, *WORLD)
    trained = smfa("train", "--world", world, "--set", f"workdir={models}", *QUICK, *WORLD)
    vanilla = Path(trained.stdout.strip())
    base = ["compare", "--world", world, "--vanilla", vanilla, *COMPARE, *QUICK]
    base += ["--set", f"workdir={work}"]
    reference = root / "reference"
    smfa(*base, "--out", reference)
    expected = without(json.loads((reference / "results.json").read_text()))
    generations = {p.name: p.read_bytes() for p in reference.glob("generations-*.jsonl")}
    reference_s = round(time.perf_counter() - started, 1)

    def first(pattern: str, where: Path) -> Callable[[], bool]:
        return lambda: any(where.glob(pattern))

    points = {
        "--out claimed": lambda out: first(".smfa-results", out),
        "a method staging": lambda out: first("unlearned/*", work),
        "an unlearning run finished": lambda out: first("unlearned/*/run.json", work),
        "a generations file": lambda out: first("generations-*.jsonl", out),
        "results.json, before the report": lambda out: first("results.json", out),
    }
    trials = []
    for name, make in points.items():
        shutil.rmtree(work, ignore_errors=True)  # the same path, empty: caches from scratch
        out = root / f"killed-{len(trials) + 1}"
        command = [sys.executable, "-m", "smfa.cli", *map(str, base), "--out", str(out)]
        trial = {"point": name, **kill_when(command, make(out), limit=600)}
        rerun = time.perf_counter()
        smfa(*base, "--out", out)
        trial["rerun_s"] = round(time.perf_counter() - rerun, 1)
        found = without(json.loads((out / "results.json").read_text()))
        trial["results_match"] = found == expected
        trial["generations_match"] = generations == {
            p.name: p.read_bytes() for p in out.glob("generations-*.jsonl")
        }
        trial["report_written"] = (out / "report.html").is_file()
        print(json.dumps(trial))
        trials.append(trial)
    report = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/bench_resume.py",
        "reference_run_s": reference_s,
        "trials": trials,
        "all_clean": all(
            t["processes_left"] == 0 and t["results_match"] and t["generations_match"]
            for t in trials
        ),
    }
    record(args.out / "resume.json", report)


if __name__ == "__main__":
    main()
