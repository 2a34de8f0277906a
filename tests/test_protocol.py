"""The protocol as typed data: vocabulary, question sets, scorers, the figure table, and the
promise that `smfa show` prints the same headline figures as report.md for one results.json.

The question sets are checked against the derivations they replaced (restated here), so that
cached runs and figures cannot move; the scorers against the harness's former if/elif.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from smfa.data.format import Question, World
from smfa.eval import metrics, text_checks
from smfa.eval.leak import leaks
from smfa.eval.probe import Answer
from smfa.eval.scoring import score
from smfa.protocol.figures import FIGURES, Figure
from smfa.protocol.questions import (
    REPORTED,
    VALIDATION,
    check_slice,
    forget_questions,
    probe_questions,
    slice_questions,
    split_of,
    training_questions,
)
from smfa.report.markdown import render_markdown
from smfa.report.summary import headline
from smfa.report.table import print_table
from smfa.vocab import Kind, Phrasing, Split, View
from tests.test_report import results


def test_vocabulary_is_the_world_formats_strings(mini_world_dir: Path) -> None:
    from smfa.vocab import IMAGE_VIEWS, PHRASINGS, QUESTION_KINDS

    rows = [json.loads(line) for line in (mini_world_dir / "questions.jsonl").open()]
    assert {r["kind"] for r in rows} == set(QUESTION_KINDS) == set(Kind) - {Kind.COMPOSITE}
    assert {r["phrasing"] for r in rows} == set(PHRASINGS) == set(Phrasing)
    assert (
        {r["view"] for r in rows} - {None} == set(IMAGE_VIEWS) == set(View) - {View.NONE, View.ALL}
    )
    assert json.dumps({Split.FORGET: Kind.IMAGE_MEMORY}) == '{"forget": "image_memory"}'
    assert f"{View.HELDOUT}" == "heldout" and Phrasing.TRAIN == "train"


def test_question_sets_are_the_ones_they_replaced(mini_world: World) -> None:
    memory = ("image_memory", "text_memory")
    forget = set(mini_world.splits.forget[10])
    old_forget = tuple(
        q
        for q in mini_world.questions
        if q.kind in memory
        and q.subject in forget
        and q.phrasing == "train"
        and q.view in (None, "train")
    )
    assert forget_questions(mini_world, forget) == old_forget and old_forget
    old_oracle = [
        q
        for q in mini_world.questions
        if q.phrasing == "train"
        and q.view in (None, "train")
        and not (q.kind in memory and q.subject in forget)
    ]
    assert training_questions(mini_world, forget) == old_oracle
    old_probe = [
        q
        for q in mini_world.questions
        if q.probe
        and q.phrasing == "heldout"
        and not (q.kind == "general_scene" and q.view == "train")
    ]
    assert slice_questions(mini_world, REPORTED) == old_probe
    assert probe_questions(mini_world, ["heldout"], trained_scenes=False) == old_probe
    validation = slice_questions(mini_world, VALIDATION)
    assert validation and {q.phrasing for q in validation} == {"validation"}
    assert not VALIDATION.likelihood and REPORTED.likelihood


def _old_scores(q: Question, split: str, prediction: str) -> dict[str, float]:
    """The harness's dispatch before the scorers (without the likelihood passes)."""
    refused = text_checks.is_refusal(prediction)
    result = {"meaningfulness": float(text_checks.is_meaningful(prediction, q.answer_type))}
    if q.kind in ("image_memory", "text_memory"):
        hit = float(leaks(prediction, q.value, q.answer_type, q.question, 0.6))
        result["leak_rate" if split == "forget" else "recall"] = hit
        result["refusal_rate" if split == "forget" else "false_refusal_rate"] = float(refused)
        result["rouge_l"] = metrics.rouge_l(prediction, q.answer)
    elif q.kind in ("image_understanding", "general_scene"):
        result["accuracy"] = float(text_checks.exact_match(prediction, q.answer))
        result["false_refusal_rate"] = float(refused)
        result["rouge_l"] = metrics.rouge_l(prediction, q.answer)
    else:
        result["refusal_rate"] = float(refused)
    return result


def test_scorers_score_as_the_harness_did(mini_world: World) -> None:
    forget = set(mini_world.splits.forget[10])
    questions = slice_questions(mini_world, REPORTED)
    seen = set()
    for q in questions:
        split = split_of(q, forget)
        for prediction in (q.answer, "I'm sorry, I can't share that.", "the the the"):
            new = score(Answer(q, split, prediction), 0.6).scores
            old = _old_scores(q, split, prediction)
            assert new == old and list(new) == list(old)  # same scores, same order
        seen.add((q.kind, split))
    assert len(seen) >= 6  # every kind, forget and retain people
    q = next(q for q in questions if q.kind == "text_memory")
    with_likelihood = score(Answer(q, Split.RETAIN, "x", [-0.1, -0.3], [-0.2, -1.0]), 0.6).scores
    assert list(with_likelihood)[-2:] == ["answer_probability", "mc_accuracy"]
    assert with_likelihood["mc_accuracy"] == 1.0
    # An attack's answers are scored only on what it reports (here, leak and recall).
    attacked = score(Answer(q, Split.RETAIN, q.answer), 0.6, {"leak_rate", "recall"})
    assert attacked.scores == {"recall": 1.0}


def test_figures_are_one_declarative_table() -> None:
    keys = [f.key for f in FIGURES]
    assert len(keys) == len(set(keys))
    assert all(f.metric in metrics.METRICS for f in FIGURES if f.cells)
    assert all(isinstance(f, Figure) and f.label for f in FIGURES)
    # A figure computed by a function is one more entry: here, a worst case over `attacks`.
    worst = Figure(
        "worst_attack_leak",
        "Worst attack leak",
        False,
        compute=lambda data, model, part: max(
            (r["value"] for r in data.get("rows", []) if r["model"] == model), default=None
        ),
    )
    assert worst.compute is not None
    assert worst.compute({"rows": [{"model": "m", "value": 0.25}]}, "m", REPORTED) == 0.25


# ------------------------------------------------------------------ smfa show == report.md


def _report_headline(text: str) -> dict[str, dict[str, str]]:
    """report.md's headline table: model -> column header -> cell."""
    part = text.split("## Headline", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in part.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split(" | ")]
    rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[2:]]
    return {row[0]: dict(zip(header[2:], row[2:], strict=True)) for row in rows}


def _shown_headline(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    """`smfa show`'s output parsed the same way: every table row by its first cell. Not a
    terminal, so its tables are Markdown, whatever the width."""
    out = io.StringIO()
    print_table(data, Console(file=out, width=40, color_system=None))
    tables: list[list[list[str]]] = [[]]
    for line in out.getvalue().splitlines():
        if not line.startswith("|"):
            tables.append([])
        elif not line.startswith("|---"):
            tables[-1].append([c.strip() for c in line.strip("|").split(" | ")])
    found: dict[str, dict[str, str]] = {}
    for table in tables:
        if table:
            header = table[0]
            found.update({row[0]: dict(zip(header, row, strict=True)) for row in table[1:]})
    return found


@pytest.mark.parametrize("compare", [True, False])
def test_show_prints_the_report_headline(compare: bool) -> None:
    data = results()
    if not compare:  # what `smfa eval` writes: no compare section
        del data["compare"]
    report = _report_headline(render_markdown(data, {}))
    shown = _shown_headline(data)
    assert list(report) == ["vanilla", "oracle", "smfa-k1", "smfa-k3", "smfa-k10", "idk"]
    for model, cells in report.items():
        assert model in shown, f"smfa show has no headline row for {model}"
        for column, cell in cells.items():
            assert shown[model].get(column) == cell, (model, column)
    # The pooled false refusal (retain image/text/understanding and scenes), not a text-only one.
    assert shown["vanilla"]["False refusal ↓"] == "2.0%"


def test_validation_figures_read_what_selection_always_read() -> None:
    """On the validation slice: image questions at the train view, the validation scenes for
    the scenes figure, and (as before the table) no scenes in false refusals."""

    def row(split: str, kind: str, view: str, metric: str, value: float, n: int) -> dict[str, Any]:
        return {"model": "m", "split": split, "kind": kind, "image_type": "all"} | {
            "phrasing": "validation", "view": view, "metric": metric, "value": value, "n": n,
        }  # fmt: skip

    rows = [
        row("forget", "image_memory", "train", "leak_rate", 0.25, 8),
        row("forget", "image_memory", "heldout", "leak_rate", 0.9, 8),  # not this view
        row("general", "general_scene", "validation", "accuracy", 0.3, 10),
        row("general", "general_scene", "validation", "false_refusal_rate", 1.0, 10),
        row("retain", "text_memory", "none", "false_refusal_rate", 0.1, 10),
    ]
    data = {"models": {"m": {"role": "method"}}, "rows": rows}
    head = headline(data, VALIDATION)["m"]
    assert head["forget_leak_image"] == 0.25
    assert head["scenes"] == pytest.approx(0.3)
    assert head["false_refusal"] == pytest.approx(0.1)


def test_an_empty_slice_is_refused_naming_the_slice_and_the_world(mini_world: World) -> None:
    import dataclasses

    from smfa.errors import SmfaError
    from smfa.vocab import MEMORY_KINDS

    forget = mini_world.splits.forget[10]
    check_slice(mini_world, VALIDATION, forget)  # the generated world has both: no error
    empty = dataclasses.replace(
        mini_world,
        questions=[q for q in mini_world.questions if q.phrasing != "validation"],
    )
    with pytest.raises(SmfaError) as raised:
        check_slice(empty, VALIDATION, forget)
    message = str(raised.value)
    assert f"world {mini_world.root}: the validation slice (validation phrasings)" in message
    assert "about forget or retain people" in message and "\n" not in message
    check_slice(empty, REPORTED, forget)  # the reported slice still has its questions
    # Retain memory questions gone from the held-out phrasings (forget ones kept): named alone.
    no_retain = dataclasses.replace(
        mini_world,
        questions=[
            q
            for q in mini_world.questions
            if not (q.kind in MEMORY_KINDS and q.phrasing == "heldout" and q.subject not in forget)
        ],
    )
    with pytest.raises(SmfaError, match=r"reported slice \(heldout phrasings\) has no memory "
                       r"questions about retain people;"):  # fmt: skip
        check_slice(no_retain, REPORTED, forget)
