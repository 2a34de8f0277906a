"""Question rows: every fact of the world asked in train, validation and held-out phrasings.

A fact is one person x attribute, person x visible feature, or scene x question type. Each fact
gets all five train frames on the canonical view, the same fact on the held-out view, one
validation-phrasing row and held-out-phrasing rows; exactly one row of each (kind, subject,
attribute, image_type, phrasing, view) group is a probe, the row evaluation asks. Unknown people
have no subject id (subject is null); their probes are chosen per unknown name and attribute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smfa.vocab import Kind
from smfa.world import component_rng, fundus, names, portraits, scenes
from smfa.world.templates import Frame, frames, memory_answer, scene_slots

IMAGE_TYPES: tuple[str, ...] = ("portrait", "fundus", "scene")
ANSWER_TYPES: tuple[str, ...] = (
    "name",
    "city",
    "address",
    "phone",
    "money",
    "date",
    "occupation",
    "condition",
    "email",
    "colour",
    "style",
    "accessory",
    "shape",
    "position",
    "yesno",
    "count",
    "refusal",
    "text",
)
FIELDS: tuple[str, ...] = (
    "id",
    "kind",
    "subject",
    "image",
    "image_type",
    "view",
    "phrasing",
    "template",
    "attribute",
    "question",
    "answer",
    "value",
    "answer_type",
    "distractors",
    "probe",
)
DISTRACTORS = 3

Row = dict[str, Any]


@dataclass
class _Fact:
    """What every row about one fact shares."""

    kind: str
    subject: str | None
    family: str
    attribute: str
    template_key: str
    answer: str
    value: str
    answer_type: str
    distractors: list[str]
    image_type: str | None = None
    images: dict[str, str] = field(default_factory=dict)
    slots: dict[str, str] = field(default_factory=dict)

    def row(self, frame: Frame, phrasing: str, view: str | None, probe: bool) -> Row:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "image": self.images[view] if view is not None else None,
            "image_type": self.image_type,
            "view": view,
            "phrasing": phrasing,
            "template": frame.id,
            "attribute": self.attribute,
            "question": frame.render(**self.slots),
            "answer": self.answer,
            "value": self.value,
            "answer_type": self.answer_type,
            "distractors": list(self.distractors),
            "probe": probe,
        }


def _pick(rng: np.random.Generator, items: tuple[Frame, ...]) -> Frame:
    return items[int(rng.integers(len(items)))]


def _train_rows(fact: _Fact, view: str | None, rng: np.random.Generator) -> list[Row]:
    train = frames(fact.family, fact.template_key, "train")
    probe = int(rng.integers(len(train)))
    return [fact.row(frame, "train", view, i == probe) for i, frame in enumerate(train)]


def _person_fact_rows(fact: _Fact, rng: np.random.Generator) -> list[Row]:
    """Five train rows, then one row per other (phrasing, view) group, all probes."""
    view = "train" if fact.images else None
    rows = _train_rows(fact, view, rng)
    train = frames(fact.family, fact.template_key, "train")
    validation = frames(fact.family, fact.template_key, "validation")
    heldout = frames(fact.family, fact.template_key, "heldout")
    if fact.images:
        rows.append(fact.row(_pick(rng, train), "train", "heldout", True))
    rows.append(fact.row(validation[0], "validation", view, True))
    if fact.images:
        order = [int(i) for i in rng.permutation(len(heldout))]
        rows.append(fact.row(heldout[order[0]], "heldout", "train", True))
        rows.append(fact.row(heldout[order[-1]], "heldout", "heldout", True))
    else:
        rows.append(fact.row(_pick(rng, heldout), "heldout", None, True))
    return rows


def _others(
    values: list[str],
    own: str,
    legal: tuple[str, ...] | None,
    rng: np.random.Generator,
    attribute: str,
) -> list[str]:
    """Up to three wrong values: other people's values, or the feature's other legal values."""
    if legal is not None:
        pool = [v for v in legal if v != own]
        return [pool[int(i)] for i in rng.permutation(len(pool))[:DISTRACTORS]]
    pool = sorted({v for v in values if v != own})
    chosen = [pool[int(i)] for i in rng.permutation(len(pool))[:DISTRACTORS]]
    if len(chosen) < DISTRACTORS:
        chosen += names.draw_values(
            attribute, DISTRACTORS - len(chosen), rng, exclude=[*values, *chosen]
        )
    return chosen


def _person_rows(person: Row, everyone: list[Row], rng: np.random.Generator) -> list[Row]:
    column = {a: [p["attributes"][a] for p in everyone] for a in names.ATTRIBUTES}
    column["name"] = [p["name"] for p in everyone]
    value_of = {"name": person["name"], **person["attributes"]}
    facts: list[_Fact] = []

    def memory(
        family: str, kind: str, attribute: str, image_type: str | None, images: dict[str, str]
    ) -> _Fact:
        value = value_of[attribute]
        return _Fact(
            kind,
            person["id"],
            family,
            attribute,
            attribute,
            memory_answer(family, attribute, value, person["name"]),
            value,
            names.ANSWER_TYPES[attribute],
            _others(column[attribute], value, None, rng, attribute),
            image_type,
            images,
            {"name": person["name"]},
        )

    def feature(
        family: str,
        image_type: str,
        record: Row,
        legal: dict[str, tuple[str, ...]],
        answer_types: dict[str, str],
    ) -> list[_Fact]:
        images = {"train": record["train"], "heldout": record["heldout"]}
        return [
            _Fact(
                Kind.IMAGE_UNDERSTANDING,
                person["id"],
                family,
                key,
                key,
                value,
                value,
                answer_types[key],
                _others([], value, legal[key], rng, key),
                image_type,
                images,
            )
            for key, value in record["features"].items()
        ]

    portrait = {"train": person["portrait"]["train"], "heldout": person["portrait"]["heldout"]}
    facts += [
        memory("portrait_memory", Kind.IMAGE_MEMORY, a, "portrait", portrait)
        for a in ("name", *names.ATTRIBUTES)
    ]
    facts += [memory("text", Kind.TEXT_MEMORY, a, None, {}) for a in names.ATTRIBUTES]
    facts += feature(
        "portrait_feature",
        "portrait",
        person["portrait"],
        portraits.FEATURES,
        portraits.FEATURE_ANSWER_TYPES,
    )
    if person["fundus"] is not None:
        images = {"train": person["fundus"]["train"], "heldout": person["fundus"]["heldout"]}
        facts += [
            memory("fundus_memory", Kind.IMAGE_MEMORY, a, "fundus", images)
            for a in ("name", "medical_condition")
        ]
        facts += feature(
            "fundus_feature",
            "fundus",
            person["fundus"],
            fundus.FEATURES,
            fundus.FEATURE_ANSWER_TYPES,
        )
    return [row for fact in facts for row in _person_fact_rows(fact, rng)]


def _scene_rows(scene: Row, rng: np.random.Generator) -> list[Row]:
    applicable = scenes.applicable_questions(scene["objects"])
    count = min(len(applicable), int(rng.integers(2, 4)))
    chosen = [applicable[int(i)] for i in rng.permutation(len(applicable))[:count]]
    rows: list[Row] = []
    for question in chosen:
        key, slots = scene_slots(question)
        value = scenes.answer(scene["objects"], question)
        view = scene["split"]
        fact = _Fact(
            Kind.GENERAL_SCENE,
            scene["id"],
            "scene",
            question,
            key,
            value,
            value,
            scenes.QUESTION_ANSWER_TYPES[key],
            _others([], value, scenes.legal_values(question), rng, question),
            "scene",
            {view: scene["image"]},
            slots,
        )
        if view == "train":
            rows += _train_rows(fact, view, rng)
        elif view == "validation":
            rows.append(fact.row(frames("scene", key, "validation")[0], "validation", view, True))
        else:
            rows.append(fact.row(_pick(rng, frames("scene", key, "train")), "train", view, True))
            rows.append(
                fact.row(_pick(rng, frames("scene", key, "heldout")), "heldout", view, True)
            )
    return rows


def _unknown_rows(name: str, refusals: list[str], rng: np.random.Generator) -> list[Row]:
    rows: list[Row] = []
    for attribute in names.ATTRIBUTES:
        fact = _Fact(
            Kind.UNKNOWN_PERSON,
            None,
            "text",
            attribute,
            attribute,
            "",
            "",
            "refusal",
            [],
            slots={"name": name},
        )
        group = _train_rows(fact, None, rng)
        group.append(
            fact.row(_pick(rng, frames("text", attribute, "heldout")), "heldout", None, True)
        )
        for row in group:
            row["answer"] = refusals[int(rng.integers(len(refusals)))]
        rows += group
    return rows


def build_questions(
    people: list[Row],
    scene_records: list[Row],
    unknown_names: list[str],
    refusals: list[str],
    seed: int,
) -> list[Row]:
    """Every question row of a world, numbered q000001... in a fixed order."""
    rows: list[Row] = []
    for index, person in enumerate(people):
        rows += _person_rows(person, people, component_rng(seed, "questions.person", index))
    for index, scene in enumerate(scene_records):
        rows += _scene_rows(scene, component_rng(seed, "questions.scene", index))
    for index, name in enumerate(unknown_names):
        rows += _unknown_rows(name, refusals, component_rng(seed, "questions.unknown", index))
    return [{"id": f"q{i:06d}", **row} for i, row in enumerate(rows, start=1)]
