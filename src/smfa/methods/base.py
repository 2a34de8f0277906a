"""What every unlearning method shares: its inputs, its output, the registry, small loss helpers.

A method is one file in this package that defines a subclass of `Method` with a `name`, a
`Params` dataclass (its own knobs, set as `methods.NAME.KEY=VALUE`) and `run(job)`. It receives
the model to unlearn (the vanilla model, plain, in memory), the forget set (true answers and
refusal-relabelled answers) and the few-shot retain sample, and returns dense weight deltas
(`W = W0 + delta`). It never grades itself: methods do not import the evaluation (`smfa.eval`).
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from smfa.config import UnlearnConfig, apply_section
from smfa.data.batches import IGNORE_INDEX, Collator, Sample
from smfa.data.records import Question
from smfa.errors import ConfigError
from smfa.models.adapters import LoraSpec
from smfa.models.logprobs import token_logprobs
from smfa.train import LossFn, TrainResult, default_loss, train_loop

Deltas = dict[str, torch.Tensor]
REGISTRY: dict[str, type[Method]] = {}


@dataclass
class UnlearnData:
    """The unlearning budget: the whole forget set and a few retain examples, nothing more."""

    forget: list[Sample]  # forget questions with their true answers
    forget_refusals: list[Sample]  # the same questions, answers replaced by pool refusals
    retain: list[Sample]  # the few-shot retain sample with true answers
    collator: Collator  # answer-only labels; augments images when configured
    # The rows behind `forget` and `retain`, in the same order (kind, value, image type, ...),
    # for methods that build their own contexts from them; empty when a caller has none.
    forget_questions: list[Question] = field(default_factory=list)
    retain_questions: list[Question] = field(default_factory=list)


@dataclass
class Variant:
    """One way to finish a method (e.g. one k of SMFA); deltas are computed on demand."""

    params: dict[str, Any]
    deltas: Callable[[], Deltas]


@dataclass
class MethodOutput:
    """What a method returns: its variants (one for most methods), statistics, timings."""

    variants: dict[str, Variant]  # label ("" for a single variant) -> variant
    default: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Job:
    """One method run: the plain model, its data and settings, and where artifacts go."""

    model: Any
    data: UnlearnData
    config: UnlearnConfig
    params: Any
    artifacts: Path  # the method may write adapters, masks, ... here
    show_progress: bool = True
    on_step: Callable[[str, int, int, float], None] | None = None

    @property
    def lora(self) -> LoraSpec:
        c = self.config
        return LoraSpec(c.lora_r, c.lora_alpha, c.lora_dropout, c.lora_targets)

    def train(
        self,
        model: Any,
        items: Sequence[Any],
        stage: str,
        loss_fn: LossFn | None = None,
        collate: Callable[[Sequence[Any]], Any] | None = None,
    ) -> TrainResult:
        """The shared training loop with this run's lr, batch, warm-up and seed."""
        report = None
        if self.on_step is not None:
            callback = self.on_step

            def report(step: int, total: int, loss: float) -> None:
                callback(stage, step, total, loss)

        return train_loop(
            model,
            items,  # type: ignore[arg-type]
            collate or self.data.collator,  # type: ignore[arg-type]
            self.config.loop,
            loss_fn=loss_fn or default_loss,
            description=stage,
            show_progress=self.show_progress,
            on_step=report,
        )


class Method(ABC):
    """Base class; subclasses register themselves by defining `name`."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    # Raised when a change moves the method's results at the same parameters: part of its runs'
    # cache key from 1 on, so a cached run of an earlier revision is never taken for this one.
    revision: ClassVar[int] = 0

    @dataclass
    class Params:
        pass

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            REGISTRY[cls.name] = cls

    @abstractmethod
    def run(self, job: Job) -> MethodOutput:
        """Unlearn `job.data` from `job.model`; return dense deltas, leaving the model as given."""


def make_params(method: type[Method], raw: dict[str, Any] | None) -> Any:
    """The method's Params with `raw` applied (unknown keys get a did-you-mean hint), built
    again from the final values so that its `__post_init__` checks them."""
    where = f"methods.{method.name}"
    checked = apply_section(method.Params(), dict(raw or {}), where)
    for name, value in dataclasses.asdict(checked).items():
        for number in value if isinstance(value, list) else [value]:
            if isinstance(number, float) and not math.isfinite(number):
                raise ConfigError(f"{where}.{name} must be a finite number, got {number!r}")
    return dataclasses.replace(checked)


def params_dict(params: Any) -> dict[str, Any]:
    return asdict(params) if params is not None else {}


def get_method(name: str) -> type[Method]:
    from smfa import methods  # noqa: F401  (importing the package registers every method)

    if name not in REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, list(REGISTRY), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"unknown method '{name}'{hint}; methods: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def check_knobs(method: str, params: Any, rules: Sequence[tuple[str, bool, str]]) -> None:
    """Raise ConfigError naming the first `methods.METHOD.KEY` whose rule fails: `rules` lists
    (key, whether its value is allowed, what is allowed)."""
    for key, allowed, wanted in rules:
        if not allowed:
            raise ConfigError(
                f"methods.{method}.{key} must be {wanted}, got {getattr(params, key)!r}"
            )


def epochs_of(samples: Sequence[Any], epochs: int, seed: int) -> list[Any]:
    """`epochs` seeded shuffles of `samples`, concatenated (the loop itself never shuffles)."""
    rng = np.random.default_rng([seed, 11])
    order: list[Any] = []
    for _ in range(epochs):
        order += [samples[int(i)] for i in rng.permutation(len(samples))]
    return order


def paired(
    forget: Sequence[Sample], retain: Sequence[Sample], epochs: int, seed: int
) -> list[tuple[Sample, Sample]]:
    """Each forget example (per epoch, shuffled) with a retain example, cycling the retain set."""
    if not forget or not retain:
        raise ConfigError(
            "this method pairs forget and retain examples; "
            f"got {len(forget)} forget and {len(retain)} retain (raise unlearn.retain_budget)"
        )
    f = epochs_of(forget, epochs, seed)
    r = epochs_of(retain, math.ceil(len(f) / max(1, len(retain))), seed + 1)
    return list(zip(f, r[: len(f)], strict=True))


class PairCollator:
    """Collates (forget, retain) pairs into {"forget": batch, "retain": batch}."""

    def __init__(self, collator: Collator):
        self.collator = collator

    def __call__(self, pairs: Sequence[tuple[Sample, Sample]]) -> dict[str, Any]:
        return {
            "forget": self.collator([p[0] for p in pairs]),
            "retain": self.collator([p[1] for p in pairs]),
        }


def answer_logprobs(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per example, the summed log-probability of its answer tokens (labels != -100)."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    labels = batch["labels"][:, 1:]
    picked = token_logprobs(model(**inputs).logits[:, :-1], labels)
    return (picked * (labels != IGNORE_INDEX)).sum(dim=1)


def answer_lengths(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return (batch["labels"][:, 1:] != IGNORE_INDEX).sum(dim=1).clamp(min=1)
