"""The comparison's worker jobs and the two slices they ask.

`MethodJob` unlearns with one method (every variant), scores each variant on the validation
slice, chooses one there (`smfa.selection`) and evaluates and attacks the reported variants on
the reported slice; `EvalJob` evaluates and attacks a reference model (vanilla or the oracle).
Every evaluation and attack is cached, so jobs that ask the same rows share them.
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
from smfa.distributed import is_main
from smfa.eval.evaluate import Ask, evaluate
from smfa.eval.results import write_generations
from smfa.methods.base import get_method, make_params
from smfa.pipeline import ProgressFn
from smfa.protocol.questions import VALIDATION, Slice, check_slice, named_slice
from smfa.selection import natural_key, select_variants
from smfa.unlearn import ForgetRequest, run_key, unlearn


def reported_slice(config: RunConfig) -> Slice:
    """The slice every model of the comparison is reported and attacked on (`compare.slice`)."""
    return named_slice(config.compare.slice, "compare.slice")


def validation_rows(
    name: str,
    model_dir: Path,
    world: World,
    config: RunConfig,
    forget: tuple[str, ...],
    tick: Callable[[str, int, int], None],
) -> list[dict[str, Any]]:
    """A model's rows on the choosing slice (cached: every job asking them shares them); a
    world whose validation slice is empty is refused (nothing could be chosen on it)."""
    check_slice(world, VALIDATION, forget)
    ask = Ask.of(VALIDATION, forget)
    return list(
        evaluate(
            model_dir, world, ask, config.eval, Path(config.workdir),
            name=name, options=config.model, tick=tick,
        ).rows
    )  # fmt: skip


def reported_rows(
    name: str,
    model_dir: Path,
    world: World,
    config: RunConfig,
    forget: tuple[str, ...],
    out_dir: str,
    tick: Callable[[str, int, int], None],
) -> list[dict[str, Any]]:
    """A model's rows on the reported slice, every attack of `eval.attacks` included (its
    answers written to `out_dir`), from one cached evaluation."""
    ask = Ask.of(reported_slice(config), forget, config.eval.attacks)
    result = evaluate(
        model_dir, world, ask, config.eval, Path(config.workdir),
        name=name, options=config.model, tick=tick,
    )  # fmt: skip
    if is_main():
        write_generations(Path(out_dir), name, result.records)
    return list(result.rows)


def ticker(progress: ProgressFn, name: str) -> Callable[[str, int, int], None]:
    """An evaluation's progress callback, reported as `eval NAME · part`."""

    def tick(part: str, done: int, total: int) -> None:
        progress(f"eval {name} · {part}", done, total, None)

    return tick


@dataclass
class MethodJob:
    """Unlearn with one method (all variants), then evaluate its variants."""

    method: str
    config: RunConfig
    world_dir: str
    vanilla: str
    out_dir: str
    request: ForgetRequest
    after: tuple[str, ...] = ()  # the job training the vanilla model, when in the same pool

    @property
    def name(self) -> str:
        return self.method

    def execute(self, progress: ProgressFn) -> dict[str, Any]:
        cfg = self.config
        torch.set_num_threads(cfg.unlearn.threads)
        world = load_world(Path(self.world_dir), verify_hashes=False)
        params = make_params(get_method(self.method), cfg.methods.get(self.method))
        key = run_key(Path(self.vanilla), world, self.request, self.method, params, cfg.unlearn)
        run_dir = Path(cfg.workdir) / "unlearned" / f"{self.method}-{key[:12]}"

        def on_step(stage: str, step: int, total: int, loss: float) -> None:
            if step % 5 == 0 or step == total:
                progress(stage, step, total, loss)

        started = time.time()
        meta = unlearn(
            world,
            Path(self.vanilla),
            self.method,
            cfg,
            self.request,
            run_dir,
            show_progress=False,
            on_step=on_step,
            all_variants=True,
        )
        variants: dict[str, Any] = {}
        several = len(meta["variants"]) > 1
        forget = tuple(self.request.people)
        # Labels in natural order (k=1, k=3, k=10): a run reused from its run.json (keys sorted
        # on disk) lists its variants as a fresh one does, so a resumed compare writes the same.
        for label in sorted(meta["variants"], key=natural_key):
            info = meta["variants"][label]
            model_dir = run_dir / info["model"]
            name = self.method if not several else f"{self.method}-{label.replace('=', '')}"
            variants[label] = {"name": name, "dir": str(model_dir), "params": info["params"]}
            if several:
                variants[label]["validation_rows"] = validation_rows(
                    name, model_dir, world, cfg, forget, ticker(progress, name)
                )
        selection, vanilla_rows = None, []
        if several:
            selection, vanilla_rows = self._selection(cfg, world, variants, forget, progress)
        reported = list(variants)
        if selection is not None and cfg.compare.report_variants == "selected":
            reported = [selection["variant"]]
        for label, result in variants.items():  # the others: the validation slice only
            result["reported"] = label in reported
            result["rows"] = (
                reported_rows(
                    result["name"], Path(result["dir"]), world, cfg, forget, self.out_dir,
                    ticker(progress, result["name"]),
                )
                if result["reported"]
                else []
            )  # fmt: skip
        return {
            "run": meta,
            "variants": variants,
            "seconds": time.time() - started,
            "run_dir": str(run_dir),
            "selection": selection,
            "vanilla_validation_rows": vanilla_rows,
        }

    def _selection(
        self,
        cfg: RunConfig,
        world: World,
        variants: dict[str, Any],
        forget: tuple[str, ...],
        progress: ProgressFn,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The variant chosen on validation (`select_variants`), and vanilla's rows it read."""
        tick = ticker(progress, "vanilla")
        vanilla_rows = validation_rows("vanilla", Path(self.vanilla), world, cfg, forget, tick)
        chosen = select_variants(
            {self.method: {"variants": variants}}, vanilla_rows, cfg.compare.max_leak
        )
        return chosen[self.method], vanilla_rows


@dataclass
class EvalJob:
    """Evaluate a reference model (vanilla or oracle) on the reported slice, with attacks."""

    name: str
    model_dir: str
    config: RunConfig
    world_dir: str
    out_dir: str
    request: ForgetRequest
    after: tuple[str, ...] = ()  # the job training this model, when in the same pool

    def execute(self, progress: ProgressFn) -> dict[str, Any]:
        cfg = self.config
        torch.set_num_threads(cfg.eval.threads)
        world = load_world(Path(self.world_dir), verify_hashes=False)
        forget = tuple(self.request.people)
        rows = reported_rows(
            self.name, Path(self.model_dir), world, cfg, forget, self.out_dir,
            ticker(progress, self.name),
        )  # fmt: skip
        return {"rows": rows}
