"""Read and validate a world directory (docs/data-format.md) into frozen, typed records.

`load_world` checks everything the rest of smfa relies on and raises `DataFormatError` naming the
file, line and key of the first problem it finds. It checks the format, never the generator's
counts, so a world a user writes by hand loads as long as it follows the documented format.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

from PIL import Image

from smfa.data.records import (
    ImageSet,
    Person,
    Question,
    Scene,
    SceneObject,
    Splits,
    Task,
    World,
)
from smfa.errors import DataFormatError
from smfa.io import canonical_json, sha256_file, sha256_text
from smfa.vocab import IMAGE_VIEWS, PERSON_KINDS, PHRASINGS, PICTURED_KINDS, QUESTION_KINDS, Kind
from smfa.world.build import FORMAT_NAME, FORMAT_VERSION, MANIFEST
from smfa.world.questions import ANSWER_TYPES, FIELDS, IMAGE_TYPES
from smfa.world.scenes import SPLITS as SCENE_SPLITS

DATA_FILES = ("people.jsonl", "scenes.jsonl", "questions.jsonl", "splits.json")
TASKS_FILE = "tasks.jsonl"  # optional: a benchmark's own evaluation items
TASK_FIELDS = (
    "id", "subject", "source", "task", "form", "question", "options", "correct",
    "ground_truth", "image",
)  # fmt: skip
TASK_SOURCES = ("profile", "test", "celebrity")
TASK_KINDS = ("classification", "generation", "cloze")
TASK_FORMS = ("image", "text")
DEFAULT_VALIDATION = {"phrasing": "validation", "scene_view": "validation"}
# The longest question or answer a world may hold (docs/data-format.md). Every sequence is
# padded to its batch's longest, so one runaway text costs the memory of a whole batch of them
# (a 6,000-word question took 11 GB); real benchmark questions and answers stay far below.
MAX_TEXT_CHARS = 2000
# The most pixels an image may have (docs/data-format.md): the processor scales every image
# down to the model's input anyway, and decoding a 10000x10000 one takes 300 MB per copy.
MAX_IMAGE_SIDE = 4096
MAX_IMAGE_PIXELS = MAX_IMAGE_SIDE * MAX_IMAGE_SIDE


def image_too_large(size: tuple[int, int]) -> str | None:
    """Why an image of `size` (width, height) is refused, or None."""
    width, height = size
    if width * height <= MAX_IMAGE_PIXELS:
        return None
    return (
        f"is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS:,} "
        f"({MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}) an image may have; scale it down"
    )


__all__ = [
    "ImageSet",
    "Person",
    "Question",
    "Scene",
    "SceneObject",
    "Splits",
    "Task",
    "World",
    "load_world",
]


_JSON_KINDS = {
    str: "a string",
    bool: "true or false",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


def _kind_of(value: Any) -> str:
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _first_non_string(values: Any) -> str:
    bad = next(v for v in values if not isinstance(v, str))
    return f"an item that is {_kind_of(bad)}"


class _Fields:
    """One JSON object and where it came from, with typed getters that explain failures."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def fail(self, message: str) -> NoReturn:
        raise DataFormatError(f"{self.where}: {message}")

    def only(self, keys: tuple[str, ...]) -> None:
        for key in self.data:
            if key not in keys:
                self.fail(f"unknown key '{key}'; expected keys are {', '.join(keys)}")

    def raw(self, key: str) -> Any:
        if key not in self.data:
            self.fail(f"missing key '{key}'")
        return self.data[key]

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            self.fail(f"key '{key}' must be a string, got {_kind_of(value)}")
        return value

    def short_text(self, key: str, limit: int = MAX_TEXT_CHARS) -> str:
        value = self.text(key)
        if len(value) > limit:
            self.fail(f"key '{key}' is {len(value):,} characters long; the limit is {limit:,}")
        return value

    def optional_text(self, key: str) -> str | None:
        return None if self.raw(key) is None else self.text(key)

    def choice(self, key: str, options: tuple[str, ...], nullable: bool = False) -> str | None:
        value = self.optional_text(key) if nullable else self.text(key)
        if value is not None and value not in options:
            self.fail(
                f"key '{key}' is '{value}'; expected one of {', '.join(options)}"
                + (" or null" if nullable else "")
            )
        return value

    def flag(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            self.fail(f"key '{key}' must be true or false, got {_kind_of(value)}")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.raw(key)
        if not isinstance(value, list):
            self.fail(f"key '{key}' must be a list of strings, got {_kind_of(value)}")
        if not all(isinstance(v, str) for v in value):
            self.fail(f"key '{key}' must be a list of strings, got {_first_non_string(value)}")
        return tuple(value)

    def mapping(self, key: str) -> dict[str, str]:
        value = self.raw(key)
        if not isinstance(value, dict):
            self.fail(f"key '{key}' must be an object of strings, got {_kind_of(value)}")
        if not all(isinstance(v, str) for v in value.values()):
            self.fail(
                f"key '{key}' must be an object of strings, got {_first_non_string(value.values())}"
            )
        return dict(value)

    def child(self, key: str) -> _Fields:
        value = self.raw(key)
        if not isinstance(value, dict):
            self.fail(f"key '{key}' must be an object, got {_kind_of(value)}")
        return _Fields(value, f"{self.where}, key '{key}'")


def _lines(root: Path, name: str) -> Iterator[_Fields]:
    path = root / name
    if not path.is_file():
        raise DataFormatError(f"{path}: missing; a world holds {', '.join(DATA_FILES)}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataFormatError(f"{name}: not UTF-8 text ({error})") from error
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataFormatError(f"{name} line {number}: invalid JSON: {error}") from error
        except RecursionError:
            raise DataFormatError(
                f"{name} line {number}: invalid JSON: nested too deeply"
            ) from None
        if not isinstance(value, dict):
            raise DataFormatError(
                f"{name} line {number}: expected a JSON object, got {_kind_of(value)}"
            )
        yield _Fields(value, f"{name} line {number}")


def _json_object(root: Path, name: str) -> dict[str, Any]:
    path = root / name
    if not path.is_file():
        raise DataFormatError(f"{path}: missing; a world holds {MANIFEST}, {', '.join(DATA_FILES)}")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataFormatError(f"{name}: invalid JSON: {error}") from error
    except RecursionError:
        raise DataFormatError(f"{name}: invalid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise DataFormatError(f"{name}: expected a JSON object, got {_kind_of(value)}")
    return value


class _Images:
    """Every image path the world mentions, with the first place that mentions it."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def add(self, record: _Fields, key: str, rel: str) -> str:
        path = PurePosixPath(rel)
        if not rel or path.is_absolute() or ".." in path.parts or "\\" in rel:
            record.fail(f"key '{key}' must be a relative path inside the world, got '{rel}'")
        self.seen.setdefault(rel, record.where)
        return rel

    def check(self, root: Path) -> None:
        real_root = root.resolve()
        for rel, where in self.seen.items():
            path = root / rel
            if not path.is_file():
                raise DataFormatError(f"image {rel} (named in {where}) is missing")
            if not path.resolve().is_relative_to(real_root):  # a symlink out of the world
                raise DataFormatError(
                    f"image {rel} (named in {where}) leads outside the world, to "
                    f"{path.resolve()}; copy the file inside instead of linking it"
                )
            try:
                with warnings.catch_warnings():  # the size is bounded below, by our own limit
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    image = Image.open(path)
                with image:
                    size = image.size
                    if image_too_large(size) is None:  # never decode a huge one
                        image.verify()
            except Exception as error:  # PIL raises many types for a broken file
                raise DataFormatError(
                    f"image {rel} (named in {where}) is not a readable image: {error}"
                ) from error
            problem = image_too_large(size)
            if problem:
                raise DataFormatError(f"image {rel} (named in {where}) {problem}")


def _unique(ids: dict[str, str], record: _Fields, value: str) -> None:
    if value in ids:
        record.fail(f"duplicate id '{value}' (first in {ids[value]})")
    ids[value] = record.where


def _image_set(record: _Fields, images: _Images) -> ImageSet:
    record.only(("train", "heldout", "features"))
    return ImageSet(
        train=images.add(record, "train", record.text("train")),
        heldout=images.add(record, "heldout", record.text("heldout")),
        features=record.mapping("features"),
    )


def _people(root: Path, images: _Images) -> dict[str, Person]:
    people: dict[str, Person] = {}
    where: dict[str, str] = {}
    for record in _lines(root, "people.jsonl"):
        record.only(("id", "name", "attributes", "portrait", "fundus"))
        pid = record.text("id")
        _unique(where, record, pid)
        eye = None if record.raw("fundus") is None else _image_set(record.child("fundus"), images)
        people[pid] = Person(
            id=pid,
            name=record.text("name"),
            attributes=record.mapping("attributes"),
            portrait=_image_set(record.child("portrait"), images),
            fundus=eye,
        )
    return people


def _scene_object(record: _Fields, index: int) -> SceneObject:
    obj = record.data["objects"][index]
    if not isinstance(obj, dict):
        record.fail(f"objects[{index}] must be an object, got {_kind_of(obj)}")
    fields = _Fields(obj, f"{record.where}, objects[{index}]")
    fields.only(("shape", "colour", "position"))
    return SceneObject(fields.text("shape"), fields.text("colour"), fields.text("position"))


def _scenes(root: Path, images: _Images) -> dict[str, Scene]:
    scenes: dict[str, Scene] = {}
    where: dict[str, str] = {}
    for record in _lines(root, "scenes.jsonl"):
        record.only(("id", "split", "image", "objects"))
        sid = record.text("id")
        _unique(where, record, sid)
        if not isinstance(record.raw("objects"), list):
            record.fail(f"key 'objects' must be a list, got {_kind_of(record.data['objects'])}")
        objects = tuple(_scene_object(record, i) for i in range(len(record.data["objects"])))
        scenes[sid] = Scene(
            id=sid,
            split=str(record.choice("split", SCENE_SPLITS)),
            image=images.add(record, "image", record.text("image")),
            objects=objects,
        )
    return scenes


def _question(
    record: _Fields, people: dict[str, Person], scenes: dict[str, Scene], images: _Images
) -> Question:
    record.only(FIELDS)
    kind = str(record.choice("kind", QUESTION_KINDS))
    subject = record.optional_text("subject")
    if kind in PERSON_KINDS and subject not in people:
        record.fail(f"subject {subject!r} is not a person in people.jsonl")
    if kind == Kind.GENERAL_SCENE and subject not in scenes:
        record.fail(f"subject {subject!r} is not a scene in scenes.jsonl")
    if kind == Kind.UNKNOWN_PERSON and subject is not None:
        record.fail("key 'subject' must be null for an unknown_person question")
    image = record.optional_text("image")
    image_type = record.choice("image_type", IMAGE_TYPES, nullable=True)
    if kind in PICTURED_KINDS and (image is None or image_type is None):
        record.fail(f"a {kind} question needs an image and an image_type")
    if kind not in PICTURED_KINDS and image is not None:
        record.fail(f"a {kind} question has no image; key 'image' must be null")
    return Question(
        id=record.text("id"),
        kind=kind,
        subject=subject,
        image=None if image is None else images.add(record, "image", image),
        image_type=image_type,
        view=record.choice("view", IMAGE_VIEWS, nullable=True),
        phrasing=str(record.choice("phrasing", PHRASINGS)),
        template=record.text("template"),
        attribute=record.text("attribute"),
        question=record.short_text("question"),
        answer=record.short_text("answer"),
        value=record.text("value"),
        answer_type=str(record.choice("answer_type", ANSWER_TYPES)),
        distractors=record.texts("distractors"),
        probe=record.flag("probe"),
    )


def _questions(
    root: Path, people: dict[str, Person], scenes: dict[str, Scene], images: _Images
) -> list[Question]:
    questions: list[Question] = []
    where: dict[str, str] = {}
    for record in _lines(root, "questions.jsonl"):
        question = _question(record, people, scenes, images)
        _unique(where, record, question.id)
        questions.append(question)
    return questions


def _options(record: _Fields, task: str) -> tuple[dict[str, str], str | None]:
    """A task's options and correct letter: both for classification, both null otherwise."""
    if task != "classification":
        for key in ("options", "correct"):
            if record.raw(key) is not None:
                record.fail(f"key '{key}' must be null for a {task} task")
        return {}, None
    options = record.mapping("options")
    if len(options) < 2 or not all(len(k) == 1 and k.isupper() for k in options):
        record.fail("key 'options' must map two or more letters such as \"A\" to their texts")
    correct = str(record.choice("correct", tuple(options)))
    if options[correct] != record.data.get("ground_truth"):
        record.fail(f"key 'ground_truth' must be the text of the correct option '{correct}'")
    return options, correct


def _task(record: _Fields, people: dict[str, Person], images: _Images) -> Task:
    record.only(TASK_FIELDS)
    task = str(record.choice("task", TASK_KINDS))
    subject = record.text("subject")
    if subject not in people:
        record.fail(f"subject {subject!r} is not a person in people.jsonl")
    form = str(record.choice("form", TASK_FORMS))
    image = record.optional_text("image")
    if (image is None) != (form == "text"):
        record.fail("an image task needs an image and a text task has none (key 'image')")
    options, correct = _options(record, task)
    return Task(
        id=record.text("id"),
        subject=subject,
        source=str(record.choice("source", TASK_SOURCES)),
        task=task,
        form=form,
        question=record.short_text("question"),
        options=options,
        correct=correct,
        ground_truth=record.short_text("ground_truth"),
        image=None if image is None else images.add(record, "image", image),
    )


def _tasks(root: Path, people: dict[str, Person], images: _Images) -> tuple[Task, ...]:
    """tasks.jsonl, when the world has one (it is optional); else no tasks."""
    if not (root / TASKS_FILE).is_file():
        return ()
    tasks: list[Task] = []
    where: dict[str, str] = {}
    for record in _lines(root, TASKS_FILE):
        task = _task(record, people, images)
        _unique(where, record, task.id)
        tasks.append(task)
    return tuple(tasks)


def _ratio_sets(record: _Fields, key: str, people: dict[str, Person]) -> dict[int, tuple[str, ...]]:
    sets = record.child(key)
    out: dict[int, tuple[str, ...]] = {}
    for name in sets.data:
        if not name.isdigit():
            record.fail(f"{key} key '{name}' is not a whole-number ratio such as \"5\"")
        ids = sets.texts(name)
        for pid in ids:
            if pid not in people:
                record.fail(f"{key} id '{pid}' at ratio {name} is not a person in people.jsonl")
        out[int(name)] = ids
    return out


def _splits(root: Path, people: dict[str, Person], questions: list[Question]) -> Splits:
    record = _Fields(_json_object(root, "splits.json"), "splits.json")
    record.only(("forget", "retain", "few_shot_retain", "validation"))
    forget = _ratio_sets(record, "forget", people)
    retain = _ratio_sets(record, "retain", people)
    if not forget:
        record.fail("key 'forget' holds no ratio; give at least one, such as \"5\"")
    if set(forget) != set(retain):
        record.fail(f"forget ratios {sorted(forget)} and retain ratios {sorted(retain)} differ")
    for ratio, ids in forget.items():
        if not ids:
            record.fail(f"forget set for ratio {ratio} is empty")
        both = sorted(set(ids) & set(retain[ratio]))
        if both:
            record.fail(f"person '{both[0]}' is in both forget and retain at ratio {ratio}")
    by_id = {q.id: q for q in questions}
    forgotten = {pid: ratio for ratio, ids in sorted(forget.items(), reverse=True) for pid in ids}
    few_shot = record.texts("few_shot_retain")
    for qid in few_shot:
        if qid not in by_id:
            record.fail(f"few_shot_retain id '{qid}' is not a question in questions.jsonl")
        subject = by_id[qid].subject
        if subject in forgotten:
            record.fail(
                f"few_shot_retain question '{qid}' is about '{subject}', who is "
                f"forgotten at ratio {forgotten[subject]}"
            )
    validation = record.mapping("validation") if "validation" in record.data else {}
    return Splits(
        forget=forget,
        retain=retain,
        few_shot_retain=few_shot,
        validation={**DEFAULT_VALIDATION, **validation},
    )


def _manifest(root: Path) -> dict[str, Any]:
    if not root.is_dir():
        raise DataFormatError(f"{root}: no such world directory")
    if not (root / MANIFEST).is_file():
        raise DataFormatError(
            f"{root}: no {MANIFEST}; not a world directory (see docs/data-format.md)"
        )
    manifest = _json_object(root, MANIFEST)
    record = _Fields(manifest, MANIFEST)
    if manifest.get("format") != FORMAT_NAME:
        record.fail(f"format is {manifest.get('format')!r}, expected '{FORMAT_NAME}'")
    if manifest.get("version") != FORMAT_VERSION:
        record.fail(
            f"version {manifest.get('version')!r} is not supported; this smfa reads "
            f"version {FORMAT_VERSION}"
        )
    record.mapping("files")
    record.text("world_hash")
    return manifest


def _verify_hashes(root: Path, manifest: dict[str, Any]) -> None:
    files: dict[str, str] = manifest["files"]
    present = (TASKS_FILE,) if (root / TASKS_FILE).is_file() else ()
    for name in (*DATA_FILES, *present):
        if name not in files:
            raise DataFormatError(
                f"{MANIFEST} does not list {name}; rewrite the manifest "
                "(smfa.world.build.write_manifest)"
            )
    real_root = root.resolve()
    for rel, digest in files.items():
        path = root / rel
        parts = PurePosixPath(rel).parts
        if not rel or PurePosixPath(rel).is_absolute() or ".." in parts or "\\" in rel:
            raise DataFormatError(f"{MANIFEST} lists '{rel}', which is not a path inside the world")
        if path.exists() and not path.resolve().is_relative_to(real_root):
            raise DataFormatError(
                f"{MANIFEST} lists {rel}, which leads outside the world to {path.resolve()}"
            )
        if not path.is_file():
            raise DataFormatError(f"{MANIFEST} lists {rel} but it is missing")
        actual = sha256_file(path)
        if actual != digest:
            raise DataFormatError(
                f"hash mismatch for {rel}: {MANIFEST} says {digest[:12]}..., "
                f"the file is {actual[:12]}..."
            )
    if sha256_text(canonical_json(files)) != manifest["world_hash"]:
        raise DataFormatError(f"{MANIFEST}: world_hash does not match its file list")


def load_world(root: Path, verify_hashes: bool = True) -> World:
    """Read and validate the world at `root`; raise DataFormatError on the first problem."""
    root = Path(root)
    manifest = _manifest(root)
    images = _Images()
    people = _people(root, images)
    scenes = _scenes(root, images)
    questions = _questions(root, people, scenes, images)
    splits = _splits(root, people, questions)
    tasks = _tasks(root, people, images)
    images.check(root)
    if verify_hashes:
        _verify_hashes(root, manifest)
    return World(
        root=root,
        manifest=manifest,
        people=people,
        scenes=scenes,
        questions=questions,
        splits=splits,
        tasks=tasks,
    )


def load_questions(path: Path, world: World) -> list[Question]:
    """A forget request: questions.jsonl-format lines about `world`'s people, validated.

    Image paths are relative to the world directory, as in the world's own questions.jsonl.
    """
    path = Path(path)
    images = _Images()
    questions: list[Question] = []
    where: dict[str, str] = {}
    for record in _lines(path.parent, path.name):
        question = _question(record, world.people, world.scenes, images)
        _unique(where, record, question.id)
        questions.append(question)
    if not questions:
        raise DataFormatError(f"{path}: no questions in the forget request")
    images.check(world.root)
    return questions
