"""Choosing one of a method's variants (SMFA's k sweep) on the validation slice, forgetting first.

Only the variants whose validation leak (image and text questions, each) is at most
`compare.max_leak` compete (the least leaking ones when none is); among them the best
validation score wins (CRITERION). The figures come from the protocol's one table
(`protocol.figures`, those marked for selection), so the terminal, the report and this choice
read the same numbers. The reported slice never chooses anything.
"""

from __future__ import annotations

import re
from typing import Any

from smfa.errors import SmfaError
from smfa.protocol.figures import Figures, selection_figures
from smfa.protocol.questions import VALIDATION
from smfa.report.summary import headline

CRITERION = (
    "among the variants whose validation leak (image and text questions, each) is at most "
    "{max_leak:.0%} (or the least leaking ones when none is), the best validation score = "
    "(1 - mean forget leak, image and text) + mean of the retention ratios to vanilla "
    "(understanding on forget and retain images, retain memory, scenes), each capped at 1, "
    "minus the false-refusal rate"
)


def natural_key(label: str) -> list[tuple[int, int | str]]:
    """`label` as text and numbers, so that "k=10" sorts after "k=3"."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", label)]


def validation_score(figures: Figures, vanilla: Figures) -> float:
    """The selection criterion (CRITERION), from validation-slice headline figures: the
    figures of `FIGURES` whose `selection` is "leak", "keep" and "penalty"."""
    leaks = [figures.get(f.key) for f in selection_figures("leak")]
    leak = sum(v for v in leaks if v is not None) / max(1, sum(v is not None for v in leaks))
    kept = []
    for figure in selection_figures("keep"):
        value, base = figures.get(figure.key), vanilla.get(figure.key)
        if value is not None and base:
            kept.append(min(1.0, value / base))
    keep = sum(kept) / len(kept) if kept else 0.0
    score = (1.0 - leak) + keep
    for figure in selection_figures("penalty"):
        score -= figures.get(figure.key) or 0.0
    return score


def worst_leak(figures: Figures) -> float:
    """The largest forget leak (image or text; a missing one counts as no leak)."""
    return max(figures.get(f.key) or 0.0 for f in selection_figures("leak"))


def choose_variant(leaks: dict[str, float], scores: dict[str, float], max_leak: float) -> str:
    """Forgetting first: the best-scoring variant among those leaking at most `max_leak` on
    validation, or among the least leaking ones when none does (ties go to the larger label)."""
    bound = max(max_leak, min(leaks.values())) + 1e-12
    allowed = [label for label, leak in leaks.items() if leak <= bound]
    return max(allowed, key=lambda label: (scores[label], label))


def _check_measured(method: str, head: dict[str, Figures], names: list[str]) -> None:
    """Refuse to choose when a variant (or vanilla) has no validation leak or nothing kept to
    read: an empty validation slice would score every variant alike (leak 0%, score 1)."""
    for name in ["vanilla", *names]:
        figures = head.get(name, {})
        for role in ("leak", "keep"):
            if all(figures.get(f.key) is None for f in selection_figures(role)):
                raise SmfaError(
                    f"selection of {method}: the validation slice holds no "
                    f"{'forget leak' if role == 'leak' else 'retained'} figure for {name}; "
                    "a variant cannot be chosen on an empty slice"
                )


def select_variants(
    jobs: dict[str, Any], vanilla_rows: list[dict[str, Any]], max_leak: float
) -> dict[str, dict[str, Any]]:
    """Per method with several variants: the one `choose_variant` picks on validation."""
    selection: dict[str, dict[str, Any]] = {}
    for method, result in jobs.items():
        variants = result["variants"]
        if len(variants) < 2:
            continue
        rows = vanilla_rows + [r for v in variants.values() for r in v["validation_rows"]]
        data = {"models": {v["name"]: {"role": "method"} for v in variants.values()}, "rows": rows}
        data["models"]["vanilla"] = {"role": "vanilla"}
        head = headline(data, VALIDATION)
        _check_measured(method, head, [v["name"] for v in variants.values()])
        scores = {
            label: validation_score(head[v["name"]], head["vanilla"])
            for label, v in variants.items()
        }
        leaks = {label: worst_leak(head[v["name"]]) for label, v in variants.items()}
        selection[method] = {
            "variant": choose_variant(leaks, scores, max_leak),
            "criterion": CRITERION.format(max_leak=max_leak),
            "scores": {label: round(score, 4) for label, score in scores.items()},
            "leaks": {label: round(leak, 4) for label, leak in leaks.items()},
        }
    return selection
