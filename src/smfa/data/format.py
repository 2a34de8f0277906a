"""Read and validate a world directory (docs/data-format.md) into frozen, typed records.

`load_world` checks everything the rest of smfa relies on and raises `DataFormatError` naming the
file, line and key of the first problem it finds. It checks the format, never the generator's
counts, so a world a user writes by hand loads as long as it follows the documented format.
"""

from __future__ import annotations

from pathlib import Path

from smfa.data.fields import (
    Fields,
    ImagePaths,
    kind_of,
    read_lines,
    read_object,
    unique,
)
from smfa.data.manifest import DATA_FILES, TASKS_FILE, check_hashes, read_manifest
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
from smfa.vocab import IMAGE_VIEWS, PERSON_KINDS, PHRASINGS, PICTURED_KINDS, QUESTION_KINDS, Kind
from smfa.world.build import MANIFEST
from smfa.world.questions import ANSWER_TYPES, FIELDS, IMAGE_TYPES
from smfa.world.scenes import SPLITS as SCENE_SPLITS

HOLDS = ", ".join(DATA_FILES)  # what a missing file's error says a world holds
TASK_FIELDS = (
    "id", "subject", "source", "task", "form", "question", "options", "correct",
    "ground_truth", "image",
)  # fmt: skip
TASK_SOURCES = ("profile", "test", "celebrity")
TASK_KINDS = ("classification", "generation", "cloze")
TASK_FORMS = ("image", "text")
DEFAULT_VALIDATION = {"phrasing": "validation", "scene_view": "validation"}

__all__ = [
    "ImageSet",
    "Person",
    "Question",
    "Scene",
    "SceneObject",
    "Splits",
    "Task",
    "World",
    "load_questions",
    "load_world",
]


def _image_set(record: Fields, images: ImagePaths) -> ImageSet:
    record.only(("train", "heldout", "features"))
    return ImageSet(
        train=images.add(record, "train", record.text("train")),
        heldout=images.add(record, "heldout", record.text("heldout")),
        features=record.mapping("features"),
    )


def _people(root: Path, images: ImagePaths) -> dict[str, Person]:
    people: dict[str, Person] = {}
    where: dict[str, str] = {}
    for record in read_lines(root, "people.jsonl", HOLDS):
        record.only(("id", "name", "attributes", "portrait", "fundus"))
        pid = record.text("id")
        unique(where, record, pid)
        eye = None if record.raw("fundus") is None else _image_set(record.child("fundus"), images)
        people[pid] = Person(
            id=pid,
            name=record.text("name"),
            attributes=record.mapping("attributes"),
            portrait=_image_set(record.child("portrait"), images),
            fundus=eye,
        )
    return people


def _scene_object(record: Fields, index: int) -> SceneObject:
    obj = record.data["objects"][index]
    if not isinstance(obj, dict):
        record.fail(f"objects[{index}] must be an object, got {kind_of(obj)}")
    fields = Fields(obj, f"{record.where}, objects[{index}]")
    fields.only(("shape", "colour", "position"))
    return SceneObject(fields.text("shape"), fields.text("colour"), fields.text("position"))


def _scenes(root: Path, images: ImagePaths) -> dict[str, Scene]:
    scenes: dict[str, Scene] = {}
    where: dict[str, str] = {}
    for record in read_lines(root, "scenes.jsonl", HOLDS):
        record.only(("id", "split", "image", "objects"))
        sid = record.text("id")
        unique(where, record, sid)
        if not isinstance(record.raw("objects"), list):
            record.fail(f"key 'objects' must be a list, got {kind_of(record.data['objects'])}")
        objects = tuple(_scene_object(record, i) for i in range(len(record.data["objects"])))
        scenes[sid] = Scene(
            id=sid,
            split=str(record.choice("split", SCENE_SPLITS)),
            image=images.add(record, "image", record.text("image")),
            objects=objects,
        )
    return scenes


def _question(
    record: Fields, people: dict[str, Person], scenes: dict[str, Scene], images: ImagePaths
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
    root: Path, people: dict[str, Person], scenes: dict[str, Scene], images: ImagePaths
) -> list[Question]:
    questions: list[Question] = []
    where: dict[str, str] = {}
    for record in read_lines(root, "questions.jsonl", HOLDS):
        question = _question(record, people, scenes, images)
        unique(where, record, question.id)
        questions.append(question)
    return questions


def _options(record: Fields, task: str) -> tuple[dict[str, str], str | None]:
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


def _task(record: Fields, people: dict[str, Person], images: ImagePaths) -> Task:
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


def _tasks(root: Path, people: dict[str, Person], images: ImagePaths) -> tuple[Task, ...]:
    """tasks.jsonl, when the world has one (it is optional); else no tasks."""
    if not (root / TASKS_FILE).is_file():
        return ()
    tasks: list[Task] = []
    where: dict[str, str] = {}
    for record in read_lines(root, TASKS_FILE, HOLDS):
        task = _task(record, people, images)
        unique(where, record, task.id)
        tasks.append(task)
    return tuple(tasks)


def _ratio_sets(record: Fields, key: str, people: dict[str, Person]) -> dict[int, tuple[str, ...]]:
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
    record = Fields(read_object(root, "splits.json", f"{MANIFEST}, {HOLDS}"), "splits.json")
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


def load_world(root: Path, verify_hashes: bool = True) -> World:
    """Read and validate the world at `root`; raise DataFormatError on the first problem."""
    root = Path(root)
    manifest = read_manifest(root)
    images = ImagePaths()
    people = _people(root, images)
    scenes = _scenes(root, images)
    questions = _questions(root, people, scenes, images)
    splits = _splits(root, people, questions)
    tasks = _tasks(root, people, images)
    images.check(root)
    if verify_hashes:
        check_hashes(root, manifest)
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
    images = ImagePaths()
    questions: list[Question] = []
    where: dict[str, str] = {}
    for record in read_lines(path.parent, path.name, HOLDS):
        question = _question(record, world.people, world.scenes, images)
        unique(where, record, question.id)
        questions.append(question)
    if not questions:
        raise DataFormatError(f"{path}: no questions in the forget request")
    images.check(world.root)
    return questions
