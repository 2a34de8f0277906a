"""Headline figures per model, ratios to vanilla and the acceptance targets, from rows alone.

Everything here reads a results.json dict (schema 1) and nothing else. A figure names exactly
which pooled rows (image_type "all") it comes from, so per-image-type rows and the other view
of the same questions are never counted twice. A figure whose rows are absent is None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Figures = dict[str, float | None]
# (split, kind, view, metric); view "@" means the report's image view.
Slice = tuple[str, str, str, str]

# The table columns: (key, label, higher_is_better, is_rate).
COLUMNS: tuple[tuple[str, str, bool, bool], ...] = (
    ("forget_leak_image", "Leak (image)", False, True),
    ("forget_leak_text", "Leak (text)", False, True),
    ("forget_mc", "Forget MC accuracy", False, True),
    ("understanding_forget", "Understanding (forget)", True, True),
    ("understanding_retain", "Understanding (retain)", True, True),
    ("retain_memory", "Retain memory", True, True),
    ("scenes", "Scenes", True, True),
    ("false_refusal", "False refusal", False, True),
    ("meaningfulness", "Meaningful", True, True),
    ("unknown_refusal", "Unknown refusal", True, True),
)
# Figures a method should keep: shown and judged as a ratio of vanilla's.
KEEP = ("understanding_forget", "understanding_retain", "retain_memory", "scenes", "meaningfulness")

_FI, _FT = ("forget", "image_memory", "@"), ("forget", "text_memory", "none")
_FU = ("forget", "image_understanding", "@")
_RI, _RT = ("retain", "image_memory", "@"), ("retain", "text_memory", "none")
_RU = ("retain", "image_understanding", "@")
_GS, _UK = ("general", "general_scene", "heldout"), ("unknown", "unknown_person", "none")

# key -> the slices pooled (n-weighted) for it and the metric read from each.
FIGURES: dict[str, tuple[tuple[tuple[str, str, str], ...], str]] = {
    "forget_leak_image": ((_FI,), "leak_rate"),
    "forget_leak_text": ((_FT,), "leak_rate"),
    "forget_mc": ((_FI, _FT), "mc_accuracy"),
    "understanding_forget": ((_FU,), "accuracy"),
    "understanding_retain": ((_RU,), "accuracy"),
    "retain_memory": ((_RI, _RT), "recall"),
    "scenes": ((_GS,), "accuracy"),
    "false_refusal": ((_RI, _RT, _RU, _GS), "false_refusal_rate"),
    "meaningfulness": ((_FI, _FT, _FU, _RI, _RT, _RU, _GS, _UK), "meaningfulness"),
    "unknown_refusal": ((_UK,), "refusal_rate"),
}


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


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


def headline(
    data: dict[str, Any], phrasing: str = "heldout", view: str = "heldout"
) -> dict[str, Figures]:
    """Per model, every figure of `FIGURES` at `phrasing` (`view` for image questions)."""
    index: dict[tuple[str, ...], tuple[float | None, int]] = {}
    for row in data.get("rows", []):
        if row.get("image_type") != "all" or row.get("phrasing") != phrasing:
            continue
        key = (row["model"], row["split"], row["kind"], row["view"], row["metric"])
        index.setdefault(key, (_finite(row.get("value")), int(row.get("n") or 0)))
    out: dict[str, Figures] = {}
    for model in ordered_models(data):
        figures: Figures = {}
        for key, (slices, metric) in FIGURES.items():
            total = weight = 0.0
            for split, kind, slice_view in slices:
                wanted = view if slice_view == "@" else slice_view
                value, n = index.get((model, split, kind, wanted, metric), (None, 0))
                if value is not None and n > 0:
                    total += value * n
                    weight += n
            figures[key] = total / weight if weight else None
        out[model] = figures
    return out


def ratio(value: float | None, reference: float | None) -> float | None:
    """value / reference, or None when either is missing or the reference is 0."""
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


def ratios(head: dict[str, Figures], vanilla: str = "vanilla") -> dict[str, Figures]:
    """Per model, each keep-figure (`KEEP`) divided by the vanilla model's."""
    base = head.get(vanilla, {})
    return {
        model: {key: ratio(figures.get(key), base.get(key)) for key in KEEP}
        for model, figures in head.items()
    }


@dataclass(frozen=True)
class Target:
    """One acceptance target: `key` (a figure, or its ratio to vanilla) `op` `threshold`."""

    key: str
    label: str
    op: str  # "<=" or ">="
    threshold: float
    relative: bool  # judged on the ratio to vanilla


TARGETS: tuple[Target, ...] = (
    Target("forget_leak_image", "Forget leak, image questions", "<=", 0.02, False),
    Target("forget_leak_text", "Forget leak, text questions", "<=", 0.02, False),
    Target("understanding_forget", "Understanding of forget images", ">=", 0.97, True),
    Target("understanding_retain", "Understanding of retain images", ">=", 0.97, True),
    Target("retain_memory", "Retain memory", ">=", 0.95, True),
    Target("scenes", "General scenes", ">=", 0.98, True),
    Target("false_refusal", "False refusals", "<=", 0.02, False),
    Target("meaningfulness", "Meaningful answers", ">=", 0.98, False),
)


def check_targets(figures: Figures, kept: Figures) -> dict[str, tuple[float | None, float, bool]]:
    """For ONE model's figures and ratios: target key -> (value, threshold, passed).

    The value is the ratio to vanilla for relative targets; a missing value never passes.
    """
    results: dict[str, tuple[float | None, float, bool]] = {}
    for target in TARGETS:
        value = (kept if target.relative else figures).get(target.key)
        if value is None:
            passed = False
        elif target.op == "<=":
            passed = value <= target.threshold
        else:
            passed = value >= target.threshold
        results[target.key] = (value, target.threshold, passed)
    return results


def target_model(models: dict[str, dict[str, Any]]) -> str | None:
    """The selected SMFA variant (or the only SMFA model) that the targets are checked on."""
    smfa = [m for m, info in models.items() if info.get("method") == "smfa"]
    chosen = [m for m in smfa if models[m].get("selected")]
    if chosen:
        return chosen[0]
    return smfa[0] if len(smfa) == 1 else None
