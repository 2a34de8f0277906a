"""The report's figures, drawn with matplotlib's Agg canvas and returned as PNG bytes.

Each plot is built on its own `Figure` (no pyplot, no global state, never shown), from the
headline figures of `smfa.report.summary`, with fixed colours and no timestamp in the PNG so
the same results give the same bytes.
"""

from __future__ import annotations

import io
import math
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from smfa.protocol.attack_rows import matrix
from smfa.protocol.questions import REPORTED, VALIDATION, Slice
from smfa.report.summary import (
    Figures,
    headline,
    order_models,
    ratios,
    vanilla_name,
    visible_models,
)

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#17becf")
BARS: tuple[tuple[str, str], ...] = (
    ("forget_leak_image", "forget leak (image) ↓"),
    ("forget_leak_text", "forget leak (text) ↓"),
    ("understanding_forget", "understanding, forget"),
    ("understanding_retain", "understanding, retain"),
    ("retain_memory", "retain memory"),
    ("scenes", "general scenes"),
)


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


def _mean(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def leak(figures: Figures) -> float | None:
    """Mean of the image and text forget leak (either alone when the other is missing)."""
    return _mean(figures.get("forget_leak_image"), figures.get("forget_leak_text"))


def exposure(figures: Figures) -> float | None:
    """The highest forget leak found: plain (mean of image and text) or under any attack."""
    found = [v for v in (leak(figures), figures.get("worst_attack_leak")) if v is not None]
    return max(found) if found else None


def understanding_kept(kept: Figures) -> float | None:
    """Mean of the forget and retain understanding ratios to vanilla."""
    return _mean(kept.get("understanding_forget"), kept.get("understanding_retain"))


def spread(values: list[float], gap: float) -> list[float]:
    """Label heights for points at `values` (any order): at least `gap` apart, order kept.

    Walking down from the highest, each label sits at its point or `gap` below the label
    above, whichever is lower; then the group shifts so that its labels are on average at
    their points' height.
    """
    order = sorted(range(len(values)), key=lambda i: -values[i])
    placed: dict[int, float] = {}
    previous: float | None = None
    for i in order:
        y = values[i] if previous is None else min(values[i], previous - gap)
        placed[i] = previous = y
    if not placed:
        return []
    shift = sum(values[i] - placed[i] for i in placed) / len(placed)
    return [placed[i] + shift for i in range(len(values))]


def label_positions(
    points: dict[str, tuple[float, float]], x_near: float, gap: float
) -> dict[str, float]:
    """Label heights: points closer than `x_near` along x share a column and are spread."""
    heights: dict[str, float] = {}
    column: list[str] = []
    for name in [*sorted(points, key=lambda n: points[n][0]), ""]:
        if column and (not name or points[name][0] - points[column[0]][0] > x_near):
            for member, y in zip(column, spread([points[m][1] for m in column], gap), strict=True):
                heights[member] = y
            column = []
        if name:
            column.append(name)
    return heights


def _point(
    ax: Axes, x: float, y: float, label: str | None, label_at: tuple[float, float], **style: Any
) -> None:
    ax.scatter([x], [y], zorder=3, **style)
    if label is not None:
        moved = abs(label_at[1] - y) > 1e-9
        arrow = {"arrowstyle": "-", "color": "#999999", "linewidth": 0.6} if moved else None
        ax.annotate(label, (x, y), xytext=label_at, fontsize=8, va="center", arrowprops=arrow)


def tradeoff_plot(
    head: dict[str, Figures], kept: dict[str, Figures], models: dict[str, dict[str, Any]]
) -> bytes:
    """The highest forget leak found, plain or under any attack (x, lower is better), against
    image understanding kept (y, ratio of vanilla)."""
    fig = Figure(figsize=(6.4, 4.6))
    ax = fig.add_subplot()
    names = order_models(models, head)
    shown = set(visible_models(models, names))
    points = {
        name: (x, y)
        for name in names
        if (x := exposure(head.get(name, {}))) is not None
        and (y := understanding_kept(kept.get(name, {}))) is not None
    }
    xs, ys = [p[0] for p in points.values()], [p[1] for p in points.values()]
    xlim = (-0.06, 1.4 * max([0.1, *xs]))  # room for the labels on the right
    ylim = (min([0.9, *ys]) - 0.03, max([1.0, *ys]) + 0.03)
    labelled = [name for name in names if name in points and name in shown]
    heights = label_positions(
        {n: points[n] for n in labelled},
        x_near=0.25 * (xlim[1] - xlim[0]),
        gap=0.05 * (ylim[1] - ylim[0]),
    )
    dx = 0.03 * (xlim[1] - xlim[0])
    for name in (name for name in names if name in points):
        x, y = points[name]
        role = models.get(name, {}).get("role")
        at = (x + dx, heights.get(name, y))
        if role == "oracle":
            _point(ax, x, y, "oracle (never saw them)", at, marker="*", s=260, color="#2ca02c")
        elif role == "vanilla":
            _point(ax, x, y, "vanilla (before)", at, marker="s", s=70, color="#7f7f7f")
        elif name in shown:
            colour = PALETTE[labelled.index(name) % len(PALETTE)]
            _point(ax, x, y, name, at, marker="o", s=50, color=colour)
        else:  # an unselected variant: faint, unlabelled
            _point(ax, x, y, None, at, marker="o", s=25, color="#bbbbbb", alpha=0.5)
    if set(points) - shown:
        ax.scatter([], [], marker="o", s=25, color="#bbbbbb", label="variants not selected")
        ax.legend(fontsize=7, loc="lower right")
    attacked = any(head.get(n, {}).get("worst_attack_leak") is not None for n in points)
    what = "forget leak, plain or under the worst attack" if attacked else "forget leak"
    ax.set_xlabel(f"{what} (lower is better)")
    ax.set_ylabel("image understanding kept (ratio of vanilla)")
    ax.set_title("Forgetting vs. keeping (best: left and high)")
    ax.set_xlim(*xlim)
    ax.set_ylim(ylim[0], max([ylim[1], *heights.values()]) + 0.02)
    ax.axhline(1.0, color="#999999", linewidth=0.8, linestyle=":")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def sweeps(models: dict[str, dict[str, Any]]) -> dict[str, tuple[str, dict[str, float]]]:
    """Per method run with several variants: (knob, model -> value) of the one numeric setting
    its variants differ in (SMFA's and VERA's k); methods whose variants differ otherwise are
    left out."""
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for name, info in models.items():
        if info.get("role") == "method":
            groups.setdefault(str(info.get("method", name)), {})[name] = info.get("params") or {}
    found: dict[str, tuple[str, dict[str, float]]] = {}
    for method, members in groups.items():
        if len(members) < 2:
            continue
        shared = set.intersection(*(set(params) for params in members.values()))
        varying = [
            key
            for key in sorted(shared)
            if all(_number(params[key]) for params in members.values())
            and len({params[key] for params in members.values()}) > 1
        ]
        if len(varying) == 1:
            knob = varying[0]
            found[method] = (knob, {m: float(params[knob]) for m, params in members.items()})
    return found


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def sweep_plot(
    data: dict[str, Any], method: str, knob: str, values: dict[str, float], part: Slice
) -> bytes | None:
    """A method's figures against its swept knob (None with fewer than two distinct values),
    on `part`, or on the validation slice when not every variant was reported."""
    models = data.get("models", {})
    head = headline(data, part)
    if not set(values) <= set(head):
        part = VALIDATION
        head = headline(data, part)
        values = {m: v for m, v in values.items() if m in head}
    if len(set(values.values())) < 2:
        return None
    kept = ratios(head, vanilla_name(models))
    names = sorted(values, key=lambda m: (values[m], m))
    fig = Figure(figsize=(6.4, 4.2))
    ax: Axes = fig.add_subplot()
    lines = (
        ("forget leak (image) ↓", lambda m: head[m].get("forget_leak_image"), "#d62728", "o"),
        ("forget leak (text) ↓", lambda m: head[m].get("forget_leak_text"), "#ff7f0e", "s"),
        ("understanding kept (× vanilla)", lambda m: understanding_kept(kept[m]), "#1f77b4", "^"),
        ("retain memory kept (× vanilla)", lambda m: kept[m].get("retain_memory"), "#2ca02c", "D"),
    )
    for label, get, colour, marker in lines:
        points = [(values[m], get(m)) for m in names if get(m) is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker=marker, color=colour, label=label)
    selected = [values[m] for m in names if models[m].get("selected")]
    for value in selected[:1]:
        label = f"selected {knob}={value:g}"
        ax.axvline(value, color="#555555", linestyle="--", linewidth=1, label=label)
    ticks = sorted(set(values.values()))
    if ticks[0] > 0 and ticks[-1] / ticks[0] >= 10:
        ax.set_xscale("log")
    ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
    ax.set_xlabel(f"{knob} ({method}'s setting)")
    ax.set_ylabel("rate or ratio of vanilla")
    ax.set_title(f"{method}: effect of {knob} ({part.name} slice)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _png(fig)


def kind_bars_plot(head: dict[str, Figures], models: dict[str, dict[str, Any]]) -> bytes:
    """Grouped bars: per model, forget leaks, understanding, retain memory and scenes."""
    names = visible_models(models, order_models(models, head))
    fig = Figure(figsize=(max(6.4, 1.1 * len(names) + 2.5), 4.4))
    ax = fig.add_subplot()
    width = 0.8 / len(BARS)
    drawn = False
    for j, (key, label) in enumerate(BARS):
        xs = [i + (j - (len(BARS) - 1) / 2) * width for i in range(len(names))]
        heights = [head.get(name, {}).get(key) for name in names]
        pairs = [(x, h) for x, h in zip(xs, heights, strict=True) if h is not None]
        if pairs:
            px, ph = zip(*pairs, strict=True)
            bars = ax.bar(px, ph, width=width, color=PALETTE[j % len(PALETTE)], label=label)
            drawn = True
            # A zero-height bar is invisible: say "0" so it does not read as missing.
            ax.bar_label(bars, labels=["0" if h == 0 else "" for h in ph], fontsize=6)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("rate")
    ax.set_title("Per model: what is forgotten and what is kept")
    ax.grid(axis="y", alpha=0.3)
    if drawn:
        ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    else:  # rows without these figures (a results file of attack rows only, say)
        ax.text(0.5, 0.5, "none of these figures was measured", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    return _png(fig)


def attack_heatmap_plot(data: dict[str, Any], names: list[str]) -> bytes | None:
    """Two heat maps, attacks x models: forget leak and retain recall under each attack."""
    leak_attacks, _, leak = matrix(data, names, "forget", "leak_rate")
    if not leak_attacks:
        return None
    recall_attacks, _, recall = matrix(data, names, "retain", "recall")
    fig = Figure(figsize=(max(8.0, 1.3 * len(names) + 4.0), 0.42 * len(leak_attacks) + 2.2))
    panels = (
        ("forget leak ↓", leak_attacks, leak, "Reds"),
        ("retain recall ↑", recall_attacks, recall, "Greens"),
    )
    for index, (heading, attacks, values, cmap) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, 2, index)
        grid = [[math.nan if v is None else v for v in row] for row in values] or [[math.nan]]
        ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
        for y, row in enumerate(values):
            for x, value in enumerate(row):
                if value is not None:
                    colour = "white" if value > 0.6 else "black"
                    ax.text(
                        x, y, f"{100 * value:.0f}", ha="center", va="center", fontsize=7,
                        color=colour,
                    )  # fmt: skip
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=7)
        ax.set_yticks(range(len(attacks)), attacks, fontsize=7)
        ax.set_title(heading, fontsize=9)
    fig.tight_layout()
    return _png(fig)


def render_plots(data: dict[str, Any], part: Slice = REPORTED) -> dict[str, bytes]:
    """Every plot that the results allow: name -> PNG bytes ("sweep_METHOD" for each method
    whose variants differ in one setting)."""
    models = data.get("models", {})
    head = headline(data, part)
    kept = ratios(head, vanilla_name(models))
    plots = {
        "tradeoff": tradeoff_plot(head, kept, models),
        "kind_bars": kind_bars_plot(head, models),
    }
    for method, (knob, values) in sweeps(models).items():
        curve = sweep_plot(data, method, knob, values, part)
        if curve is not None:
            plots[f"sweep_{method}"] = curve
    heatmap = attack_heatmap_plot(data, visible_models(models, order_models(models, head)))
    if heatmap is not None:
        plots["attack_heatmap"] = heatmap
    return plots
