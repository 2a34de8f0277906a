"""`smfa show` and `smfa eval`'s tables in the terminal, from results.json rows alone.

The headline table prints exactly the cells of report.md's headline (the figures of
`smfa.protocol.figures.FIGURES` on the report's slice, ratios to vanilla in brackets; a figure no
model has is left out and said once under it). Below it, a detail table shows what was
memorized: forget leak and retain recall at the training phrasing, a held-out phrasing, and a
held-out image, each row naming its slice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console

from smfa.report import summary
from smfa.report.sections import headline_cells, headline_header
from smfa.terminal import Grid, console, show
from smfa.vocab import Kind, Phrasing, Split, View

# (label, split, kind, phrasing, view, metric)
Detail = tuple[str, Split, Kind, Phrasing, View, str]
_MEMORY = (
    ("image memory · train phrasing", Kind.IMAGE_MEMORY, Phrasing.TRAIN, View.TRAIN),
    ("image memory · held-out phrasing", Kind.IMAGE_MEMORY, Phrasing.HELDOUT, View.TRAIN),
    ("image memory · held-out image", Kind.IMAGE_MEMORY, Phrasing.HELDOUT, View.HELDOUT),
    ("text memory · train phrasing", Kind.TEXT_MEMORY, Phrasing.TRAIN, View.NONE),
    ("text memory · held-out phrasing", Kind.TEXT_MEMORY, Phrasing.HELDOUT, View.NONE),
)
DETAILS: tuple[Detail, ...] = tuple(
    (f"{split} · {label}", split, kind, phrasing, view, metric)
    for split, metric in ((Split.FORGET, "leak_rate"), (Split.RETAIN, "recall"))
    for label, kind, phrasing, view in _MEMORY
)


def lookup(
    rows: Iterable[dict[str, Any]],
    model: str,
    split: str,
    kind: str,
    phrasing: str,
    view: str,
    metric: str,
    image_type: str = "all",
) -> dict[str, Any] | None:
    wanted = (model, split, kind, image_type, phrasing, view, metric)
    for row in rows:
        key = (row["model"], row["split"], row["kind"], row["image_type"], row["phrasing"])
        if (*key, row["view"], row["metric"]) == wanted:
            return row
    return None


def headline_table(data: dict[str, Any]) -> Grid:
    """One row per model, one column per figure: the cells of report.md's headline."""
    part = summary.report_slice(data)
    head = summary.headline(data, part)
    vanilla = summary.vanilla_name(data.get("models", {}))
    kept = summary.ratios(head, vanilla)
    phrasing, images = (
        "held-out" if str(v) == "heldout" else f"'{v}'" for v in (part.phrasing, part.image_view)
    )
    title = f"headline: {phrasing} phrasings, {images} images (percentages; ×: kept vs vanilla)"
    shown, absent = summary.measured(head)
    table = Grid(title, ["model", *headline_header(shown)])
    for name, figures in head.items():
        table.add_row(name, *headline_cells(name, figures, kept[name], vanilla, shown))
    table.notes = absent
    return table


def detail_table(data: dict[str, Any]) -> Grid:
    """What was memorized, per phrasing and view: one row per slice, one column per model (not
    the variants `smfa compare` scored on the validation slice only)."""
    info = data.get("models", {})
    models = [m for m in summary.ordered_models(data) if info.get(m, {}).get("reported", True)]
    title = f"memorization by phrasing (forget ratio {data.get('forget_ratio')}%)"
    table = Grid(title, ["slice", "metric", *models], left=2)
    for label, split, kind, phrasing, view, metric in DETAILS:
        cells = []
        found = False
        arrow = ""
        for model in models:
            row = lookup(data["rows"], model, split, kind, phrasing, view, metric)
            if row is None:
                cells.append("-")
                continue
            found = True
            arrow = "↑" if row["higher_is_better"] else "↓"
            cells.append(f"{100 * row['value']:.1f}% [dim](n={row['n']})[/dim]")
        if found:
            table.add_row(label, f"{metric} {arrow}", *cells)
    return table


def print_table(data: dict[str, Any], out: Console | None = None) -> None:
    """Both tables: rich tables on a terminal, Markdown in a pipe or a log."""
    out = out or console()
    show(headline_table(data), out)
    show(detail_table(data), out)
