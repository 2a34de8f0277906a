"""Headline figures per model, ratios to vanilla and the acceptance targets, from rows alone.

Everything here reads a results.json dict and nothing else. What each figure is, which pooled
rows (image_type "all") it comes from and its target live in `smfa.protocol.figures.FIGURES`;
this module orders the models, computes the figures on a slice, the ratios to vanilla and the
targets met. A figure whose rows are absent is None.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from smfa.errors import SmfaError
from smfa.protocol.figures import FIGURES, Figure, Figures, Target, figures_of
from smfa.protocol.questions import REPORTED, SLICES, Slice, reading


def order_models(models: dict[str, dict[str, Any]], first: Iterable[str] = ()) -> list[str]:
    """Vanilla first, the oracle second, then methods (and unknown models): those of `first` in
    its order, then the rest of `models` in theirs."""
    names = list(dict.fromkeys([*first, *models]))
    rank = {"vanilla": 0, "oracle": 1}
    return sorted(names, key=lambda m: rank.get(str(models.get(m, {}).get("role")), 2))


def ordered_models(data: dict[str, Any]) -> list[str]:
    """The models in the order their rows first appear: the order they were compared or
    evaluated in (results.json's `models` is written with sorted keys, its rows in order)."""
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


def check_measured(data: dict[str, Any], where: str) -> None:
    """Refuse results (`where` names them) whose report slice holds no forget leak or no retain
    memory figure for any model: a report of them would be dashes and "0 of N targets met"."""
    part = report_slice(data)
    head = headline(data, part)
    needed = (
        ("forget memory", ("forget_leak_image", "forget_leak_text")),
        ("retain memory", ("retain_memory",)),
    )
    for what, keys in needed:
        if not any(figures.get(key) is not None for figures in head.values() for key in keys):
            raise SmfaError(
                f"{where}: no {what} rows on the {part.name} slice ({part.phrasing} "
                "phrasings); nothing to report"
            )


def measured(head: dict[str, Figures]) -> tuple[tuple[Figure, ...], list[str]]:
    """(the figures some model has, one line for each figure none has saying why): a figure
    the data cannot give is said once, not shown as a dash in every cell."""
    shown = tuple(f for f in FIGURES if any(fig.get(f.key) is not None for fig in head.values()))
    return shown, [f"{f.label}: {f.absent}." for f in FIGURES if f not in shown]


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


def threshold_of(target: Target, key: str, floor: Figures | None) -> float:
    """The target's threshold, raised to the oracle's figure plus its margin for a target with
    a floor when the oracle's figure is known (never below the absolute threshold)."""
    base = (floor or {}).get(key)
    if target.floor_margin is None or base is None:
        return target.threshold
    return max(target.threshold, base + target.floor_margin)


def check_targets(
    figures: Figures, kept: Figures, floor: Figures | None = None
) -> dict[str, tuple[float | None, float, bool]]:
    """For ONE model's figures and ratios: figure key -> (value, threshold, passed), for every
    figure with a target. The value is the ratio to vanilla for relative targets; a leak target
    is judged against the oracle's leak (`floor`, its figures) plus 2 points when given; a
    missing value never passes."""
    results: dict[str, tuple[float | None, float, bool]] = {}
    for figure in FIGURES:
        target = figure.target
        if target is None:
            continue
        value = (kept if target.relative else figures).get(figure.key)
        threshold = threshold_of(target, figure.key, floor)
        if value is None:
            passed = False
        elif target.op == "<=":
            passed = value <= threshold + 1e-12
        else:
            passed = value >= threshold - 1e-12
        results[figure.key] = (value, threshold, passed)
    return results
