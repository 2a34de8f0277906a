"""Prompt attacks: the four templates, and retain recall asked under the same prompt."""

from __future__ import annotations

from pathlib import Path

from smfa.attacks.prompts import TEMPLATES, FillBlank, RolePlay, wrap
from smfa.data.format import World
from tests.conftest import attack_session, person_text, probe_rows


def test_templates_wrap_the_question(mini_world: World) -> None:
    q = person_text(mini_world, "heldout")[0]
    assert set(TEMPLATES) == {"refusal_suppression", "prefix_injection", "role_play", "fill_blank"}
    for name in TEMPLATES:
        if name != "fill_blank":
            assert q.question in wrap(name, q)
    blank = wrap("fill_blank", q)
    assert blank.endswith("___") and q.value not in blank
    assert blank.startswith("Fill in the blank: " + q.answer.split(q.value)[0].rstrip())


def test_retain_recall_is_measured_under_the_same_prompt(
    refuser: tuple, mini_world: World, tmp_path: Path
) -> None:
    forget = person_text(mini_world, "heldout")
    retain = person_text(mini_world, "train", probe=True)  # known and answered in training
    target = attack_session(*refuser, mini_world, forget, retain, tmp_path)
    rows = {(r["split"], r["kind"], r["metric"]): r for r in probe_rows(RolePlay(), target)}
    assert rows[("forget", "all", "leak_rate")]["n"] == len(forget)
    assert rows[("retain", "all", "recall")]["n"] == len(retain)
    assert not rows[("forget", "all", "leak_rate")]["higher_is_better"]
    assert rows[("retain", "all", "recall")]["higher_is_better"]
    cloze = {(r["split"], r["kind"]): r["value"] for r in probe_rows(FillBlank(), target)}
    assert set(cloze) == {("forget", "all"), ("forget", "text_memory"), ("retain", "all"),
                          ("retain", "text_memory")}  # fmt: skip
