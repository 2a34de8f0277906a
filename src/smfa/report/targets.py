"""The report's "Acceptance targets" section: each method's reported model against every target.

A leak target has a floor: when the results hold an oracle, a leak within its margin (2 points)
of the oracle's leak is met, and the table states the floor beside the target
(`smfa.report.summary.threshold_of`). A target whose figure no method has is said once under
the table and not counted.
"""

from __future__ import annotations

from typing import Any

from smfa.protocol import attack_rows
from smfa.protocol.figures import FIGURES, Figure, Target
from smfa.report import summary
from smfa.report.sections import Section, pct, times


def _required(key: str, target: Target, floor: summary.Figures | None) -> str:
    """A target's requirement in words; a leak target names the oracle's leak, its floor."""
    sign = "≤" if target.op == "<=" else "≥"
    if target.relative:
        return f"{sign} ×{target.threshold:.2f} vanilla"
    base = (floor or {}).get(key)
    if target.floor_margin is None or base is None:
        return f"{sign} {pct(target.threshold)}"
    threshold = summary.threshold_of(target, key, floor)
    points = round(100 * target.floor_margin)
    return f"{sign} {pct(threshold)} (floor: oracle {pct(base)}, + {points} points)"


def targets_section(
    data: dict[str, Any],
    names: list[str],
    head: dict[str, summary.Figures],
    kept: dict[str, summary.Figures],
) -> Section | None:
    """Every acceptance target, met or missed, for each method's reported model side by side;
    a leak target is judged against the oracle's leak (its floor) when an oracle was evaluated;
    a target no method has a figure for is said once and not counted."""
    models = data.get("models", {})
    methods = [m for m in names if models.get(m, {}).get("role") == "method"]
    if not methods:
        return None
    oracle = attack_rows.oracle_name(data)
    floor = head.get(oracle) if oracle else None
    checked = {m: summary.check_targets(head[m], kept[m], floor) for m in methods}
    shown, absent = summary.measured({m: head[m] for m in methods})
    judged = [(f.key, f.target) for f in shown if f.target is not None]
    rows = []
    for key, target in judged:
        cells = []
        for m in methods:
            value, _, passed = checked[m][key]
            text = times(value) if target.relative else pct(value)
            cells.append(f"{text} {'✓' if passed else '✗'}")
        rows.append([target.label, _required(key, target, floor), *cells])
    met = {m: sum(checked[m][key][2] for key, _ in judged) for m in methods}
    notes = ["; ".join(f"{m}: {met[m]} of {len(judged)} met" for m in methods) + "."]
    if floor is not None:
        notes.append(
            "A leak within 2 points of the oracle's (which never saw the forget people: what "
            "guessing scores) counts as forgotten."
        )
    unjudged = [
        f"Not judged: {line}" for f, line in zip(_unshown(shown), absent, strict=True) if f.target
    ]
    header = ["Target", "Required", *methods]
    return Section("Acceptance targets", notes, header, rows, numeric_from=2, footnotes=unjudged)


def _unshown(shown: tuple[Figure, ...]) -> list[Figure]:
    return [f for f in FIGURES if f not in shown]
