"""The world reader: a clean world loads, and every kind of damage names its file, line and key."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smfa.config import WorldConfig
from smfa.data.format import Person, Question, World, load_world
from smfa.errors import DataFormatError, SmfaError
from smfa.world.build import build_world, write_manifest

MINI = WorldConfig(
    people=12,
    image_size=32,
    train_scenes=8,
    validation_scenes=3,
    heldout_scenes=3,
    unknown_people=2,
    few_shot_retain=6,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_world(tmp_path_factory.mktemp("w") / "world", MINI)


@pytest.fixture
def world(built: Path, tmp_path: Path) -> Path:
    """A private copy to damage."""
    return Path(shutil.copytree(built, tmp_path / "world"))


def _edit_jsonl(path: Path, line: int, change: Callable[[dict[str, Any]], None]) -> None:
    lines = path.read_text().splitlines()
    row = json.loads(lines[line - 1])
    change(row)
    lines[line - 1] = json.dumps(row)
    path.write_text("\n".join(lines) + "\n")


def _edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _fails(root: Path, pattern: str, verify_hashes: bool = False) -> None:
    with pytest.raises(DataFormatError, match=pattern):
        load_world(root, verify_hashes=verify_hashes)


def test_clean_world_loads(built: Path) -> None:
    world = load_world(built)
    assert isinstance(world, World) and len(world.people) == 12 and len(world.scenes) == 14
    assert world.world_hash == json.loads((built / "manifest.json").read_text())["world_hash"]
    assert world.ratios == (5, 10, 15)
    forget = world.forget_people(15)
    assert all(isinstance(p, Person) for p in forget) and len(forget) == 2
    assert {p.id for p in forget} | {p.id for p in world.retain_people(15)} == set(world.people)
    probes = world.questions_where(kind="text_memory", probe=True)
    assert probes and all(isinstance(q, Question) and q.probe for q in probes)
    assert isinstance(probes[0].distractors, tuple)
    person = world.people["p0001"]
    assert world.image_path(person.portrait.train).is_file()
    assert world.splits.validation["phrasing"] == "validation"
    with pytest.raises(SmfaError, match="no field colour"):
        world.questions_where(colour="red")
    with pytest.raises(SmfaError, match="ratio 7"):
        world.forget_people(7)


def test_manifest_problems(world: Path, tmp_path: Path) -> None:
    _fails(tmp_path / "nowhere", "no such world directory")
    _edit_json(world / "manifest.json", lambda m: m.update(version=2))
    _fails(world, "version 2 is not supported")
    _edit_json(world / "manifest.json", lambda m: m.update(version=1, format="other"))
    _fails(world, "format is 'other'")
    (world / "manifest.json").unlink()
    _fails(world, "no manifest.json")


def test_bad_json_line_names_file_and_line(world: Path) -> None:
    path = world / "questions.jsonl"
    lines = path.read_text().splitlines()
    lines[11] = '{"id": "q000012", oops'
    path.write_text("\n".join(lines) + "\n")
    _fails(world, r"^questions\.jsonl line 12: invalid JSON: ")


@pytest.mark.parametrize(
    ("line", "change", "message"),
    [
        (3, lambda r: r.pop("kind"), r"questions\.jsonl line 3: missing key 'kind'"),
        (
            5,
            lambda r: r.update(probe="yes"),
            r"line 5: key 'probe' must be true or false, got a str",
        ),
        (6, lambda r: r.update(kind="memory"), r"line 6: key 'kind' is 'memory'; expected one of"),
        (7, lambda r: r.update(view="sideways"), r"line 7: key 'view' is 'sideways'.* or null"),
        (8, lambda r: r.update(extra=1), r"line 8: unknown key 'extra'"),
        (9, lambda r: r.update(distractors="red"), r"line 9: key 'distractors' must be a list"),
        (10, lambda r: r.update(subject="p9999"), r"line 10: subject 'p9999' is not a person"),
        (
            11,
            lambda r: r.update(id="q000001"),
            r"line 11: duplicate id 'q000001' \(first in "
            r"questions\.jsonl line 1\)",
        ),
        (
            12,
            lambda r: r.update(image="../outside.png"),
            r"line 12: key 'image' must be a relative",
        ),
        (
            13,
            lambda r: r.update(answer_type="currency"),
            r"line 13: key 'answer_type' is 'currency'",
        ),
    ],
)
def test_bad_question_fields(
    world: Path, line: int, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    _edit_jsonl(world / "questions.jsonl", line, change)
    _fails(world, message)


def test_bad_people_and_scenes(world: Path, built: Path) -> None:
    _edit_jsonl(world / "people.jsonl", 2, lambda r: r.update(attributes=["x"]))
    _fails(world, r"people\.jsonl line 2: key 'attributes' must be an object of strings")
    shutil.copy(built / "people.jsonl", world / "people.jsonl")
    _edit_jsonl(world / "people.jsonl", 3, lambda r: r.update(id="p0001"))
    _fails(world, r"people\.jsonl line 3: duplicate id 'p0001'")
    shutil.copy(built / "people.jsonl", world / "people.jsonl")
    _edit_jsonl(world / "people.jsonl", 4, lambda r: r["portrait"].pop("heldout"))
    _fails(world, r"people\.jsonl line 4, key 'portrait': missing key 'heldout'")
    shutil.copy(built / "people.jsonl", world / "people.jsonl")
    _edit_jsonl(world / "scenes.jsonl", 2, lambda r: r.update(split="test"))
    _fails(world, r"scenes\.jsonl line 2: key 'split' is 'test'")
    shutil.copy(built / "scenes.jsonl", world / "scenes.jsonl")
    _edit_jsonl(world / "scenes.jsonl", 1, lambda r: r["objects"][0].pop("colour"))
    _fails(world, r"scenes\.jsonl line 1, objects\[0\]: missing key 'colour'")


def test_missing_and_broken_images(world: Path) -> None:
    (world / "images/portraits/p0002_heldout.png").unlink()
    _fails(
        world,
        r"image images/portraits/p0002_heldout\.png \(named in people\.jsonl line 2.*"
        r"is missing",
    )
    (world / "images/portraits/p0002_heldout.png").write_bytes(b"\x89PNG not really")
    _fails(world, r"image images/portraits/p0002_heldout\.png .* is not a readable image")


def test_hash_mismatch_names_the_file(world: Path) -> None:
    _edit_jsonl(world / "people.jsonl", 1, lambda r: r.update(name="Someone Else"))
    assert load_world(world, verify_hashes=False).people["p0001"].name == "Someone Else"
    _fails(world, r"hash mismatch for people\.jsonl", verify_hashes=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: s["retain"]["10"].append(s["forget"]["10"][0]),
            r"splits\.json: person 'p\d+' is in both forget and retain at ratio 10",
        ),
        (lambda s: s["forget"].update({"5": []}), r"splits\.json: forget set for ratio 5 is empty"),
        (
            lambda s: s["forget"]["15"].append("p0999"),
            r"forget id 'p0999' at ratio 15 is not a person",
        ),
        (lambda s: s["forget"].update(half=["p0001"]), r"forget key 'half' is not a whole-number"),
        (lambda s: s.update(forget={}, retain={}), r"key 'forget' holds no ratio"),
        (lambda s: s["few_shot_retain"].append("q999999"), r"few_shot_retain id 'q999999'"),
    ],
)
def test_bad_splits(world: Path, change: Callable[[dict[str, Any]], None], message: str) -> None:
    _edit_json(world / "splits.json", change)
    _fails(world, message)


def test_few_shot_about_a_forgotten_person_is_refused(world: Path) -> None:
    forgotten = json.loads((world / "splits.json").read_text())["forget"]["15"][0]
    qid = next(q.id for q in load_world(world).questions if q.subject == forgotten)
    _edit_json(world / "splits.json", lambda s: s["few_shot_retain"].append(qid))
    _fails(world, rf"few_shot_retain question '{qid}' is about '{forgotten}'")


def test_a_hand_made_world_with_other_counts_loads(world: Path) -> None:
    """Users bring their own people: no scenes, two people, their own attributes."""
    keep = {"p0001", "p0002"}
    people = [
        r
        for r in map(json.loads, (world / "people.jsonl").read_text().splitlines())
        if r["id"] in keep
    ]
    people[0]["attributes"] = {"favourite_food": "plum soup"}
    questions = [
        r
        for r in map(json.loads, (world / "questions.jsonl").read_text().splitlines())
        if r["subject"] in keep
    ]
    (world / "people.jsonl").write_text("".join(json.dumps(r) + "\n" for r in people))
    (world / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in questions))
    (world / "scenes.jsonl").write_text("")
    shutil.rmtree(world / "images/scenes")
    (world / "splits.json").write_text(
        json.dumps(
            {"forget": {"50": ["p0001"]}, "retain": {"50": ["p0002"]}, "few_shot_retain": []}
        )
    )
    write_manifest(world)
    loaded = load_world(world)
    assert loaded.ratios == (50,) and not loaded.scenes and len(loaded.people) == 2
    assert loaded.people["p0001"].attributes == {"favourite_food": "plum soup"}


def test_tasks_are_optional_typed_and_checked(world: Path) -> None:
    assert load_world(world).tasks == ()  # a generated world has none
    task = {
        "id": "t1", "subject": "p0001", "source": "test", "task": "classification",
        "form": "image", "question": "What is this person's job?",
        "options": {"A": "pilot", "B": "chef"}, "correct": "B", "ground_truth": "chef",
        "image": "images/portraits/p0001_heldout.png",
    }  # fmt: skip
    cloze = {**task, "id": "t2", "task": "cloze", "form": "text", "question": "A __ cooks.",
             "options": None, "correct": None, "image": None}  # fmt: skip
    (world / "tasks.jsonl").write_text(json.dumps(task) + "\n" + json.dumps(cloze) + "\n")
    with pytest.raises(DataFormatError, match=r"manifest\.json does not list tasks\.jsonl"):
        load_world(world)
    write_manifest(world)
    first, second = load_world(world).tasks
    assert (first.options, first.correct, first.image) == (
        {"A": "pilot", "B": "chef"}, "B", "images/portraits/p0001_heldout.png"
    )  # fmt: skip
    assert (second.task, second.options, second.correct, second.image) == ("cloze", {}, None, None)
    _edit_jsonl(world / "tasks.jsonl", 1, lambda row: row.update(correct="A"))
    _fails(world, r"tasks\.jsonl line 1: key 'ground_truth' must be the text of the correct")
    _edit_jsonl(world / "tasks.jsonl", 1, lambda row: row.update(correct="B", image=None))
    _fails(world, r"tasks\.jsonl line 1: an image task needs an image")
    _edit_jsonl(world / "tasks.jsonl", 2, lambda row: row.update(options={"A": "x"}))
    _edit_jsonl(world / "tasks.jsonl", 1, lambda row: row.update(image=task["image"]))
    _fails(world, r"tasks\.jsonl line 2: key 'options' must be null for a cloze task")
    _edit_jsonl(world / "tasks.jsonl", 2, lambda row: row.update(options=None, subject="p9"))
    _fails(world, r"tasks\.jsonl line 2: subject 'p9' is not a person")
