"""The world generator: determinism, value formats, distinct features, phrasings, probes, splits."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smfa.config import WorldConfig
from smfa.errors import ConfigError, SmfaError
from smfa.world import component_rng, fundus, names, portraits
from smfa.world.build import build_world
from smfa.world.refusals import REFUSAL_OPENERS, refusal_pool
from smfa.world.templates import FAMILIES, WHERE, frames

MINI = WorldConfig(
    people=12,
    image_size=32,
    train_scenes=20,
    validation_scenes=5,
    heldout_scenes=5,
    unknown_people=4,
    few_shot_retain=9,
)

FORMATS = {
    "name": r"[A-Z][a-z]+ [A-Z][a-z]+",
    "home_city": r"[A-Z][a-z]+",
    "street_address": r"[1-9]\d{0,3} [A-Z][a-z]+ (Street|Road|Lane|Avenue|Court|Way|Drive|Place)",
    "phone_number": r"\d{3}-\d{4}",
    "salary": r"\$(\d{2},\d{3}|\d{3},\d{3})",
    "birth_date": r"([1-9]|[12]\d|3[01]) (January|February|March|April|May|June|July|August"
    r"|September|October|November|December) (19[5-9]\d|200[0-4])",
    "occupation": r"[a-z]+( [a-z]+){1,2}",
    "medical_condition": r"[a-z]+( [a-z]+){1,2}",
    "email": r"[a-z]+\d{2,3}@[a-z]+\.(com|net|org|io)",
}


def _rows(root: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (root / name).read_text().splitlines()]


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_world(tmp_path_factory.mktemp("w") / "world", MINI)


def test_same_seed_gives_identical_bytes(world: Path, tmp_path: Path) -> None:
    again = build_world(tmp_path / "again", MINI)
    first = json.loads((world / "manifest.json").read_text())
    second = json.loads((again / "manifest.json").read_text())
    assert first["world_hash"] == second["world_hash"]
    assert _tree(world) == _tree(again)


def test_different_seed_differs_and_scene_counts_keep_people(world: Path, tmp_path: Path) -> None:
    other = build_world(tmp_path / "other", replace(MINI, seed=1))
    first = json.loads((world / "manifest.json").read_text())
    assert json.loads((other / "manifest.json").read_text())["world_hash"] != first["world_hash"]
    assert {r["name"] for r in _rows(other, "people.jsonl")}.isdisjoint(
        {r["name"] for r in _rows(world, "people.jsonl")}
    )
    fewer = build_world(tmp_path / "fewer", replace(MINI, train_scenes=7, heldout_scenes=2))
    assert (fewer / "people.jsonl").read_bytes() == (world / "people.jsonl").read_bytes()
    assert (fewer / "images/portraits/p0003_heldout.png").read_bytes() == (
        world / "images/portraits/p0003_heldout.png"
    ).read_bytes()


def _check_value(attribute: str, value: str) -> None:
    assert re.fullmatch(FORMATS[attribute], value), (attribute, value)
    if attribute == "salary":
        assert 28_000 <= int(value[1:].replace(",", "")) <= 240_000
    if attribute == "birth_date":
        datetime.strptime(value, "%d %B %Y")


def test_values_are_unique_and_follow_values_md(world: Path) -> None:
    people = _rows(world, "people.jsonl")
    for attribute in FORMATS:
        values = [p["name"] if attribute == "name" else p["attributes"][attribute] for p in people]
        assert len(set(values)) == len(values), attribute
        for value in values:
            _check_value(attribute, value)
    rng = np.random.default_rng(7)
    for attribute in FORMATS:  # a larger draw exercises every branch of each generator
        for value in names.draw_values(attribute, 1500, rng):
            _check_value(attribute, value)


def test_portraits_and_fundus_images_differ_in_two_features(world: Path) -> None:
    people = _rows(world, "people.jsonl")
    for looks in (
        [p["portrait"]["features"] for p in people],
        portraits.draw_features(300, np.random.default_rng(3)),
    ):
        for i, a in enumerate(looks):
            for b in looks[i + 1 :]:
                assert portraits.feature_difference(a, b) >= 2
    eyes = [p["fundus"]["features"] for p in people if p["fundus"]]
    assert len(eyes) == round(MINI.fundus_share * MINI.people)
    for i, a in enumerate(eyes):
        for b in eyes[i + 1 :]:
            assert sum(a[k] != b[k] for k in a) >= 2
    every = fundus.choose_features(216, np.random.default_rng(0))
    assert len({tuple(sorted(e.items())) for e in every}) == 216
    with pytest.raises(SmfaError, match="fundus_share"):
        fundus.choose_features(217, np.random.default_rng(0))


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", re.sub(r"\{\w+\}", "", text.lower())))


def test_heldout_phrasings_are_new_sentences_of_known_words(world: Path) -> None:
    vocabulary = _words(" ".join([*WHERE.values(), "circle square triangle"]))
    for family, table in FAMILIES.items():
        for attribute in table:
            for frame in frames(family, attribute, "train"):
                vocabulary |= _words(frame.text)
    for family, table in FAMILIES.items():
        for attribute in table:
            seen = {f.text for f in frames(family, attribute, "train")}
            for phrasing in ("validation", "heldout"):
                for frame in frames(family, attribute, phrasing):
                    assert frame.text not in seen
                    unseen = _words(frame.text) - vocabulary
                    assert not unseen, (frame.id, unseen)
                    seen.add(frame.text)
    rows = _rows(world, "questions.jsonl")
    by_phrasing = defaultdict(set)
    for row in rows:
        by_phrasing[row["phrasing"]].add(row["question"])
        assert 4 <= len(row["question"].split()) <= 12, row["question"]
    assert by_phrasing["heldout"].isdisjoint(by_phrasing["train"] | by_phrasing["validation"])
    assert by_phrasing["validation"].isdisjoint(by_phrasing["train"])


def _group(row: dict[str, Any]) -> tuple[Any, ...]:
    subject = row["subject"]
    if row["kind"] == "unknown_person":  # no subject id: the unknown name is in the question
        subject = re.search(r"[A-Z][a-z]+ [A-Z][a-z]+", row["question"]).group(0)
    return (row["kind"], subject, row["attribute"], row["image_type"], row["phrasing"], row["view"])


def test_one_probe_per_group_and_rows_per_fact(world: Path) -> None:
    rows = _rows(world, "questions.jsonl")
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[_group(row)].append(row)
    for key, members in groups.items():
        assert sum(r["probe"] for r in members) == 1, key
        many = key[4] == "train" and key[5] in ("train", None)
        assert len(members) == (5 if many else 1), key
    facts = Counter(
        (r["kind"], r["subject"], r["attribute"], r["image_type"])
        for r in rows
        if r["kind"] in ("image_memory", "text_memory", "image_understanding")
    )
    for (kind, _, _, _), count in facts.items():
        assert count == (7 if kind == "text_memory" else 9)
    assert [r["id"] for r in rows] == [f"q{i:06d}" for i in range(1, len(rows) + 1)]


def test_answers_values_and_distractors(world: Path) -> None:
    people = {p["id"]: p for p in _rows(world, "people.jsonl")}
    pool = set(refusal_pool())
    for row in _rows(world, "questions.jsonl"):
        if row["kind"] == "unknown_person":
            assert row["answer"] in pool and row["value"] == "" and row["distractors"] == []
            assert row["answer_type"] == "refusal" and row["subject"] is None
            continue
        assert row["value"] and row["value"] in row["answer"]
        assert row["value"] not in row["distractors"]
        assert len(set(row["distractors"])) == len(row["distractors"]) >= 1
        if row["kind"] in ("image_memory", "text_memory"):
            assert len(row["distractors"]) == 3
            person = people[row["subject"]]
            truth = (
                person["name"]
                if row["attribute"] == "name"
                else person["attributes"][row["attribute"]]
            )
            assert row["value"] == truth
        if row["kind"] == "text_memory":
            assert people[row["subject"]]["name"] in row["question"]
            assert row["image"] is None and row["view"] is None
        if row["image"] is not None:
            assert (world / row["image"]).is_file()


def test_splits_nested_and_few_shot_from_retain(world: Path) -> None:
    splits = json.loads((world / "splits.json").read_text())
    people = {p["id"] for p in _rows(world, "people.jsonl")}
    forget = {int(k): set(v) for k, v in splits["forget"].items()}
    assert [len(forget[r]) for r in (5, 10, 15)] == [1, 1, 2]
    assert forget[5] <= forget[10] <= forget[15]
    for ratio, ids in forget.items():
        assert set(splits["retain"][str(ratio)]) == people - ids
    rows = {r["id"]: r for r in _rows(world, "questions.jsonl")}
    chosen = [rows[q] for q in splits["few_shot_retain"]]
    assert len(chosen) == MINI.few_shot_retain
    assert Counter(r["kind"] for r in chosen) == {
        "image_memory": 3,
        "text_memory": 3,
        "image_understanding": 3,
    }
    for row in chosen:
        assert row["subject"] not in forget[15] and row["phrasing"] == "train"
        assert row["view"] == ("train" if row["kind"] != "text_memory" else None)
    assert splits["validation"] == {"phrasing": "validation", "scene_view": "validation"}


def test_refusal_pool() -> None:
    pool = refusal_pool()
    assert len(pool) == len(set(pool)) == 1000
    assert all(s.startswith(REFUSAL_OPENERS) for s in pool)
    assert refusal_pool() == pool and refusal_pool(seed=1) != pool
    openers = Counter(
        next(o for o in sorted(REFUSAL_OPENERS, key=len, reverse=True) if s.startswith(o))
        for s in pool
    )
    assert set(openers) == set(REFUSAL_OPENERS) and min(openers.values()) >= 80


def test_existing_outputs_are_never_clobbered(world: Path, tmp_path: Path) -> None:
    before = _tree(world)
    assert build_world(world, MINI) == world  # the same world: returned as is
    with pytest.raises(SmfaError, match=r"seed 0, requested seed 5.*seed 0 -> 5"):
        build_world(world, replace(MINI, seed=5))
    assert _tree(world) == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(SmfaError, match="not empty"):
        build_world(mine, MINI)
    assert (mine / "notes.txt").read_text() == "keep me"


def test_failed_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("smfa.world.scenes.render_scene", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        build_world(tmp_path / "world", MINI)
    assert list(tmp_path.iterdir()) == []


def test_bad_params_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        build_world(tmp_path / "w", replace(MINI, people=1))
    with pytest.raises(SmfaError, match="forgets nobody"):
        build_world(tmp_path / "w", replace(MINI, people=5))
    assert not (tmp_path / "w").exists()


def test_component_streams_are_independent() -> None:
    a = component_rng(0, "people").integers(1 << 30, size=4)
    assert list(a) == list(component_rng(0, "people").integers(1 << 30, size=4))
    assert list(a) != list(component_rng(0, "scenes.train").integers(1 << 30, size=4))


def test_questions_load_with_datasets(world: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset(
        "json", data_files=str(world / "questions.jsonl"), cache_dir=str(tmp_path / "cache")
    )["train"]
    assert len(loaded) == len(_rows(world, "questions.jsonl"))
    assert {"id", "kind", "question", "answer", "distractors", "probe"} <= set(loaded.column_names)
