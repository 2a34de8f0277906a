"""What an erasure record measures, and the checks a measurement is held to.

A record measures the unlearned model the way a report does: the reported slice (held-out
phrasings, re-rendered portraits, unseen scenes) with the forget split being everyone forgotten
so far (this request and every earlier one in its lineage), plus every attack of `eval.attacks`.
It keeps the headline figures (smfa.protocol.figures), each attack's cells, the worst attack,
and each forgotten person's own plain leak. `leak_checks` holds those leaks to the record's
thresholds; `differences` compares two measurements figure by figure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from smfa.config import EvalConfig, ModelConfig
from smfa.data.format import World
from smfa.protocol.attack_rows import attack_cells, worst_attack
from smfa.protocol.figures import figures_of
from smfa.protocol.questions import REPORTED
from smfa.vocab import MEMORY_KINDS

NAME = "model"  # the model's name in the rows of one measurement
PLAIN_LEAKS = ("forget_leak_image", "forget_leak_text")


def measure(
    model_dir: Path,
    world: World,
    forget_people: Collection[str],
    config: EvalConfig,
    model_options: ModelConfig,
    workdir: Path,
    tick: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """figures, per_person, attacks and worst_attack of the model in `model_dir`."""
    from smfa.eval.evaluate import Ask, evaluate  # torch: only when a model is measured

    started = time.perf_counter()
    people = tuple(sorted(forget_people))
    ask = Ask.of(REPORTED, people, config.attacks)
    result = evaluate(
        model_dir, world, ask, config, workdir, name=NAME, options=model_options, tick=tick
    )
    data = {"rows": result.rows}
    worst = worst_attack(data, NAME, REPORTED.phrasing)
    cells: dict[str, dict[str, dict[str, float]]] = {}
    for (_, attack, split, metric), (value, _n) in sorted(attack_cells(data).items()):
        cells.setdefault(attack, {}).setdefault(split, {})[metric] = value
    return {
        "figures": figures_of(data, [NAME])[NAME],
        "per_person": per_person_leaks(result.records, people),
        "attacks": cells,
        "worst_attack": {"attack": worst[1], "leak": worst[0]} if worst else None,
        "seconds": round(time.perf_counter() - started, 2),
    }


def per_person_leaks(
    records: list[dict[str, Any]], people: tuple[str, ...]
) -> dict[str, float | None]:
    """Each forgotten person's plain leak rate over their memory questions of the slice."""
    hits: dict[str, list[float]] = {p: [] for p in people}
    for record in records:
        leak = record["scores"].get("leak_rate")
        view = record["view"] or "none"
        if (
            record["split"] == "forget"
            and record["kind"] in MEMORY_KINDS
            and view == REPORTED.view_of(record["kind"])
            and record["subject"] in hits
            and leak is not None
        ):
            hits[record["subject"]].append(float(leak))
    return {p: (sum(v) / len(v) if v else None) for p, v in hits.items()}


def leak_checks(
    measured: dict[str, Any], max_leak: float, max_attack_leak: float
) -> list[tuple[str, float, float]]:
    """(what, leak, threshold) for every leak the measurement holds."""
    checks = []
    for key in PLAIN_LEAKS:
        value = (measured.get("figures") or {}).get(key)
        if value is not None:
            checks.append((key, float(value), max_leak))
    for person, value in sorted((measured.get("per_person") or {}).items()):
        if value is not None:
            checks.append((f"leak of {person}", float(value), max_leak))
    for attack, cells in (measured.get("attacks") or {}).items():
        value = cells.get("forget", {}).get("leak_rate")  # fair choice reports no leak
        if value is not None:
            checks.append((f"leak under {attack}", float(value), max_attack_leak))
    return checks


def flatten(measured: dict[str, Any]) -> dict[str, float | None]:
    """Every number of a measurement under a dotted name (figures.x, attacks.a.forget.m, ...)."""
    flat: dict[str, float | None] = {}
    for section in ("figures", "per_person"):
        for key, value in (measured.get(section) or {}).items():
            flat[f"{section}.{key}"] = value
    for attack, splits in (measured.get("attacks") or {}).items():
        for split, metrics in splits.items():
            for metric, value in metrics.items():
                flat[f"attacks.{attack}.{split}.{metric}"] = value
    return flat


def differences(
    recorded: dict[str, Any], found: dict[str, Any], tolerance: float
) -> list[tuple[str, float | None, float | None, bool]]:
    """(name, recorded, found, within tolerance) for every number either measurement holds."""
    old, new = flatten(recorded), flatten(found)
    out = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        same = (a is None and b is None) or (
            a is not None and b is not None and math.isclose(a, b, abs_tol=tolerance + 1e-9)
        )
        out.append((name, a, b, same))
    return out
