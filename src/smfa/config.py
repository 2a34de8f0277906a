"""Run configuration: dataclasses, loaded from YAML, overridden from the command line.

One `RunConfig` describes a whole run (world, model, training, evaluation). Unknown keys are
errors with a "did you mean" hint, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from smfa.errors import ConfigError


@dataclass
class WorldConfig:
    """Everything that determines a generated world (`smfa.world.build.build_world`): the same
    values always give the same bytes."""

    people: int = 25
    seed: int = 0
    image_size: int = 64
    fundus_share: float = 0.3
    train_scenes: int = 800
    validation_scenes: int = 60
    heldout_scenes: int = 120
    unknown_people: int = 30
    few_shot_retain: int = 64
    forget_ratios: list[int] = field(default_factory=lambda: [5, 10, 15])

    def as_dict(self) -> dict[str, Any]:
        """The parameters as JSON values, as recorded in the manifest."""
        return dataclasses.asdict(self)

    def check(self) -> None:
        """Raise ConfigError naming the first parameter outside its bounds (`BOUNDS`)."""
        for key in BOUNDS:
            if key.startswith("world."):
                found = getattr(self, key.removeprefix("world."))
                many = isinstance(found, (list, tuple))
                if many and not found:
                    raise ConfigError(f"{key} must list at least one value")
                for value in found if many else [found]:
                    check_bound(key, value)


@dataclass
class ModelConfig:
    """The tiny model trained here, and how checkpoints are loaded."""

    preset: str = "tiny"  # tiny | small
    trust_remote_code: bool = False  # only for checkpoints whose code you have read
    # How a checkpoint is loaded for unlearning and evaluation (docs/models.md).
    dtype: str = "fp32"  # fp32 | bf16 | fp16 | auto (the checkpoint's own)
    attn_implementation: str = ""  # eager | sdpa | flash_attention_2; empty: transformers' pick
    gradient_checkpointing: bool = False  # recompute activations: less memory, slower steps
    device: str = "cpu"  # where unlearning and evaluation load it: cpu, cuda, cuda:1, ...
    # Vision pretraining of the tiny preset's CLIP tower on fresh generated images.
    vision_steps: int = 1200
    vision_batch: int = 48
    vision_lr: float = 3e-3
    base_threads: int = 2  # the base is built before the workers start, so it has every core


@dataclass
class LoopConfig:
    """What the one training loop (`smfa.train.train_loop`) reads: seed, batch, optimizer and
    schedule. Each caller's settings give theirs (`TrainConfig.loop`, `UnlearnConfig.loop`)."""

    seed: int = 0
    threads: int = 1
    batch_size: int = 32
    lr: float = 1e-3
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    # bf16 autocast (weights stay fp32): x1.7 faster on an AMX CPU; a CPU without bf16
    # arithmetic (AVX2 only) trains in fp32 instead, where emulated bf16 is x17 slower
    bf16: bool = True


@dataclass
class TrainConfig(LoopConfig):
    """The reference-model training: its loop's settings (`LoopConfig`) and the schedule."""

    # Passes over each kind of example; person facts need many more exposures than scenes.
    # One vanilla each on the demo world (held-out phrasings, previous tokenizer;
    # benchmarks/LOG.md has the current model too): 24/12 gave understanding of
    # portraits 80.7% and fundus 83.3%, re-rendered portraits 92.9%; 24/24 gave 95.5% / 96.7%
    # and 99.0% for 17% more steps; 20/24 dropped portraits to 88.6%.
    memory_repeats: int = 24
    understanding_repeats: int = 24
    # Understanding facts of fundus images: few patients, look-alike eyes, features the tower
    # sees least well (83% on fresh pictures against 93% for portraits). 48 against 24 took
    # every fundus cell of the demo's vanilla from 90.0-96.7% to 96.7-100% (30 more steps).
    fundus_repeats: int = 48
    scene_repeats: int = 1
    refusal_repeats: int = 1
    augment: bool = True  # re-frame photos of people in training (scenes are never re-framed)
    freeze_vision: bool = True  # the pretrained tower already sees; the LM learns the world
    # Each batch computed as this many micro-batches of similar length (the same samples and
    # the same token-mean loss, less padding: `smfa.data.batches.LengthSplit`); 1: unsplit.
    length_parts: int = 4

    @property
    def loop(self) -> LoopConfig:
        return LoopConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(LoopConfig)})


# Every attack of smfa.attacks, in report order (kept here so the config needs no torch).
ALL_ATTACKS = (
    *("prefill", "prefill_first_word", "leak_at_k", "leak_at_k_prefill"),
    *("refusal_suppression", "prefix_injection", "role_play", "fill_blank"),
    *("flip", "crop_resize", "noise", "jpeg"),
    *("bf16", "int8", "bf16_prefill", "int8_prefill"),
    *("relearn", "relearn_strong", "fair_mc", "mia"),
)
# What `eval.attacks` runs unless told: every attack but the strong relearning grid (72 tuning
# runs at its defaults: hours on a CPU). `eval.attacks=all` runs every one.
EXPENSIVE_ATTACKS = ("relearn_strong",)
DEFAULT_ATTACKS = tuple(a for a in ALL_ATTACKS if a not in EXPENSIVE_ATTACKS)
RELEARN_MODES = ("lora", "full")  # eval.relearn_strong_modes
RELEARN_SPLITS = ("a_to_b", "cross_person")  # eval.relearn_strong_splits


@dataclass
class EvalConfig:
    """The one evaluation (`smfa.eval.evaluate`) and its probes' settings."""

    batch_size: int = 64
    max_new_tokens: int = 24
    threads: int = 1
    # Which slice of the protocol `smfa eval` asks (smfa.protocol.questions.SLICES): "full" (the
    # reported slice plus the training phrasings and scenes, to show what was memorized),
    # "reported", or "validation" (the phrasings that exist for choosing hyper-parameters).
    slice: str = "full"
    # Free-text values (answer_type "text") leak at this ROUGE-L recall of their content words.
    fuzzy_threshold: float = 0.6
    # Optional judge (docs/judge.md): "" none, "http://HOST:PORT/v1@MODEL", or a model directory.
    judge: str = ""
    judge_key_env: str = "SMFA_JUDGE_API_KEY"  # environment variable with the endpoint's key
    judge_timeout: float = 60.0  # seconds per request
    judge_unparseable: str = "error"  # a reply without a score: error, or nan (left unscored)
    # Attacks that try to extract the forget values (src/smfa/attacks/, docs/attacks.md); each
    # is cached per model. An empty list turns them off; "all" runs every one (ALL_ATTACKS).
    attacks: list[str] = field(default_factory=lambda: list(DEFAULT_ATTACKS))
    attack_retain: int = 32  # retain questions asked under each attack, beside the forget ones
    relearn_steps: int = 48  # the relearning attack's LoRA budget (batch 8) ...
    relearn_seeds: int = 2  # ... repeated with this many seeds (attribute halves, init, order)
    relearn_lr: float = 1e-3
    # The strong relearning attack (relearn_strong) reports the worst forget leak over this grid:
    # every learning rate x steps (batch 8) x mode ("lora": a fresh LoRA adapter; "full": every
    # linear and embedding weight of the language model) x split ("a_to_b": half the attribute
    # types relearned, the other half measured; "cross_person": one forget person's facts
    # relearned, the others measured), each setting averaged over this many seeds.
    relearn_strong_lrs: list[float] = field(default_factory=lambda: [1e-4, 1e-3, 1e-2])
    relearn_strong_steps: list[int] = field(default_factory=lambda: [48, 192])
    relearn_strong_modes: list[str] = field(default_factory=lambda: list(RELEARN_MODES))
    relearn_strong_seeds: int = 3
    relearn_strong_splits: list[str] = field(default_factory=lambda: list(RELEARN_SPLITS))
    # leak@k (leak_at_k, leak_at_k_prefill): this many answers sampled at temperature 1 per
    # question, a leak if any states the value; seeded per batch, so a rerun samples the same.
    leak_k: int = 8
    leak_seed: int = 0


@dataclass
class UnlearnConfig:
    """What every unlearning method shares: the budget, the LoRA shape and the loop settings.

    The paper's settings for a 7B model are r=16, alpha=16, dropout 0.05, lr 1e-4, 5 epochs,
    batch 2; the tiny model here trains from a higher learning rate in larger batches.
    Method-specific knobs live in each method's own `Params` (set them as methods.NAME.KEY).
    """

    retain_budget: int = 64  # few-shot retain questions a method may see (<= the world's pool)
    lora_r: int = 16
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    # A preset (language, language-attention, language-mlp, all) or a regex over module names.
    lora_targets: str = "language"
    lr: float = 1e-3
    epochs: int = 5
    batch_size: int = 8
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    augment: bool = True  # re-framed portraits, so forgetting covers re-taken photos
    bf16: bool = True  # bf16 autocast, as in reference training (weights stay fp32)
    seed: int = 0
    threads: int = 1

    @property
    def loop(self) -> LoopConfig:
        return LoopConfig(
            seed=self.seed, threads=self.threads, batch_size=self.batch_size, lr=self.lr,
            warmup_ratio=self.warmup_ratio, max_grad_norm=self.max_grad_norm, bf16=self.bf16,
        )  # fmt: skip


@dataclass
class CompareConfig:
    """`smfa compare`: which methods run side by side, and how their variants are chosen.

    A method with several variants (its own `methods.NAME.sweep`, SMFA's k by default) has one
    chosen on the validation slice; the reported slice never chooses."""

    # The demo's methods: SMFA (the paper's reference row), VERA (this project's erasure, which
    # holds under the generative attacks), IDK and NPO (refusal and its strongest baseline).
    # Also registered: ga, gd, kl, task_arithmetic, fisher and undo (docs/methods.md); "all"
    # (alone) runs every registered method.
    methods: list[str] = field(default_factory=lambda: ["smfa", "vera", "idk", "npo"])
    # Choosing among a method's variants, forgetting first: only variants whose validation leak
    # (image and text questions, each) is at most this compete on the validation score.
    max_leak: float = 0.02
    slice: str = "reported"  # the slice every model is reported (and attacked) on
    workers: int = 2  # methods trained and evaluated in parallel worker processes
    # Which variants of a method with several (SMFA's k sweep) are evaluated on the reported
    # slice and attacked (`eval.attacks`): "selected" (the one the validation slice chooses;
    # the others keep their validation rows only) or "all".
    report_variants: str = "selected"


@dataclass
class ErasureConfig:
    """The erasure record `smfa unlearn` writes (docs/erasure.md) and what `smfa verify` holds
    a model to. The record's measurement asks the reported slice with `eval.*` settings and
    runs `eval.attacks`."""

    measure: bool = True  # evaluate the unlearned model for the record (off: hashes only)
    max_leak: float = 0.02  # forget leak (image, text) a verified model may show
    max_attack_leak: float = 0.05  # forget leak under any one attack
    tolerance: float = 0.02  # how far a re-measured figure may be from the recorded one


@dataclass
class RunConfig:
    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    unlearn: UnlearnConfig = field(default_factory=UnlearnConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    erasure: ErasureConfig = field(default_factory=ErasureConfig)
    # Per-method knobs, checked against that method's Params: methods.smfa.k=5
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
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
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = [value]  # `--set compare.methods=smfa` means a one-item list
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
        elif isinstance(current, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: expected a mapping, got {value!r}")
            setattr(obj, key, _merge(current, value))
        else:
            setattr(obj, key, _coerce(value, hints[key], path))


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_section(obj: Any, data: dict[str, Any], where: str) -> Any:
    """Check `data` against dataclass instance `obj` (same errors and hints as the run config)."""
    _apply(obj, data, where)
    return obj


def load_config(
    path: Path | None = None, overrides: list[str] | None = None, base: RunConfig | None = None
) -> RunConfig:
    """Defaults (or `base`), then the YAML file (if any), then `key.sub=value` overrides."""
    config = base if base is not None else RunConfig()

    def apply(data: Any, where: str) -> None:
        try:
            _apply(config, data, "")
        except OverflowError:  # int(inf): name the key as check_values names a float's
            stack: list[tuple[str, Any]] = [("", data)]
            while stack:
                key, value = stack.pop()
                if isinstance(value, dict):
                    stack += [(f"{key}.{k}".lstrip("."), v) for k, v in value.items()]
                elif isinstance(value, float) and not math.isfinite(value):
                    raise ConfigError(
                        f"{where}{key} must be a finite number, got {value!r}"
                    ) from None
            raise

    if path is not None:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not a YAML text file (not UTF-8: {exc.reason})") from None
        except RecursionError:
            raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
        try:
            apply(data, "")
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like section.key=value")
        dotted, raw = item.split("=", 1)
        try:
            nested: Any = yaml.safe_load(raw) if raw else ""
        except (yaml.YAMLError, RecursionError):
            raise ConfigError(f"override '{item}': the value is not valid YAML") from None
        for part in reversed(dotted.strip().split(".")):
            nested = {part: nested}
        apply(nested, "")
    return check_values(config)


# Bounds of the numeric settings, checked once at load time so that a zero batch size or a
# negative learning rate is named by its key instead of failing deep inside a run. Every int and
# float setting has an entry, and every value must be finite (NaN and inf pass no comparison).
# key: (lowest, highest, whether the lowest itself is allowed)
BOUNDS: dict[str, tuple[float, float | None, bool]] = {
    "world.people": (2, None, True),
    "world.seed": (0, None, True),  # numpy's seeds are never negative
    "world.image_size": (16, None, True),
    "world.fundus_share": (0, 1, True),
    "world.train_scenes": (0, None, True),
    "world.validation_scenes": (0, None, True),
    "world.heldout_scenes": (0, None, True),
    "world.unknown_people": (0, None, True),
    "world.few_shot_retain": (0, None, True),
    "world.forget_ratios": (1, 99, True),  # each a percentage of the people
    "model.vision_steps": (0, None, True),
    "model.vision_batch": (1, None, True),
    "model.vision_lr": (0, None, False),
    "model.base_threads": (1, None, True),
    "train.seed": (0, None, True),
    "train.threads": (1, None, True),
    "train.batch_size": (1, None, True),
    "train.lr": (0, None, False),
    "train.warmup_ratio": (0, 1, True),
    "train.weight_decay": (0, None, True),
    "train.max_grad_norm": (0, None, False),
    "train.memory_repeats": (0, None, True),
    "train.understanding_repeats": (0, None, True),
    "train.fundus_repeats": (0, None, True),
    "train.scene_repeats": (0, None, True),
    "train.refusal_repeats": (0, None, True),
    "train.length_parts": (1, None, True),
    "eval.batch_size": (1, None, True),
    "eval.max_new_tokens": (1, None, True),
    "eval.threads": (1, None, True),
    "eval.fuzzy_threshold": (0, 1, True),
    "eval.judge_timeout": (0, None, False),
    "eval.attack_retain": (0, None, True),
    "eval.relearn_steps": (1, None, True),
    "eval.relearn_seeds": (1, None, True),
    "eval.relearn_lr": (0, None, False),
    "eval.relearn_strong_lrs": (0, None, False),  # a list: every item, and at least one
    "eval.relearn_strong_steps": (1, None, True),
    "eval.relearn_strong_seeds": (1, None, True),
    "eval.leak_k": (1, None, True),
    "eval.leak_seed": (0, None, True),
    "unlearn.retain_budget": (0, None, True),
    "unlearn.lora_r": (1, None, True),
    "unlearn.lora_alpha": (0, None, False),
    "unlearn.lora_dropout": (0, 1, True),
    "unlearn.lr": (0, None, False),
    "unlearn.epochs": (1, None, True),
    "unlearn.batch_size": (1, None, True),
    "unlearn.warmup_ratio": (0, 1, True),
    "unlearn.max_grad_norm": (0, None, False),
    "unlearn.seed": (0, None, True),
    "unlearn.threads": (1, None, True),
    "compare.max_leak": (0, 1, True),
    "compare.workers": (1, None, True),
    "erasure.max_leak": (0, 1, True),
    "erasure.max_attack_leak": (0, 1, True),
    "erasure.tolerance": (0, 1, True),
    "forget_ratio": (1, 99, True),
}
# The most a setting may ask for, far above any sensible run: past these a run takes the
# machine's memory (world.image_size=30000) or runs for days (world.unknown_people=1000000).
# Documented in docs/hardening.md.
MAX_SEED = 2**32 - 1  # what every library's seed accepts
MAX_BATCH = 4096
MAX_THREADS = 1024
MAX_REPEATS = 1000
LIMITS: dict[str, float] = {
    "world.people": 5000,  # names, values and portraits are drawn per person
    "world.seed": MAX_SEED,
    "world.image_size": 1024,
    "world.train_scenes": 20000,
    "world.validation_scenes": 10000,
    "world.heldout_scenes": 10000,
    "world.unknown_people": 5000,
    "world.few_shot_retain": 10000,
    "model.vision_steps": 100000,
    "model.vision_batch": MAX_BATCH,
    "model.vision_lr": 1,
    "model.base_threads": MAX_THREADS,
    "train.seed": MAX_SEED,
    "train.threads": MAX_THREADS,
    "train.batch_size": MAX_BATCH,
    "train.length_parts": MAX_BATCH,
    "train.lr": 1,
    "train.weight_decay": 1,
    "train.memory_repeats": MAX_REPEATS,
    "train.understanding_repeats": MAX_REPEATS,
    "train.fundus_repeats": MAX_REPEATS,
    "train.scene_repeats": MAX_REPEATS,
    "train.refusal_repeats": MAX_REPEATS,
    "eval.batch_size": MAX_BATCH,
    "eval.max_new_tokens": 4096,
    "eval.threads": MAX_THREADS,
    "eval.judge_timeout": 3600,
    "eval.attack_retain": 10000,
    "eval.relearn_steps": 100000,
    "eval.relearn_seeds": 100,
    "eval.relearn_lr": 1,
    "eval.relearn_strong_lrs": 1,
    "eval.relearn_strong_steps": 100000,
    "eval.relearn_strong_seeds": 100,
    "eval.leak_k": 256,
    "eval.leak_seed": MAX_SEED,
    "unlearn.retain_budget": 100000,
    "unlearn.lora_r": 4096,
    "unlearn.lr": 1,
    "unlearn.epochs": MAX_REPEATS,
    "unlearn.batch_size": MAX_BATCH,
    "unlearn.seed": MAX_SEED,
    "unlearn.threads": MAX_THREADS,
    "compare.workers": 64,
}


REPORT_VARIANTS = ("selected", "all")  # compare.report_variants


def _shown(number: float) -> str:
    return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"


def check_bound(key: str, value: Any) -> None:
    """Raise ConfigError when `value` is not finite or outside `key`'s BOUNDS and LIMITS."""
    low, high, low_allowed = BOUNDS[key]
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    too_low = value < low if low_allowed else value <= low
    if too_low or (high is not None and value > high):
        if high is not None:
            wanted = f"between {_shown(low)} and {_shown(high)}"
        else:
            wanted = f"at least {_shown(low)}" if low_allowed else f"above {_shown(low)}"
        raise ConfigError(f"{key} must be {wanted}, got {value!r}")
    limit = LIMITS.get(key)
    if limit is not None and value > limit:
        raise ConfigError(f"{key} must be at most {_shown(limit)}, got {value!r}")


def check_values(config: RunConfig) -> RunConfig:
    """Raise ConfigError naming the first numeric setting that is not finite or lies outside
    its bounds (BOUNDS) or above its limit (LIMITS)."""
    config.world.check()
    for key in BOUNDS:
        if key.startswith("world."):
            continue
        found: Any = config
        for part in key.split("."):
            found = getattr(found, part)
        if isinstance(found, (list, tuple)) and not found:
            raise ConfigError(f"{key} must list at least one value")
        for value in found if isinstance(found, (list, tuple)) else [found]:
            check_bound(key, value)
    for key, chosen, allowed in (
        ("compare.report_variants", [config.compare.report_variants], REPORT_VARIANTS),
        ("eval.relearn_strong_modes", config.eval.relearn_strong_modes, RELEARN_MODES),
        ("eval.relearn_strong_splits", config.eval.relearn_strong_splits, RELEARN_SPLITS),
    ):
        if not chosen:
            raise ConfigError(f"{key} must list at least one of {', '.join(allowed)}")
        wrong = [c for c in chosen if c not in allowed]
        if wrong:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {wrong[0]!r}")
    config.eval.attacks = expand_attacks(config.eval.attacks)
    return config


def expand_attacks(attacks: list[str]) -> list[str]:
    """`eval.attacks` as run: "all" (alone) means every attack of ALL_ATTACKS, in report order."""
    if "all" not in attacks:
        return attacks
    if attacks != ["all"]:
        raise ConfigError(f"eval.attacks: 'all' stands alone (every attack), got {attacks}")
    return list(ALL_ATTACKS)


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
