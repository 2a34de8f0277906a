"""The comparison report's content: format-neutral sections both renderers lay out.

`sections` turns a results.json dict into sections (plain-text paragraphs and table cells);
`smfa.report.markdown` and `smfa.report.html` only lay them out, so both reports always say the
same thing, and `smfa.report.table` (`smfa show`) prints the same headline cells.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from smfa.protocol import attack_rows
from smfa.protocol.figures import FIGURES, Figure
from smfa.protocol.questions import Slice
from smfa.report import summary
from smfa.selection import natural_key
from smfa.vocab import Phrasing, View

CAPTIONS = {
    "tradeoff": "The highest forget leak found (plain, or under the worst attack) against image "
    "understanding kept, one point per model (unselected variants faint).",
    "sweep": "{method} for each value of the setting it was swept over, on the slice its title "
    "names (the validation slice when only the selected variant was reported); the dashed line "
    "marks the selected value.",
    "kind_bars": "Each model's forget leaks and what it kept, side by side.",
    "attack_heatmap": "Forget leak (left, lower is better) and retain recall (right) of each "
    "model under each attack.",
}


@dataclass
class Section:
    """A titled part of the report: paragraphs, then an optional table and the lines under it
    (`footnotes`: what the table cannot show, said once), then plots."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    plots: list[tuple[str, str]] = field(default_factory=list)  # (plot name, caption)
    numeric_from: int = 0  # columns from this index on are right-aligned numbers (0: none)
    footnotes: list[str] = field(default_factory=list)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def times(value: float | None) -> str:
    return "—" if value is None else f"×{value:.3f}"


def title(data: dict[str, Any]) -> str:
    return f"smfa comparison report (forget ratio {data.get('forget_ratio', '?')}%)"


def _describe(name: str, info: dict[str, Any]) -> str:
    role = str(info.get("role", "?"))
    text = str(info.get("method", role)) if role == "method" else role
    if not info.get("variant"):  # a method run once: nothing was selected among variants
        return text
    text += f" {info['variant']}"
    return text + (" (selected)" if info.get("selected") else "")


def _reading(part: Slice) -> Section:
    phrasing, view = part.phrasing, part.image_view
    phrasing = "held-out phrasings" if phrasing == Phrasing.HELDOUT else f"'{phrasing}' phrasings"
    images = "held-out (re-rendered) portraits" if view == View.HELDOUT else f"'{view}' portraits"
    return Section(
        "How to read this",
        [
            f"Every figure is measured on {phrasing} and {images}, which no model trained on.",
            "Leak is the share of answers about a forget person that state their true private "
            "value: lower is better, and 0% means nothing leaks. Understanding, retain memory "
            "and scenes are what a method should keep; ×1.000 means exactly as good as vanilla.",
            "Vanilla is the model before unlearning. The oracle was trained without the forget "
            "people's private facts, so its row is what 'forgotten' looks like.",
        ],
    )


def _forgotten(data: dict[str, Any], compare: dict[str, Any]) -> Section:
    people = [
        f"{p.get('name', '?')} ({p['id']})" if p.get("id") else str(p.get("name", "?"))
        for p in compare.get("forget_people", [])
    ]
    ratio = compare.get("forget_ratio", data.get("forget_ratio", "?"))
    lines = [f"Forget set ({ratio}% of the people): {', '.join(people) or 'not listed'}."]
    if compare.get("retain_budget") is not None:
        lines.append(
            f"Retain budget: {compare['retain_budget']} retain questions that unlearning may use."
        )
    return Section("What was forgotten", lines)


def headline_cells(
    name: str,
    figures: summary.Figures,
    kept: summary.Figures,
    vanilla: str,
    shown: Iterable[Figure] = FIGURES,
) -> list[str]:
    """One model's headline cells: percentages, and the ratio to vanilla for keep figures."""
    cells = []
    for figure in shown:
        cell = pct(figures.get(figure.key))
        if figure.keep and name != vanilla and kept.get(figure.key) is not None:
            cell += f" ({times(kept[figure.key])})"
        cells.append(cell)
    return cells


def headline_header(shown: Iterable[Figure] = FIGURES) -> list[str]:
    return [f"{figure.label} {figure.arrow}" for figure in shown]


def _headline(
    data: dict[str, Any], head: dict[str, summary.Figures], kept: dict[str, summary.Figures]
) -> Section:
    models = data.get("models", {})
    vanilla = summary.vanilla_name(models)
    shown, absent = summary.measured(head)
    rows = [
        [
            name,
            _describe(name, models.get(name, {})),
            *headline_cells(name, f, kept[name], vanilla, shown),
        ]
        for name, f in head.items()
    ]
    header = ["Model", "Role", *headline_header(shown)]
    note = "Percentages; in brackets, the ratio to vanilla for what a method should keep."
    return Section("Headline", [note], header, rows, numeric_from=2, footnotes=absent)


def caption(plot: str) -> str:
    """A plot's caption; a sweep plot (`sweep_METHOD`) names its method."""
    if plot.startswith("sweep_"):
        return CAPTIONS["sweep"].format(method=plot.removeprefix("sweep_"))
    return CAPTIONS[plot]


def _selection(data: dict[str, Any], compare: dict[str, Any]) -> Section | None:
    """Each variant's validation figures and the one chosen, per method run with several."""
    chosen = compare.get("selection") or {}
    models = data.get("models", {})
    rows = []
    for method, pick in chosen.items():
        scores = pick.get("scores") or {str(pick.get("variant") or "—"): None}
        for label, score in sorted(scores.items(), key=lambda item: natural_key(item[0])):
            leak = (pick.get("leaks") or {}).get(label)
            shown = "—" if score is None else f"{score:.3f}"
            rows.append(
                [method, label, pct(leak), shown, "✓" if label == pick.get("variant") else ""]
            )
    if not rows:  # fall back on the models' own `selected` flags
        rows = [
            [str(info.get("method", name)), str(info.get("variant") or name), "—", "—", "✓"]
            for name, info in models.items()
            if info.get("selected")
        ]
    notes = ["The variant of each method chosen on the validation slice (not on reported data)."]
    criteria = sorted({str(p["criterion"]) for p in chosen.values() if p.get("criterion")})
    notes += [f"Criterion: {c}." for c in criteria]
    unreported = [name for name, info in models.items() if info.get("reported") is False]
    if unreported:
        notes.append(
            f"Scored on the validation slice only: {', '.join(unreported)} (variants not "
            "selected; `compare.report_variants=all` also evaluates and attacks them on the "
            "reported slice)."
        )
    header = ["Method", "Variant", "Validation leak (worst)", "Validation score", "Chosen"]
    return Section("Hyper-parameter selection", notes, header, rows, numeric_from=2)


def _examples(order: list[str], compare: dict[str, Any]) -> Section | None:
    examples = compare.get("examples") or []
    if not examples:
        return None
    named = {m for ex in examples for m in (ex.get("predictions") or {})}
    cols = [m for m in order if m in named] + sorted(named - set(order))
    rows = [
        [
            str(ex.get("person", "")),
            str(ex.get("question", "")),
            str(ex.get("image") or "—"),
            str(ex.get("answer", "")),
        ]
        + [str((ex.get("predictions") or {}).get(m, "—")) for m in cols]
        for ex in examples
    ]
    header = ["Person", "Question", "Image", "True answer", *cols]
    return Section(
        "Before and after", ["What each model answers about a forget person."], header, rows
    )


def _timings(data: dict[str, Any], order: list[str], compare: dict[str, Any]) -> Section | None:
    timings = compare.get("timings") or {}
    models = data.get("models", {})
    rows = []
    for name in order:
        seconds = timings.get(name, models.get(name, {}).get("seconds"))
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            rows.append([name, f"{seconds:.1f} s"])
    return Section("Wall time", [], ["Model", "Seconds"], rows, numeric_from=1) if rows else None


def _attacks(data: dict[str, Any], names: list[str], plot_names: set[str]) -> Section | None:
    """Every attack on every model: forget leak, and retain recall under the same attack."""
    cells = attack_rows.attack_cells(data)
    attacks = attack_rows.attacks_run(data)
    if not attacks:
        return None
    rows = []
    for attack in attacks:
        row = [attack]
        choice = any(key[1] == attack and key[3] == "mc_accuracy" for key in cells)
        for name in names:
            aucs = [
                v
                for (m, a, split, metric), (v, _) in cells.items()
                if (m, a, split) == (name, attack, "forget")
                and metric.startswith(attack_rows.MIA_AUC)
            ]
            if aucs:  # membership inference: its best score's AUC
                cell = f"AUC {max(aucs):.2f}"
            elif choice:  # a likelihood probe: accuracy against its chance level, not a leak
                got = cells.get((name, attack, "forget", "mc_accuracy"))
                chance = cells.get((name, attack, "forget", "chance"))
                cell = "—" if got is None else f"MC {pct(got[0])}"
                if got is not None and chance is not None:
                    cell += f" (chance {pct(chance[0])})"
            else:
                leak = cells.get((name, attack, "forget", "leak_rate"))
                recall = cells.get((name, attack, "retain", "recall"))
                cell = "—" if leak is None else pct(leak[0])
                if recall is not None:
                    cell += f" / {pct(recall[0])}"
            row.append(cell)
        rows.append(row)
    worst = [
        f"{name} {pct(found[0])} ({found[1] if found[0] > 0 else 'no attack leaks'})"
        for name in names
        if (found := attack_rows.worst_attack(data, name)) is not None
    ]
    paragraphs = [
        "Each attack asks the forget people's held-out memory questions its own way; a cell is "
        "the forget leak under that attack / the retain recall under the same attack (a fixed "
        "sample of retain questions), so an attack that only breaks the model shows as a low "
        "recall. The oracle, which never learned the values, is the floor; vanilla the "
        "ceiling. fair_mc picks the true value among values no model learned, by likelihood: "
        "a model that knows nothing sits near chance. mia tells the forget people's true answers "
        "from never-seen ones by likelihood: the highest AUC of its four scores (0.5: no trace; "
        "the headline's MIA AUC gap is its largest distance to the oracle's). docs/attacks.md "
        "describes each attack.",
        "Worst attack per model: " + ("; ".join(worst) if worst else "none") + ".",
    ]
    unattacked = [
        name
        for name, info in data.get("models", {}).items()
        if info.get("reported", True)
        and not info.get("selected", True)
        and attack_rows.worst_attack(data, name) is None
    ]
    if unattacked:
        paragraphs.append(f"Not attacked: {', '.join(unattacked)} (variants not selected).")
    plots = [(n, CAPTIONS[n]) for n in ("attack_heatmap",) if n in plot_names]
    return Section("Attacks", paragraphs, ["Attack", *names], rows, plots, numeric_from=1)


def _grid(data: dict[str, Any], names: list[str]) -> Section | None:
    """The strong relearning attack cell by cell: its worst cell is its row under Attacks."""
    cells, values = attack_rows.grid(data)
    shown = [n for n in names if any((n, c) in values for c in cells)]
    if not cells or not shown:
        return None
    rows = []
    for cell in cells:
        row = [cell]
        for name in shown:
            leak, recall = values.get((name, cell), (None, None))
            row.append(pct(leak) + ("" if recall is None else f" / {pct(recall)}"))
        rows.append(row)
    text = (
        f"{attack_rows.GRID} relearns over a grid of budgets and splits; each cell is the forget "
        "leak after that relearning / the retain recall after it. The oracle's leak in the same "
        "cell is the floor; a cell where the oracle's retain recall falls far tunes hard enough "
        "to break what a model knows, not only to relearn. The attack's row above is each "
        "model's worst cell."
    )
    header = ["Cell", *shown]
    return Section("Strong relearning, cell by cell", [text], header, rows, numeric_from=1)


def sections(data: dict[str, Any], plot_names: Iterable[str] = ()) -> list[Section]:
    """The report's content in order; `plot_names` are the plots that exist."""
    from smfa.report.mllmu import mllmu_section  # these two lay out Sections of this module
    from smfa.report.targets import targets_section

    part = summary.report_slice(data)
    compare = data.get("compare") or {}
    head = summary.headline(data, part)
    kept = summary.ratios(head, summary.vanilla_name(data.get("models", {})))
    order = list(head)
    parts: list[Section | None] = [_reading(part)]
    if compare:
        parts.append(_forgotten(data, compare))
    parts.append(_headline(data, head, kept))
    names = [n for n in ("tradeoff", *sorted(set(plot_names)), "kind_bars") if n in plot_names]
    names = [n for n in dict.fromkeys(names) if n != "attack_heatmap"]
    if names:
        parts.append(Section("Plots", plots=[(n, caption(n)) for n in names]))
    shown = summary.visible_models(data.get("models", {}), order)
    parts.append(_attacks(data, shown, set(plot_names)))
    parts.append(_grid(data, shown))
    parts.append(targets_section(data, [m for m in shown if m in head], head, kept))
    parts.append(mllmu_section(data, [m for m in shown if m in head]))
    selection = _selection(data, compare)
    parts.append(selection if selection and selection.rows else None)
    parts += [_examples(order, compare), _timings(data, order, compare)]
    return [part for part in parts if part is not None]
