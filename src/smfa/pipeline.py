"""Putting the pieces together: world -> reference models -> evaluation, cached.

The CLI commands and the demo call these functions. Long jobs (training and evaluating one
reference model) run in worker processes (`smfa.workers`), one torch thread each, because on a
few CPU cores two single-threaded processes beat one two-threaded one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from smfa.config import EvalConfig, ModelConfig, RunConfig, WorldConfig
from smfa.data.format import World, load_world
from smfa.distributed import barrier, is_distributed, is_main, state
from smfa.eval.harness import aggregate, generations, score_questions
from smfa.eval.results import write_generations
from smfa.io import atomic_write_json, canonical_json, sha256_text
from smfa.models.io import load_model, load_options
from smfa.reference import BASE_META, base_dir, build_base, is_cached, train_reference
from smfa.terminal import console
from smfa.train import progress_bar
from smfa.world.build import WorldParams, build_world

# Attack settings change attack rows only (cached by smfa.attacks.runner), never these.
ATTACK_SETTINGS = ("attacks", "attack_retain", "relearn_steps", "relearn_seeds", "relearn_lr")
EVAL_SCHEMA = 2  # 2: teacher forcing shares prompt encodings (same scores up to rounding)


def world_params(config: WorldConfig) -> WorldParams:
    return WorldParams(**asdict(config))


def ensure_world(out: Path, config: WorldConfig) -> World:
    """Build the world into `out` (or reuse an identical one there), then load and validate it."""
    console(stderr=True).print(
        f"[bold]world[/bold] {out} ({config.people} people, seed {config.seed})"
    )
    build_world(Path(out), world_params(config))
    return load_world(Path(out))


def ensure_base(world: World, config: RunConfig) -> Path:
    """Build (or reuse) the base model both reference models start from, with a progress bar."""
    cached = base_dir(Path(config.workdir), world, config.model, config.train.seed)
    if is_cached(cached, BASE_META):  # no bar standing at 0 for work that will not run
        return cached
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
    model_options: ModelConfig | None = None,
) -> str:
    # Settings that cannot change a score stay out of the key, so they never void the cache.
    unscored = {"threads", "judge_key_env", "judge_timeout", *ATTACK_SETTINGS}
    settings = {k: v for k, v in asdict(config).items() if k not in unscored}
    payload = {
        "schema": EVAL_SCHEMA,
        "model": model_fingerprint(model_dir),
        "world": world.world_hash,
        "ratio": ratio,
        "eval": settings,
    }
    if forget_people is not None:
        payload["forget_people"] = sorted(forget_people)
    loading = load_options(model_options) if model_options is not None else {}
    if loading and loading != load_options(ModelConfig()):  # default keys stay as they were
        payload["loading"] = {k: str(v) for k, v in loading.items()}
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
    forget_people: tuple[str, ...] | None = None,
    model_options: ModelConfig | None = None,
) -> list[dict[str, Any]]:
    """Metric rows for one model, from the cache when this exact evaluation ran before."""
    torch.set_num_threads(config.threads)
    key = eval_key(model_dir, world, ratio, config, forget_people, model_options)
    cache = Path(workdir) / "evals" / f"{key[:16]}.json"
    cached = _read_cache(cache)
    if cached is not None:
        rows, records = cached
    else:
        model, processor = load_model(model_dir, options=model_options)
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


def _read_cache(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    """A cached evaluation, or None when there is none or it is damaged (then it is redone)."""
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        rows, records = cached["rows"], cached["generations"]
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(rows, list) or not isinstance(records, list):
        return None
    return rows, records


ProgressFn = Callable[[str, int, int, "float | None"], None]


@dataclass
class ReferenceJob:
    """Train (or reuse) one reference model (the demo evaluates it through `smfa compare`)."""

    role: str
    config: RunConfig
    world_dir: str

    @property
    def name(self) -> str:
        return f"train {self.role}"

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
        return {"model_dir": str(model_dir), "train_seconds": time.time() - started}
