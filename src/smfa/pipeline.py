"""Putting the pieces together: world -> reference models -> evaluation, cached and parallel.

The CLI commands and the demo call these functions. Long jobs (training and evaluating one
reference model) run in worker processes, one torch thread each, because on a few CPU cores two
single-threaded processes beat one two-threaded one; the parent shows one progress bar per job.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import queue
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from smfa.config import EvalConfig, RunConfig, WorldConfig
from smfa.data.format import World, load_world
from smfa.distributed import barrier, is_distributed, is_main, state
from smfa.errors import SmfaError
from smfa.eval.harness import aggregate, generations, score_questions
from smfa.eval.results import write_generations
from smfa.io import atomic_write_json, canonical_json, sha256_text
from smfa.models.io import load_model
from smfa.reference import build_base, train_reference
from smfa.train import progress_bar
from smfa.world.build import WorldParams, build_world

EVAL_SCHEMA = 1


def world_params(config: WorldConfig) -> WorldParams:
    return WorldParams(**asdict(config))


def ensure_world(out: Path, config: WorldConfig) -> World:
    """Build the world into `out` (or reuse an identical one there), then load and validate it."""
    Console(stderr=True).print(
        f"[bold]world[/bold] {out} ({config.people} people, seed {config.seed})"
    )
    build_world(Path(out), world_params(config))
    return load_world(Path(out))


def ensure_base(world: World, config: RunConfig) -> Path:
    """Build (or reuse) the base model both reference models start from, with a progress bar."""
    with progress_bar() as bar:
        tasks = {
            "vision": bar.add_task(
                "pretrain vision", total=config.model.vision_steps, loss=float("nan")
            ),
        }

        def on_step(stage: str, step: int, total: int, loss: float) -> None:
            bar.update(tasks[stage], completed=step, total=total, loss=loss)

        return build_base(world, config.model, config.train.seed, Path(config.workdir), on_step)


def model_fingerprint(model_dir: Path) -> str:
    """Identifies a model's exact weights without reading them: names, sizes and mtimes."""
    model_dir = Path(model_dir)
    meta = model_dir / "smfa-train.json"
    files = (
        sorted(
            p for p in model_dir.iterdir() if p.suffix in (".safetensors", ".json") and p.is_file()
        )
        if model_dir.is_dir()
        else []
    )
    stamp = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    identity = meta.read_text(encoding="utf-8") if meta.exists() else ""
    return sha256_text(
        canonical_json({"dir": str(model_dir.resolve()), "files": stamp, "meta": identity})
    )


def eval_key(
    model_dir: Path,
    world: World,
    ratio: int,
    config: EvalConfig,
    forget_people: tuple[str, ...] | None = None,
) -> str:
    settings = {k: v for k, v in asdict(config).items() if k != "threads"}
    payload = {
        "schema": EVAL_SCHEMA,
        "model": model_fingerprint(model_dir),
        "world": world.world_hash,
        "ratio": ratio,
        "eval": settings,
    }
    if forget_people is not None:
        payload["forget_people"] = sorted(forget_people)
    return sha256_text(canonical_json(payload))


def evaluate_model(
    name: str,
    model_dir: Path,
    world: World,
    ratio: int,
    config: EvalConfig,
    workdir: Path,
    out_dir: Path | None = None,
    tick: Any = None,
    trust_remote_code: bool = False,
    forget_people: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """Metric rows for one model, from the cache when this exact evaluation ran before."""
    torch.set_num_threads(config.threads)
    key = eval_key(model_dir, world, ratio, config, forget_people)
    cache = Path(workdir) / "evals" / f"{key[:16]}.json"
    if cache.exists():
        cached = json.loads(cache.read_text(encoding="utf-8"))
        rows, records = cached["rows"], cached["generations"]
    else:
        model, processor = load_model(model_dir, trust_remote_code=trust_remote_code)
        if is_distributed():  # launched: each process asks its share on its own device
            model.to(state().device)
        scored = score_questions(
            model, processor, world, ratio, config, tick=tick, forget_people=forget_people
        )
        rows, records = aggregate("model", scored), generations("model", scored)
        if is_main():
            atomic_write_json(cache, {"rows": rows, "generations": records}, indent=None)
        barrier()  # every process sees the same cache before the next evaluation
    rows = [{**r, "model": name} for r in rows]
    if out_dir is not None and is_main():
        write_generations(out_dir, name, [{**r, "model": name} for r in records])
    return rows


ProgressFn = Callable[[str, int, int, "float | None"], None]


@dataclass
class ReferenceJob:
    """Train (or reuse) one reference model, then evaluate it."""

    role: str
    config: RunConfig
    world_dir: str
    out_dir: str
    evaluate: bool = True  # the demo evaluates through `smfa compare` instead

    @property
    def name(self) -> str:
        return self.role

    def execute(self, progress: ProgressFn) -> dict[str, Any]:
        cfg = self.config
        torch.set_num_threads(cfg.train.threads)
        world = load_world(Path(self.world_dir), verify_hashes=False)

        def on_step(step: int, total: int, loss: float) -> None:
            if step % 5 == 0 or step == total:
                progress(f"train {self.role}", step, total, loss)

        started = time.time()
        model_dir = train_reference(
            world,
            self.role,
            cfg.forget_ratio,
            cfg.model,
            cfg.train,
            Path(cfg.workdir),
            show_progress=False,
            on_step=on_step,
        )
        trained = time.time() - started
        result = {"model_dir": str(model_dir), "train_seconds": trained}
        if not self.evaluate:
            return {**result, "rows": [], "seconds": time.time() - started}

        def tick(label: str, done: int, total: int) -> None:
            progress(f"eval {self.role} · {label}", done, total, None)

        rows = evaluate_model(
            self.name,
            model_dir,
            world,
            cfg.forget_ratio,
            cfg.eval,
            Path(cfg.workdir),
            Path(self.out_dir),
            tick=tick,
        )
        return {**result, "rows": rows, "seconds": time.time() - started}


def _run_job(job: Any, messages: Any) -> None:
    """Worker-process body: run `job.execute`, reporting progress and the result."""
    try:

        def progress(label: str, done: int, total: int, loss: float | None) -> None:
            messages.put(("progress", job.name, label, done, total, loss))

        messages.put(("done", job.name, job.execute(progress)))
    except SmfaError as exc:
        messages.put(("error", job.name, str(exc)))
    except Exception as exc:  # a bug in a worker: surface it with its type, not silently
        messages.put(("error", job.name, f"{type(exc).__name__}: {exc}"))


def run_jobs(jobs: list[Any], workers: int = 2) -> dict[str, Any]:
    """Run jobs (objects with `name` and `execute(progress)`) in up to `workers` processes.

    One live progress bar per job; returns each job's result by name. A failing job stops the
    others and raises its error.
    """
    context = mp.get_context("spawn")
    messages = context.Queue()
    processes = [
        context.Process(target=_run_job, args=(job, messages), daemon=True) for job in jobs
    ]
    results: dict[str, Any] = {}
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
    )
    names = {id(w): job.name for w, job in zip(processes, jobs, strict=True)}
    with Progress(*columns, console=Console(stderr=True)) as bar:
        tasks = {job.name: bar.add_task(f"wait {job.name}", total=None, note="") for job in jobs}
        pending = list(processes)
        running: list[Any] = []
        while len(results) < len(jobs):
            while pending and len(running) < max(1, workers):
                worker = pending.pop(0)
                worker.start()
                running.append(worker)
            try:
                message = messages.get(timeout=0.5)
            except queue.Empty:
                for worker in running:
                    if worker.exitcode is not None and names[id(worker)] not in results:
                        raise SmfaError(
                            f"{names[id(worker)]}: worker process died (exit {worker.exitcode})"
                        ) from None
                continue
            kind, name = message[0], message[1]
            if kind == "progress":
                _, _, label, done, total, loss = message
                note = f"loss {loss:.4f}" if loss is not None else ""
                bar.update(tasks[name], description=label, completed=done, total=total, note=note)
            elif kind == "done":
                results[name] = message[2]
                bar.update(tasks[name], description=f"{name} done", note="")
                running = [w for w in running if names[id(w)] not in results]
            else:
                for worker in processes:
                    if worker.is_alive():
                        worker.terminate()
                raise SmfaError(f"{name}: {message[2]}")
    for worker in processes:
        worker.join(timeout=30)
    return results
