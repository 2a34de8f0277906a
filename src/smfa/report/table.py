"""The headline table: a few rows a person reads first, one column per model.

It renders from results.json rows alone. Each headline names its slice (split, kind, phrasing,
view) and shows whether higher is better, so the table is honest about what "good" means.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

# (label, split, kind, phrasing, view, metric)
HEADLINES: tuple[tuple[str, str, str, str, str, str], ...] = (
    (
        "forget · image memory · train wording",
        "forget",
        "image_memory",
        "train",
        "train",
        "leak_rate",
    ),
    (
        "forget · image memory · held-out wording",
        "forget",
        "image_memory",
        "heldout",
        "train",
        "leak_rate",
    ),
    (
        "forget · image memory · held-out image",
        "forget",
        "image_memory",
        "heldout",
        "heldout",
        "leak_rate",
    ),
    ("forget · text memory · train wording", "forget", "text_memory", "train", "none", "leak_rate"),
    (
        "forget · text memory · held-out wording",
        "forget",
        "text_memory",
        "heldout",
        "none",
        "leak_rate",
    ),
    (
        "forget · memory multiple choice · held-out",
        "forget",
        "text_memory",
        "heldout",
        "none",
        "mc_accuracy",
    ),
    ("retain · image memory · train wording", "retain", "image_memory", "train", "train", "recall"),
    (
        "retain · image memory · held-out wording",
        "retain",
        "image_memory",
        "heldout",
        "train",
        "recall",
    ),
    (
        "retain · image memory · held-out image",
        "retain",
        "image_memory",
        "heldout",
        "heldout",
        "recall",
    ),
    ("retain · text memory · train wording", "retain", "text_memory", "train", "none", "recall"),
    (
        "retain · text memory · held-out wording",
        "retain",
        "text_memory",
        "heldout",
        "none",
        "recall",
    ),
    (
        "forget · image understanding · held-out",
        "forget",
        "image_understanding",
        "heldout",
        "heldout",
        "accuracy",
    ),
    (
        "retain · image understanding · held-out",
        "retain",
        "image_understanding",
        "heldout",
        "heldout",
        "accuracy",
    ),
    ("general · held-out scenes", "general", "general_scene", "heldout", "heldout", "accuracy"),
    ("unknown people · refusal", "unknown", "unknown_person", "heldout", "none", "refusal_rate"),
    (
        "retain · false refusals · held-out",
        "retain",
        "text_memory",
        "heldout",
        "none",
        "false_refusal_rate",
    ),
    (
        "overall meaningful · held-out",
        "overall",
        "composite",
        "heldout",
        "all",
        "overall_meaningful",
    ),
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
    for row in rows:
        if (
            row["model"],
            row["split"],
            row["kind"],
            row["image_type"],
            row["phrasing"],
            row["view"],
            row["metric"],
        ) == (model, split, kind, image_type, phrasing, view, metric):
            return row
    return None


def headline_table(data: dict[str, Any], title: str = "smfa evaluation") -> Table:
    models = list(data["models"])
    table = Table(title=f"{title} (forget ratio {data['forget_ratio']}%)", show_lines=False)
    table.add_column("slice")
    table.add_column("metric")
    for model in models:
        table.add_column(model, justify="right")
    for label, split, kind, phrasing, view, metric in HEADLINES:
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


def print_table(data: dict[str, Any], console: Console | None = None) -> None:
    (console or Console()).print(headline_table(data))
