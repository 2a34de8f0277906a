"""MLLMU-Bench as published, end to end at tiny settings: 8 of the sample's real profiles are
imported from the hub's parquet files, a vanilla is trained on them, VERA unlearns the published
forget_15 people (2 of the 8), and the one evaluation measures both on the reported slice of
forget_10 (4 of the 8: fair multiple choice then has up to 3 other forget people's values to
offer)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from smfa.data.format import load_world
from smfa.methods.vera_data import alternatives
from smfa.protocol.questions import forget_questions

from .test_cli import QUICK, smfa
from .test_import_mllmu_hub import SAMPLE

pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason="the MLLMU-Bench sample is absent")

# forget_10's 124, 309, 321 and 361 (309 is also forget_5's, 321 and 361 forget_15's), and four
# people retained at every ratio.
PEOPLE = ("124", "309", "321", "361", "001", "007", "013", "034")
FAST_UNLEARN = [
    *("--set", "unlearn.epochs=1", "--set", "unlearn.retain_budget=6"),
    *("--set", "unlearn.batch_size=8", "--set", "erasure.measure=false"),
    # VERA's value erasure alone (its anchors, rehearsal and extra stand-ins are tested in
    # test_method_vera.py): a third of its default cost here.
    *("--set", "methods.vera.epochs=1", "--set", "methods.vera.rehearse=0"),
    *("--set", "methods.vera.anchors=false", "--set", "methods.vera.memory_anchors=false"),
    *("--set", "methods.vera.alternatives=1", "--set", "methods.vera.live=1"),
    *("--set", "methods.vera.rank=16"),
]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mllmu")
    work = ["--set", f"workdir={root / 'work'}"]
    ids = root / "ids.txt"
    ids.write_text("\n".join(PEOPLE) + "\n")
    smfa("import", "mllmu", SAMPLE, root / "world", "--ids", ids, "--few-shot", "6")
    world = root / "world"
    vanilla = smfa("train", "--world", world, *QUICK, *work).stdout.strip().splitlines()[-1]
    outs = {"world": world, "vanilla": Path(vanilla)}
    smfa(
        "unlearn", "--world", world, "--model", vanilla, "--out", root / "vera",
        "--method", "vera", "--ratio", "15", *FAST_UNLEARN, *QUICK, *work,
    )  # fmt: skip
    outs["vera"] = root / "vera" / "model"
    smfa(
        "eval", "--world", world, "--out", root / "eval", "--forget-ratio", "10",
        "--model", f"vanilla={vanilla}", "--model", f"vera={outs['vera']}", *QUICK, *work,
        "--set", "eval.attacks=fair_mc", "--set", "eval.slice=reported",
    )  # fmt: skip
    outs["eval"] = root / "eval"
    return outs


def test_the_import_keeps_the_published_forget_lists(pipeline: dict[str, Path]) -> None:
    world = load_world(pipeline["world"])
    assert sorted(world.people) == sorted(PEOPLE)
    # The hub's names, whatever their share of the 8 people.
    assert world.splits.forget == {5: ("309",), 10: ("124", "309", "321", "361"),
                                   15: ("321", "361")}  # fmt: skip
    assert [q for q in world.questions if q.kind == "unknown_person"]  # a vanilla learns to refuse


def test_vera_erases_free_text_values_of_the_real_profiles(pipeline: dict[str, Path]) -> None:
    record = json.loads((pipeline["vera"].parent / "run.json").read_text())
    world = load_world(pipeline["world"])
    forget = set(world.splits.forget[15])
    asked = forget_questions(world, forget)  # D_f: both training wordings, both forms
    assert record["request"]["forget_questions"] == len(asked)
    # Every train-phrasing forget answer states its value (a span, or the whole answer) ...
    assert asked and all(q.value and q.value in q.answer for q in asked)
    # ... and VERA erases each one another forget person's value of its type can stand in for
    # (its few-shot retain questions may add a few more).
    others: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for q in asked:
        others[q.attribute_type].append((q.subject or "", q.value))
    standing = sum(bool(alternatives(q, 1, 0, others)) for q in asked)
    # 100 of 112 here: a value of a type that only one of the two people states has none.
    assert standing >= 0.85 * len(asked)
    assert standing <= record["stats"]["erasable"] <= len(asked), record["stats"]


def test_every_model_is_measured_on_forget_and_retain(pipeline: dict[str, Path]) -> None:
    results = json.loads((pipeline["eval"] / "results.json").read_text())
    rows = results["rows"]
    for model in ("vanilla", "vera"):
        mine = [r for r in rows if r["model"] == model and r["probe"] == "plain"]
        splits = {r["split"] for r in mine}
        assert {"forget", "retain"} <= splits, (model, splits)
        assert all(r["n"] > 0 for r in mine)


def test_fair_mc_offers_no_value_of_the_persons_own(pipeline: dict[str, Path]) -> None:
    results = json.loads((pipeline["eval"] / "results.json").read_text())
    chance = [r for r in results["rows"] if r["probe"] == "fair_mc" and r["metric"] == "chance"
              and r["split"] == "forget" and r["kind"] == "all"]  # fmt: skip
    # Up to 3 distractors from the other forget people of the same type and form: chance is
    # between 1/4 (every question offered 4 options) and 1/2 (at least one distractor).
    assert chance and all(0.25 <= r["value"] <= 0.5 for r in chance), chance
