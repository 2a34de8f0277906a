"""The typed, frozen records of a loaded world, and the queries the rest of smfa asks of them.

`smfa.data.format.load_world` builds these after validation; nothing here reads files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smfa.errors import SmfaError


@dataclass(frozen=True)
class ImageSet:
    """A person's two renders of one image type and the features visible in them."""

    train: str
    heldout: str
    features: dict[str, str]


@dataclass(frozen=True)
class Person:
    """One person of people.jsonl: name, private attributes, portrait, maybe a fundus image."""

    id: str
    name: str
    attributes: dict[str, str]
    portrait: ImageSet
    fundus: ImageSet | None


@dataclass(frozen=True)
class SceneObject:
    """One shape of a scene."""

    shape: str
    colour: str
    position: str


@dataclass(frozen=True)
class Scene:
    """One general scene of scenes.jsonl; split is train, validation or heldout."""

    id: str
    split: str
    image: str
    objects: tuple[SceneObject, ...]


@dataclass(frozen=True)
class Question:
    """One row of questions.jsonl (docs/data-format.md lists what each field means)."""

    id: str
    kind: str
    subject: str | None
    image: str | None
    image_type: str | None
    view: str | None
    phrasing: str
    template: str
    attribute: str
    question: str
    answer: str
    value: str
    answer_type: str
    distractors: tuple[str, ...]
    probe: bool

    @property
    def attribute_type(self) -> str:
        """The kind of fact asked: the attribute without an imported world's `#N` suffix
        ("hobby#2", a person's second hobby fact, is a "hobby")."""
        return self.attribute.split("#", 1)[0]


@dataclass(frozen=True)
class Task:
    """One evaluation item of a benchmark's own (tasks.jsonl, docs/data-format.md).

    `source` says where it was published: "profile" (asked about the training portrait),
    "test" (asked about a re-rendered portrait) or "celebrity" (a real person never trained
    on). A classification task has `options` (letter -> text) and the `correct` letter, whose
    text is `ground_truth`; a cloze `question` marks its blank with "__"."""

    id: str
    subject: str
    source: str
    task: str
    form: str
    question: str
    options: dict[str, str]
    correct: str | None
    ground_truth: str
    image: str | None


@dataclass(frozen=True)
class Splits:
    """splits.json: forget and retain person ids per ratio, few-shot retain question ids."""

    forget: dict[int, tuple[str, ...]]
    retain: dict[int, tuple[str, ...]]
    few_shot_retain: tuple[str, ...]
    validation: dict[str, str]


QUESTION_FIELDS = tuple(f.name for f in dataclasses.fields(Question))


@dataclass(frozen=True)
class World:
    """A loaded, validated world."""

    root: Path
    manifest: dict[str, Any]
    people: dict[str, Person]
    scenes: dict[str, Scene]
    questions: list[Question]
    splits: Splits
    tasks: tuple[Task, ...] = ()

    def image_path(self, rel: str) -> Path:
        return self.root / rel

    @property
    def world_hash(self) -> str:
        return str(self.manifest["world_hash"])

    @property
    def ratios(self) -> tuple[int, ...]:
        return tuple(sorted(self.splits.forget))

    def _ratio(self, ratio: int) -> int:
        if ratio not in self.splits.forget:
            raise SmfaError(
                f"this world has no forget split for ratio {ratio}; it has "
                f"{', '.join(map(str, self.ratios))}"
            )
        return ratio

    def forget_people(self, ratio: int) -> list[Person]:
        return [self.people[pid] for pid in self.splits.forget[self._ratio(ratio)]]

    def retain_people(self, ratio: int) -> list[Person]:
        return [self.people[pid] for pid in self.splits.retain[self._ratio(ratio)]]

    def questions_where(self, **field_equals: Any) -> list[Question]:
        """Questions whose fields equal every given value (kind=Kind.TEXT_MEMORY, probe=True)."""
        unknown = sorted(set(field_equals) - set(QUESTION_FIELDS))
        if unknown:
            raise SmfaError(
                f"questions have no field {', '.join(unknown)}; fields are "
                f"{', '.join(QUESTION_FIELDS)}"
            )
        return [
            q
            for q in self.questions
            if all(getattr(q, key) == value for key, value in field_equals.items())
        ]
