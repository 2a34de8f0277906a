"""Headline figures per model, ratios to vanilla and the acceptance targets, from rows alone.

Everything here reads a results.json dict and nothing else. What each figure is, which pooled
rows (image_type "all") it comes from and its target live in `smfa.protocol.figures.FIGURES`;
this module orders the models, computes the figures on a slice, the ratios to vanilla and the
targets met. A figure whose rows are absent is None.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from smfa.protocol.figures import FIGURES, Figures, figures_of
from smfa.protocol.questions import REPORTED, SLICES, Slice, reading


def order_models(models: dict[str, dict[str, Any]], extra: Iterable[str] = ()) -> list[str]:
    """Vanilla first, the oracle second, then methods (and unknown models) in file order."""
    names = list(models) + [m for m in dict.fromkeys(extra) if m not in models]
    rank = {"vanilla": 0, "oracle": 1}
    return sorted(names, key=lambda m: rank.get(str(models.get(m, {}).get("role")), 2))


def ordered_models(data: dict[str, Any]) -> list[str]:
    return order_models(data.get("models", {}), (row["model"] for row in data.get("rows", [])))


def vanilla_name(models: dict[str, dict[str, Any]]) -> str:
    """The model whose role is vanilla (the name "vanilla" when none says so)."""
    return next((m for m, info in models.items() if info.get("role") == "vanilla"), "vanilla")


def visible_models(models: dict[str, dict[str, Any]], names: Iterable[str]) -> list[str]:
    """`names` without the unselected variants of methods that were run with several."""
    groups: dict[str, list[str]] = {}
    for name in names:
        info = models.get(name, {})
        if info.get("role") == "method":
            groups.setdefault(str(info.get("method", name)), []).append(name)
    hidden = set()
    for members in groups.values():
        chosen = [m for m in members if models[m].get("selected")]
        if len(members) > 1 and chosen:
            hidden.update(m for m in members if m not in chosen)
    return [name for name in names if name not in hidden]


def report_slice(data: dict[str, Any]) -> Slice:
    """The slice a results file is reported on: compare's choice, else the reported slice."""
    compare = data.get("compare") or {}
    if compare.get("slice") in SLICES:
        return SLICES[compare["slice"]]
    phrasing = compare.get("report_phrasing", REPORTED.phrasing)  # results before schema 3
    view = compare.get("report_view", REPORTED.image_view)
    if (phrasing, view) == (REPORTED.phrasing, REPORTED.image_view):
        return REPORTED
    return reading(phrasing, view)


def headline(data: dict[str, Any], part: Slice = REPORTED) -> dict[str, Figures]:
    """Per model (vanilla, oracle, then the rest), every figure of `FIGURES` on `part`; a model
    that `smfa compare` did not report (`reported: false`, scored on the validation slice only)
    is left out where it has no figure."""
    models = data.get("models", {})
    head = figures_of(data, ordered_models(data), part)
    return {
        m: f
        for m, f in head.items()
        if models.get(m, {}).get("reported", True) or any(v is not None for v in f.values())
    }


def ratio(value: float | None, reference: float | None) -> float | None:
    """value / reference, or None when either is missing or the reference is 0."""
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


def ratios(head: dict[str, Figures], vanilla: str = "vanilla") -> dict[str, Figures]:
    """Per model, each keep-figure (`Figure.keep`) divided by the vanilla model's."""
    base = head.get(vanilla, {})
    return {
        model: {f.key: ratio(figures.get(f.key), base.get(f.key)) for f in FIGURES if f.keep}
        for model, figures in head.items()
    }


def check_targets(figures: Figures, kept: Figures) -> dict[str, tuple[float | None, float, bool]]:
    """For ONE model's figures and ratios: figure key -> (value, threshold, passed), for every
    figure with a target. The value is the ratio to vanilla for relative targets; a missing
    value never passes."""
    results: dict[str, tuple[float | None, float, bool]] = {}
    for figure in FIGURES:
        target = figure.target
        if target is None:
            continue
        value = (kept if target.relative else figures).get(figure.key)
        if value is None:
            passed = False
        elif target.op == "<=":
            passed = value <= target.threshold
        else:
            passed = value >= target.threshold
        results[figure.key] = (value, target.threshold, passed)
    return results
