"""Putting the pieces together: world -> base model -> reference models, cached.

The CLI commands and the demo call these functions. Long jobs (training one reference model)
run in worker processes (`smfa.workers`), one torch thread each, because on a few CPU cores two
single-threaded processes beat one two-threaded one. Evaluation is `smfa.eval.evaluate`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from smfa.config import RunConfig
from smfa.data.format import World, load_world
from smfa.reference import BASE_META, base_dir, build_base, is_cached, train_reference
from smfa.terminal import progress_bar


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
