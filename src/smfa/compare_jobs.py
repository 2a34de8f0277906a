"""The comparison's worker jobs and the two slices they ask.

`MethodJob` unlearns with one method (every variant), scores each variant on the validation
slice, chooses one there (`smfa.selection`) and evaluates and attacks the reported variants on
the reported slice; `EvalJob` evaluates and attacks a reference model (vanilla or the oracle).
Every evaluation and attack is cached, so jobs that ask the same rows share them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from smfa.attacks.runner import run_attacks
from smfa.config import EvalConfig, RunConfig
from smfa.data.format import World, load_world
from smfa.methods.base import get_method, make_params
from smfa.pipeline import ProgressFn, evaluate_model
from smfa.protocol.questions import REPORTED, VALIDATION
from smfa.selection import select_variants
from smfa.unlearn import ForgetRequest, run_key, unlearn


def report_eval(config: RunConfig) -> EvalConfig:
    """The reported slice: `compare.phrasings` (held-out wordings) and held-out scenes, asked of
    every model alike (`smfa eval` asks the training wordings too, to show what was memorized).
    """
    phrasings = list(config.compare.phrasings)
    return dataclasses.replace(
        config.eval, phrasings=phrasings, train_scenes=REPORTED.trained_scenes
    )


def validation_eval(config: RunConfig) -> EvalConfig:
    """The choosing slice (`VALIDATION`): validation wordings and scenes, generated answers."""
    return dataclasses.replace(
        config.eval,
        phrasings=[str(w) for w in VALIDATION.wordings],
        train_scenes=VALIDATION.trained_scenes,
        likelihood=VALIDATION.likelihood,
    )


def validation_rows(
    name: str,
    model_dir: Path,
    world: World,
    config: RunConfig,
    forget: tuple[str, ...],
    tick: Callable[[str, int, int], None],
) -> list[dict[str, Any]]:
    """A model's rows on the choosing slice (cached: every job asking them shares them)."""
    return evaluate_model(
        name,
        model_dir,
        world,
        config.forget_ratio,
        validation_eval(config),
        Path(config.workdir),
        tick=tick,
        forget_people=forget,
        model_options=config.model,
    )


def reported_rows(
    name: str,
    model_dir: Path,
    world: World,
    config: RunConfig,
    forget: tuple[str, ...],
    out_dir: str,
    tick: Callable[[str, int, int], None],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A model's rows on the reported slice (its answers written to `out_dir`) and its attack
    rows (`eval.attacks`), both cached."""
    asked = report_eval(config)
    rows = evaluate_model(
        name,
        model_dir,
        world,
        config.forget_ratio,
        asked,
        Path(config.workdir),
        Path(out_dir),
        tick=tick,
        forget_people=forget,
        model_options=config.model,
    )
    attacks = run_attacks(
        name, model_dir, world, forget, asked, Path(config.workdir), config.model, tick
    )
    return rows, attacks


def ticker(progress: ProgressFn, name: str) -> Callable[[str, int, int], None]:
    """An evaluation's progress callback, reported as `eval NAME · part`."""

    def tick(part: str, done: int, total: int) -> None:
        progress(f"eval {name} · {part}", done, total, None)

    return tick


def method_config(config: RunConfig, method: str) -> RunConfig:
    """The run config one method sees: SMFA gets the k sweep of `compare.smfa_k`."""
    if method != "smfa" or not config.compare.smfa_k:
        return config
    methods = {**config.methods}
    methods["smfa"] = {**methods.get("smfa", {}), "sweep": list(config.compare.smfa_k)}
    return dataclasses.replace(config, methods=methods)


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
        cfg = method_config(self.config, self.method)
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
        for label, info in meta["variants"].items():
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
            result["rows"], result["attacks"] = (
                reported_rows(
                    result["name"], Path(result["dir"]), world, cfg, forget, self.out_dir,
                    ticker(progress, result["name"]),
                )
                if result["reported"]
                else ([], [])
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
        rows, attacks = reported_rows(
            self.name, Path(self.model_dir), world, cfg, forget, self.out_dir,
            ticker(progress, self.name),
        )  # fmt: skip
        return {"rows": rows, "attacks": attacks}
