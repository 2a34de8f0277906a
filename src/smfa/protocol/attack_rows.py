"""What the attack rows of a results.json say: per model and attack, the forget leak and the
retain recall under that attack, fair multiple choice against its chance level, each model's
worst attack and its membership-inference distance to the oracle (headline figures), and a grid
attack's every cell (`grid`: the strong relearning's budgets and splits). Pure functions of the
results dict (schema 3: an attack's rows are the rows whose `probe` is not "plain"; its pooled
rows have kind "all").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from smfa.config import ALL_ATTACKS

PLAIN = "plain"
NOT_ATTACKS = frozenset({PLAIN, "mllmu_tasks"})  # probes whose rows are no attack's
MIA, MIA_AUC = "mia", "mia_auc_"  # the membership attack and its metrics' prefix
Cell = tuple[float, int]  # (value, n)


def attack_cells(
    data: dict[str, Any], phrasing: str | None = None
) -> dict[tuple[str, str, str, str], Cell]:
    """(model, attack, split, metric) -> (value, n) of the pooled attack rows (kind "all"), at
    `phrasing` (every phrasing when None)."""
    cells: dict[tuple[str, str, str, str], Cell] = {}
    for row in data.get("rows") or []:
        value = row.get("value")
        if row.get("probe", PLAIN) in NOT_ATTACKS or row.get("kind") != "all":
            continue
        if phrasing is not None and row.get("phrasing") != phrasing:
            continue
        if not isinstance(value, int | float) or not math.isfinite(float(value)):
            continue
        key = (row["model"], row["probe"], row["split"], row["metric"])
        cells[key] = (float(value), int(row.get("n") or 0))
    return cells


def attacks_run(data: dict[str, Any]) -> list[str]:
    """The attacks present, in the configuration's order (unknown ones after, sorted)."""
    present = {
        row["probe"] for row in data.get("rows") or [] if row.get("probe", PLAIN) not in NOT_ATTACKS
    }
    return [a for a in ALL_ATTACKS if a in present] + sorted(present - set(ALL_ATTACKS))


def worst_attack(
    data: dict[str, Any], model: str, phrasing: str | None = None
) -> tuple[float, str] | None:
    """(leak, attack) of the attack that got the most forget values out of `model` (attacks
    that report no forget leak, such as fair multiple choice, never count)."""
    found = [
        (value, attack)
        for (m, attack, split, metric), (value, n) in attack_cells(data, phrasing).items()
        if m == model and split == "forget" and metric == "leak_rate" and n > 0
    ]
    order = {a: i for i, a in enumerate(attacks_run(data))}  # ties: the first attack run
    return max(found, key=lambda pair: (pair[0], -order[pair[1]])) if found else None


def oracle_name(data: dict[str, Any]) -> str | None:
    """The model whose role is oracle, if the results hold one."""
    models = data.get("models") or {}
    return next((m for m, info in models.items() if info.get("role") == "oracle"), None)


def mia_gap(data: dict[str, Any], model: str, phrasing: str | None = None) -> float | None:
    """How far the membership attack (`mia`) finds `model` from the oracle: the largest
    |AUC(model) - AUC(oracle)| over its scores on the forget people, pooled over kinds (MUSE's
    PrivLeak, Shi et al. 2024, is the signed difference over AUC(retrained) for one score).
    None without an oracle or without both models' mia rows."""
    oracle = oracle_name(data)
    if oracle is None:
        return None
    cells = attack_cells(data, phrasing)
    gaps = [
        abs(value - cells[(oracle, attack, split, metric)][0])
        for (m, attack, split, metric), (value, _n) in cells.items()
        if m == model and attack == MIA and split == "forget" and metric.startswith(MIA_AUC)
        and (oracle, attack, split, metric) in cells
    ]  # fmt: skip
    return max(gaps) if gaps else None


def matrix(
    data: dict[str, Any], models: Iterable[str], split: str, metric: str
) -> tuple[list[str], list[str], list[list[float | None]]]:
    """(attacks, models, values[attack][model]) of one split and metric."""
    cells = attack_cells(data)
    names = list(models)
    attacks = [a for a in attacks_run(data) if any((m, a, split, metric) in cells for m in names)]
    values = [
        [cells[(m, a, split, metric)][0] if (m, a, split, metric) in cells else None for m in names]
        for a in attacks
    ]
    return attacks, names, values


GRID = "relearn_strong"  # the attack whose pooled rows carry one value per cell (`per_group`)


def grid(
    data: dict[str, Any], attack: str = GRID
) -> tuple[list[str], dict[tuple[str, str], tuple[float | None, float | None]]]:
    """A grid attack's cells in the order its rows list them ("lora lr=1e-3 steps=192 A->B"),
    and (model, cell) -> (forget leak, retain recall after the same tuning), from its pooled
    rows' `per_group`; no cells when the attack was not run."""
    cells: list[str] = []
    found: dict[tuple[str, str], list[float | None]] = {}
    for row in data.get("rows") or []:
        if row.get("probe") != attack or row.get("kind") != "all":
            continue
        at = {("forget", "leak_rate"): 0, ("retain", "recall"): 1}.get(
            (row.get("split"), row.get("metric"))
        )
        groups = row.get("per_group")
        if at is None or not isinstance(groups, dict):
            continue
        for cell, value in groups.items():
            if cell not in cells:
                cells.append(cell)
            ok = isinstance(value, int | float) and math.isfinite(float(value))
            found.setdefault((row["model"], cell), [None, None])[at] = float(value) if ok else None
    return cells, {key: (pair[0], pair[1]) for key, pair in found.items()}
