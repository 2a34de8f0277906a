"""What a setting may hold: the bounds and limits of every number, and the named choices.

`check_values` runs once when a configuration is loaded, so a zero batch size, a negative
learning rate or an unknown attack is named by its key instead of failing deep inside a run
(docs/hardening.md). The attack names live here too (the config needs no torch).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from smfa.errors import ConfigError

if TYPE_CHECKING:
    from smfa.config.sections import RunConfig

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
