"""The report's "MLLMU-Bench metrics" section: the benchmark's own tasks, from results alone.

Reads the rows of the `mllmu_tasks` probe (`smfa.eval.mllmu_tasks`): per model, classification
accuracy with the image and with the question alone, cloze accuracy and generation ROUGE-L, each
on the forget people, the retain people and, when the world has them, the real celebrities
(`test`). A results file without such rows has no such section.
"""

from __future__ import annotations

from typing import Any

from smfa.report.sections import Section, pct

# The probe's name and its celebrities' split (`smfa.eval.mllmu_tasks`; not imported: a report
# needs no torch).
NAME, TEST = "mllmu_tasks", "test"

# (label, kind, metric, shown as a percentage)
LINES = (
    ("Classification, image + question", "image_memory", "mllmu_classification", True),
    ("Classification, question only", "text_memory", "mllmu_classification", True),
    ("Cloze", "all", "mllmu_cloze", True),
    ("Generation ROUGE-L", "all", "mllmu_generation_rouge_l", False),
)
SPLITS = ("forget", "retain", TEST)


def mllmu_section(data: dict[str, Any], models: list[str]) -> Section | None:
    """One row per model and metric, one column per split (Test only when present)."""
    cells: dict[tuple[str, str, str, str], float] = {}
    for row in data.get("rows") or []:
        if row.get("probe") == NAME and isinstance(row.get("value"), int | float):
            cells[(row["model"], row["split"], row["kind"], row["metric"])] = float(row["value"])
    if not cells:
        return None
    splits = [s for s in SPLITS if s != TEST or any(key[1] == TEST for key in cells)]
    rows = []
    for model in models:
        for label, kind, metric, percent in LINES:
            values = [cells.get((model, split, kind, metric)) for split in splits]
            if all(v is None for v in values):
                continue
            shown = [pct(v) if percent or v is None else f"{v:.3f}" for v in values]
            rows.append([model, label, *shown])
    notes = [
        "MLLMU-Bench's own evaluation items as published, asked of every model: classification "
        "(the correct option's text has the highest likelihood), cloze (the greedy answer "
        "holds the blank's ground truth) and generation (ROUGE-L F). On forget people lower "
        "means more forgotten; on retain people and real celebrities (Test) higher is better."
    ]
    header = ["Model", "Metric", *(s.capitalize() for s in splits)]
    return Section("MLLMU-Bench metrics", notes, header, rows, numeric_from=2)
