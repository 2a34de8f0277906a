"""Running the configured attacks on one model: the questions they ask, and a cache per attack.

Every attack asks the same questions: the forget people's memory questions of the reported
slice (held-out wordings; re-rendered pictures where the world has them), and a fixed seeded
sample of `eval.attack_retain` retain memory questions of the same slice. Each attack's rows are
cached under a key of the model's weights, the world, the forget people, the attack and the
settings it depends on, so a repeated run (or a second report) re-asks nothing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np

from smfa.attacks.base import MEMORY_KINDS, Row, Target, get_attack
from smfa.config import EvalConfig, ModelConfig
from smfa.data.format import Question, World
from smfa.distributed import barrier, is_main
from smfa.io import atomic_write_json, canonical_json, sha256_text
from smfa.models.io import load_model, load_options

ATTACK_SCHEMA = 1


def report_phrasing(config: EvalConfig) -> str:
    return "heldout" if "heldout" in config.phrasings else config.phrasings[0]


def attack_questions(
    world: World, forget_people: Collection[str], config: EvalConfig, seed: int = 0
) -> tuple[list[Question], list[Question]]:
    """(forget questions, retain sample) every attack asks."""
    phrasing = report_phrasing(config)
    memory = [
        q for q in world.questions if q.probe and q.kind in MEMORY_KINDS and q.phrasing == phrasing
    ]
    views = {q.view for q in memory if q.image}
    view = "heldout" if "heldout" in views else "train"
    memory = [q for q in memory if q.image is None or q.view == view]
    forget_set = set(forget_people)
    forget = [q for q in memory if q.subject in forget_set]
    pool = [q for q in memory if q.subject not in forget_set and q.subject in world.people]
    size = min(config.attack_retain, len(pool))
    picked = np.random.default_rng([seed, 41]).choice(len(pool), size=size, replace=False)
    return forget, [pool[int(i)] for i in sorted(picked)]


def check_attacks(names: Collection[str]) -> list[str]:
    """The attack names, checked (an unknown one is a ConfigError with a did-you-mean hint)."""
    return [get_attack(name).name for name in names]


def attack_key(
    attack: str,
    fingerprint: str,
    world: World,
    forget: Collection[str],
    config: EvalConfig,
    loading: dict[str, Any],
) -> str:
    payload = {
        "schema": ATTACK_SCHEMA,
        "attack": attack,
        "settings": get_attack(attack)().settings(config),
        "model": fingerprint,
        "world": world.world_hash,
        "forget": sorted(forget),
        "phrasing": report_phrasing(config),
        "retain": config.attack_retain,
        "batch": config.batch_size,
        "loading": {k: str(v) for k, v in loading.items()},
    }
    return sha256_text(canonical_json(payload))


def run_attacks(
    name: str,
    model_dir: Path,
    world: World,
    forget_people: Collection[str],
    config: EvalConfig,
    workdir: Path,
    model_options: ModelConfig | None = None,
    tick: Callable[[str, int, int], None] | None = None,
) -> list[Row]:
    """Every attack of `config.attacks` on the model in `model_dir`; rows carry `model=name`."""
    from smfa.pipeline import model_fingerprint  # pipeline calls this module: import late

    options = model_options or ModelConfig()
    names = check_attacks(config.attacks)
    if not names:
        return []
    fingerprint = model_fingerprint(model_dir)
    forget, retain = attack_questions(world, forget_people, config)
    holder: dict[str, Any] = {}

    def load(precision: str) -> Any:
        wanted = dataclasses.replace(options, dtype=precision)
        if precision == "fp32" and options.device != "cpu" and "int8" in names:
            wanted = dataclasses.replace(wanted, device="cpu")  # int8 kernels are CPU-only
        return load_model(model_dir, options=wanted)[0]

    out: list[Row] = []
    for attack in names:
        key = attack_key(attack, fingerprint, world, forget_people, config, load_options(options))
        cache = Path(workdir) / "attacks" / f"{key[:16]}.json"
        if cache.is_file():
            found = json.loads(cache.read_text(encoding="utf-8"))["rows"]
        else:
            if "model" not in holder:
                holder["model"], holder["processor"] = load_model(model_dir, options=options)
            target = Target(
                holder["model"],
                holder["processor"],
                world,
                forget,
                retain,
                config,
                Path(workdir),
                load,
                _ticker(tick, attack),
            )
            found = get_attack(attack)().run(target)
            if is_main():
                atomic_write_json(cache, {"attack": attack, "rows": found}, indent=None)
            barrier()
        out += [{"model": name, **row} for row in found]
    return out


def _ticker(
    tick: Callable[[str, int, int], None] | None, attack: str
) -> Callable[[str, int, int], None] | None:
    if tick is None:
        return None
    return lambda label, done, total: tick(f"attack {attack} · {label}", done, total)
