"""Run configuration: dataclasses, loaded from YAML, overridden from the command line.

One `RunConfig` describes a whole run (world, model, training, evaluation). Unknown keys are
errors with a "did you mean" hint, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from smfa.errors import ConfigError


@dataclass
class WorldConfig:
    """Parameters of the generated world (see smfa.world.build.WorldParams)."""

    people: int = 40
    seed: int = 0
    image_size: int = 64
    fundus_share: float = 0.3
    train_scenes: int = 800
    validation_scenes: int = 60
    heldout_scenes: int = 120
    unknown_people: int = 30
    few_shot_retain: int = 64


@dataclass
class ModelConfig:
    """The tiny model trained here, and how checkpoints are loaded."""

    preset: str = "tiny"  # tiny | small
    trust_remote_code: bool = False  # only for checkpoints whose code you have read
    # Vision pretraining of the tiny preset's CLIP tower on fresh generated images.
    vision_steps: int = 1200
    vision_batch: int = 48
    vision_lr: float = 3e-3
    base_threads: int = 2  # the base is built before the workers start, so it has every core


@dataclass
class TrainConfig:
    """The reference-model training loop (vanilla and oracle)."""

    seed: int = 0
    threads: int = 1
    batch_size: int = 32
    lr: float = 1e-3
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    # Passes over each kind of example; person facts need many more exposures than scenes.
    memory_repeats: int = 40
    understanding_repeats: int = 8
    scene_repeats: int = 1
    refusal_repeats: int = 1
    augment: bool = True
    freeze_vision: bool = True  # the pretrained tower already sees; the LM learns the world
    bf16: bool = False  # bf16 autocast (weights stay fp32); faster on CPUs with AMX or a GPU


@dataclass
class EvalConfig:
    """The evaluation harness."""

    batch_size: int = 64
    max_new_tokens: int = 24
    threads: int = 1
    # The validation wordings exist for choosing hyper-parameters; add "validation" when tuning.
    phrasings: list[str] = field(default_factory=lambda: ["train", "heldout"])


@dataclass
class RunConfig:
    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    forget_ratio: int = 10
    workdir: str = "runs"


def _hint(key: str, choices: list[str], prefix: str) -> str:
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{prefix}{close[0]}'?)"
    return f" (known keys: {', '.join(choices)})"


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check/convert a YAML or CLI value to the field's declared type."""
    origin = typing.get_origin(annotation)
    if origin is list:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (inner,) = typing.get_args(annotation)
        return [_coerce(item, inner, where) for item in value]
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{where}: union-typed fields are not supported")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "1", "0", "yes", "no"}:
            return value.lower() in {"true", "1", "yes"}
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = annotation(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}") from None
        if annotation is int and isinstance(value, float) and value != int(value):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return number
    if annotation is str:
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return str(value)
    return value


def _apply(obj: Any, data: dict[str, Any], where: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            prefix = f"{where}." if where else ""
            raise ConfigError(f"unknown config key '{path}'{_hint(str(key), names, prefix)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            _apply(current, value, path)
        else:
            setattr(obj, key, _coerce(value, hints[key], path))


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Defaults, then the YAML file (if any), then `key.sub=value` overrides, in that order."""
    config = RunConfig()
    if path is not None:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
        try:
            _apply(config, data, "")
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like section.key=value")
        dotted, raw = item.split("=", 1)
        nested: Any = yaml.safe_load(raw) if raw else ""
        for part in reversed(dotted.strip().split(".")):
            nested = {part: nested}
        _apply(config, nested, "")
    return config


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
