"""MLLMU-Bench records as read, before they become a world: profiles, tasks, celebrities.

Both layouts (the hub's parquet configs and the JSON layout) read into these: a `Profile` per
fine-tuning record, an `Evaluation` per row that carries evaluation tasks, a `Celebrity` per
`Retain_Set` row, and the forget/retain id lists. Each keeps where it came from, so every
later problem names the source file, row and key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smfa.data.fields import MAX_TEXT_CHARS
from smfa.importers.common import ForgetList, WorldBuilder
from smfa.importers.mllmu_names import person_id, profile_name
from smfa.importers.sources import Record

TASK_KEYS = ("Classification_Task", "Generation_Task", "Mask_Task")


@dataclass
class Item:
    """One question-answer pair of a profile."""

    question: str
    answer: str
    where: str


@dataclass
class Profile:
    """A fictitious person of the fine-tuning records."""

    pid: str
    name: str
    image: str
    items: list[Item]
    name_items: set[int]
    record: Record


@dataclass
class TaskItem:
    """One evaluation item: classification (options, correct letter), generation or cloze."""

    task: str
    form: str
    question: str
    ground_truth: str
    where: str
    options: dict[str, str] | None = None
    correct: str | None = None


@dataclass
class Evaluation:
    """A row's evaluation items, the person they are about and the image they show."""

    raw_id: str
    source: str
    image: str | None
    items: list[TaskItem]
    where: str


@dataclass
class Celebrity:
    """A real person of `Retain_Set`: retained at every ratio, never trained on."""

    pid: str
    raw_id: str
    name: str
    image: str
    record: Record


@dataclass
class Sources:
    """Everything an MLLMU-Bench source holds, as read."""

    layout: str
    profiles: list[Profile] = field(default_factory=list)
    lists: list[ForgetList] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    celebrities: list[Celebrity] = field(default_factory=list)


def _text(record: Record, key: str) -> str:
    text = record.text(key)
    if len(text) > MAX_TEXT_CHARS:
        record.fail(f"key '{key}' is {len(text):,} characters long; a world allows 2,000")
    return text


def profile(builder: WorldBuilder, record: Record, items: list[Record], image_key: str) -> Profile:
    """A fine-tuning record with its metadata `items` (each {ID, Question, Answer})."""
    pid = person_id(record, items)
    name, name_items = profile_name(record, items)
    pairs = [Item(_text(i, "Question"), _text(i, "Answer"), i.where) for i in items]
    if not pairs:
        record.fail("the profile holds no question-answer pairs")
    image = builder.image(record, image_key, f"{pid}_train")
    return Profile(pid, name, image, pairs, name_items, record)


def _form(item: Record) -> str:
    kind = item.text("Type").lower()
    if "image" in kind or "multimodal" in kind:
        return "image"
    if "text" in kind:
        return "text"
    item.fail(f"key 'Type' is '{kind}'; expected Image_Textual or Pure_Text")


def _choice(item: Record, form: str) -> TaskItem:
    options = item.raw("Options")
    if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
        item.fail("key 'Options' must be an object of strings such as {\"A\": ...}")
    letter = item.text("Correct_Answer").strip()[:1].upper()
    if letter not in options:
        item.fail(f"key 'Correct_Answer' names option '{letter}', which 'Options' lacks")
    options = dict(sorted(options.items()))
    return TaskItem(
        "classification", form, _text(item, "Question"), options[letter], item.where,
        options, letter,
    )  # fmt: skip


def tasks(record: Record) -> list[TaskItem]:
    """The row's Classification_Task, Generation_Task and Mask_Task items (absent: none)."""
    out: list[TaskItem] = []
    if record.has("Classification_Task"):
        lists = Record(record.raw("Classification_Task"), f"{record.where}, Classification_Task")
        for key, form in (("Image_Textual_Questions", "image"), ("Pure_Text_Questions", "text")):
            out += [_choice(item, form) for item in (lists.records(key) if lists.has(key) else [])]
    for key, task in (("Generation_Task", "generation"), ("Mask_Task", "cloze")):
        for item in record.records(key) if record.has(key) else []:
            out.append(
                TaskItem(task, _form(item), _text(item, "Question"), _text(item, "Ground_Truth"),
                         item.where)
            )  # fmt: skip
    return out


def evaluation(
    builder: WorldBuilder, record: Record, source: str, image_key: str | None
) -> Evaluation | None:
    """A row's evaluation items (None when it has none) with the image they are asked about:
    `image_key` names it (a list of images gives its first); without one, image tasks show
    the person's held-out portrait (a Test_Set row) or training portrait."""
    items = tasks(record)
    raw = record.ident("ID")
    if not items and source != "test":
        return None
    image = None
    if image_key is not None and record.has(image_key):
        value = record.raw(image_key)
        if isinstance(value, list):
            if not value:
                record.fail(f"key '{image_key}' must be a non-empty list of images")
            value = value[0]
        stem = f"{raw}_heldout" if source == "test" else f"{raw}_{source}"
        image = builder.image(record, image_key, stem, value)
    return Evaluation(raw, source, image, items, record.where)


def celebrity(builder: WorldBuilder, record: Record) -> Celebrity:
    """A `Retain_Set` row: id `celebrity_ID`, its `Directory` as the name (underscores as
    spaces; `Retain_Set ID` without one) and its image."""
    raw = record.ident("ID")
    pid = f"celebrity_{raw}"
    folder = record.data.get("Directory")
    name = folder.replace("_", " ").strip() if isinstance(folder, str) else ""
    image = builder.image(record, "image", pid)
    return Celebrity(pid, raw, name or f"Retain_Set {raw}", image, record)
