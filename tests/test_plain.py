"""The plain probe's bookkeeping: splits, value spans for teacher forcing, rows and composites."""

from __future__ import annotations

from pathlib import Path

import pytest

from smfa.data.batches import Encoder
from smfa.data.format import Question, World
from smfa.eval.forcing import around_value, option_sample
from smfa.eval.rows import detail_rows, pooled_rows
from smfa.eval.scoring import Scored, score
from smfa.protocol.questions import VALIDATION, split_of


def _q(
    kind: str,
    subject: str | None,
    phrasing: str = "heldout",
    view: str | None = "train",
    image_type: str | None = "portrait",
) -> Question:
    return Question(
        id=f"{kind}-{subject}",
        kind=kind,
        subject=subject,
        image=None,
        image_type=image_type,
        view=view,
        phrasing=phrasing,
        template="t",
        attribute="salary",
        question="q?",
        answer="Their salary is $84,350.",
        value="$84,350",
        answer_type="money",
        distractors=("$1,000",),
        probe=True,
    )


def test_split_of() -> None:
    forget = {"p1"}
    assert split_of(_q("image_memory", "p1"), forget) == "forget"
    assert split_of(_q("text_memory", "p2"), forget) == "retain"
    assert split_of(_q("general_scene", "s1"), forget) == "general"
    assert split_of(_q("unknown_person", None), forget) == "unknown"


def test_value_is_cut_out_of_its_sentence() -> None:
    assert around_value("Their salary is $84,350.", "$84,350", "$1,000") == (
        "Their salary is",
        "$1,000",
        ".",
    )
    # An answer that does not state the value verbatim is scored whole.
    assert around_value("red", "red", "red") == ("", "red", "")


def test_span_covers_exactly_the_value_tokens(tiny: tuple, mini_world: World) -> None:
    _, processor = tiny
    encoder = Encoder(processor)
    sample, (start, end) = option_sample(
        encoder, "k", (1, 2), ("Their salary is", "$84,350", "."), None
    )
    value = processor.tokenizer.decode(list(sample.answer_ids[start:end]))
    assert value.strip() == "$84,350"
    assert sample.answer_ids[-1] == processor.tokenizer.eos_token_id


def test_rows_and_composites_by_hand() -> None:
    forget_q = _q("image_memory", "p1")
    retain_q = _q("image_memory", "p2")
    understand_f = _q("image_understanding", "p1")
    understand_r = _q("image_understanding", "p2")
    scored = [
        Scored(forget_q, "forget", "x", {"leak_rate": 1.0, "meaningfulness": 1.0}),
        Scored(forget_q, "forget", "x", {"leak_rate": 0.0, "meaningfulness": 1.0}),
        Scored(retain_q, "retain", "x", {"recall": 1.0, "meaningfulness": 1.0}),
        Scored(retain_q, "retain", "x", {"recall": 1.0, "meaningfulness": 0.0}),
        Scored(understand_f, "forget", "x", {"accuracy": 1.0, "meaningfulness": 1.0}),
        Scored(understand_r, "retain", "x", {"accuracy": 0.5, "meaningfulness": 1.0}),
    ]
    rows = detail_rows("m", "plain", scored)
    by_key = {(r["split"], r["kind"], r["image_type"], r["metric"]): r for r in rows}
    leak = by_key[("forget", "image_memory", "all", "leak_rate")]
    assert leak["value"] == 0.5 and leak["n"] == 2 and leak["higher_is_better"] is False
    assert by_key[("forget", "image_memory", "portrait", "leak_rate")]["value"] == 0.5
    assert by_key[("retain", "image_memory", "all", "meaningfulness")]["value"] == 0.5
    composite = {r["metric"]: r for r in rows if r["kind"] == "composite"}
    # overall memory = mean(retain recall 1.0, 1 - forget leak 0.5) = 0.75
    assert composite["overall_memory"]["value"] == pytest.approx(0.75)
    # overall understanding = mean(forget 1.0, retain 0.5) = 0.75
    assert composite["overall_image_understanding"]["value"] == pytest.approx(0.75)
    assert composite["overall_meaningful"]["value"] == pytest.approx(5 / 6)
    assert all(r["model"] == "m" and r["phrasing"] == "heldout" for r in rows)
    assert all(r["probe"] == "plain" for r in rows)


def test_attack_rows_pool_over_kinds_and_report_each_group() -> None:
    image, text = _q("image_memory", "p1"), _q("text_memory", "p1")
    scored = [
        Scored(image, "forget", "x", {"leak_rate": 1.0}, group="seed 0"),
        Scored(text, "forget", "x", {"leak_rate": 0.0}, group="seed 0"),
        Scored(text, "forget", "x", {"leak_rate": 1.0}, group="seed 1"),
        Scored(_q("text_memory", "p2"), "retain", "x", {"recall": 1.0}, group="seed 1"),
    ]
    rows = {(r["split"], r["kind"]): r for r in pooled_rows("m", "relearn", scored)}
    pooled = rows[("forget", "all")]
    assert pooled["value"] == pytest.approx(2 / 3) and pooled["n"] == 3
    assert pooled["per_group"] == {"seed 0": 0.5, "seed 1": 1.0}
    assert rows[("forget", "text_memory")]["value"] == 0.5
    assert "per_group" not in rows[("forget", "text_memory")]  # detail rows carry no groups
    assert rows[("retain", "all")]["value"] == 1.0
    assert all(r["probe"] == "relearn" and r["view"] == "all" for r in rows.values())


def test_likelihood_off_skips_teacher_forcing_and_changes_nothing_else(
    tiny: tuple, mini_world: World, tmp_path: Path
) -> None:
    import dataclasses

    from smfa.eval.plain import Plain
    from tests.conftest import attack_session

    def answers(likelihood: bool) -> list:  # type: ignore[type-arg]
        session = attack_session(*tiny, mini_world, [], [], tmp_path, max_new_tokens=3)
        part = dataclasses.replace(VALIDATION, likelihood=likelihood)
        session.ask = dataclasses.replace(session.ask, slice=part)
        return [score(a, 0.6) for a in Plain().ask(session)]

    full, fast = answers(True), answers(False)
    assert [s.prediction for s in full] == [s.prediction for s in fast]
    forced = {"answer_probability", "mc_accuracy"}
    memory = [i for i, s in enumerate(full) if s.question.kind == "image_memory"]
    assert memory and all(forced <= set(full[i].scores) for i in memory)
    assert not any(forced & set(s.scores) for s in fast)
    for a, b in zip(full, fast, strict=True):
        assert {k: v for k, v in a.scores.items() if k not in forced} == b.scores
