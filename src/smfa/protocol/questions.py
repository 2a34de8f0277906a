"""The named slices of the protocol and the question sets each stage draws from a world.

Training sees the training phrasings on the training images; unlearning forgets exactly those
questions about the forget people; evaluation asks the probe rows of chosen phrasings. The
reported slice (held-out phrasings, re-rendered images, unseen scenes) is what every figure of a
report means; the validation slice (its own phrasings and scenes, generated answers only) is the
only data allowed to choose a hyper-parameter. Every function keeps the world's question order,
so cached runs and figures do not depend on how they are called.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

import numpy as np

from smfa.data.records import Question, World
from smfa.errors import ConfigError, SmfaError
from smfa.vocab import MEMORY_KINDS, PERSON_IMAGE_KINDS, Kind, Phrasing, Split, View


@dataclass(frozen=True)
class Slice:
    """A part of the probes: which phrasings are asked, and which rows a figure reads.

    `phrasings[0]` is the phrasing figures are read at; image questions are read at `image_view`,
    scenes at `scene_view`. `trained_scenes` also asks the scenes training saw; `likelihood`
    adds the teacher-forced passes (answer probability, multiple choice).
    """

    name: str
    phrasings: tuple[Phrasing, ...]
    image_view: View
    scene_view: View
    trained_scenes: bool = False
    likelihood: bool = True

    @property
    def phrasing(self) -> Phrasing:
        return self.phrasings[0]

    def view_of(self, kind: str) -> View:
        """The view a figure reads for questions of `kind` in this slice."""
        if kind in PERSON_IMAGE_KINDS:
            return self.image_view
        if kind == Kind.GENERAL_SCENE:
            return self.scene_view
        return View.NONE


REPORTED = Slice("reported", (Phrasing.HELDOUT,), View.HELDOUT, View.HELDOUT)
VALIDATION = Slice(
    "validation", (Phrasing.VALIDATION,), View.TRAIN, View.VALIDATION, likelihood=False
)
# `smfa eval`'s default: the reported slice, plus the training phrasings and trained-on scenes
# asked beside it to show what was memorized (the detail table); figures read the reported rows.
FULL = Slice(
    "full", (Phrasing.HELDOUT, Phrasing.TRAIN), View.HELDOUT, View.HELDOUT, trained_scenes=True
)
SLICES = {part.name: part for part in (REPORTED, VALIDATION, FULL)}


def named_slice(name: str, key: str = "eval.slice") -> Slice:
    """The slice called `name` (a ConfigError naming `key` and the choices otherwise)."""
    if name not in SLICES:
        raise ConfigError(f"{key}: unknown slice '{name}'; slices: {', '.join(SLICES)}")
    return SLICES[name]


# The reference models' (and the forget set's) training data: one phrasing set, train images.
TRAINING_PHRASING = Phrasing.TRAIN
TRAINING_VIEWS = (None, View.TRAIN)


def reading(phrasing: str, image_view: str) -> Slice:
    """The reported slice read at another phrasing and image view (scenes stay unseen ones)."""
    return Slice("reading", (phrasing,), image_view, REPORTED.scene_view)  # type: ignore[arg-type]


def split_of(question: Question, forget: Collection[str]) -> Split:
    """Whom a probe question is about: unknown, general, or a forget or retain person."""
    if question.kind == Kind.UNKNOWN_PERSON:
        return Split.UNKNOWN
    if question.kind == Kind.GENERAL_SCENE:
        return Split.GENERAL
    return Split.FORGET if question.subject in forget else Split.RETAIN


def training_questions(world: World, forget: Collection[str] = ()) -> list[Question]:
    """Training phrasings on training images, without the memory questions about `forget`."""
    return [
        q
        for q in world.questions
        if q.phrasing == TRAINING_PHRASING
        and q.view in TRAINING_VIEWS
        and not (q.kind in MEMORY_KINDS and q.subject in forget)
    ]


def forget_questions(world: World, people: Collection[str]) -> tuple[Question, ...]:
    """D_f: every training-phrasing memory question about `people`, on training images."""
    return tuple(
        q
        for q in world.questions
        if q.kind in MEMORY_KINDS
        and q.subject in people
        and q.phrasing == TRAINING_PHRASING
        and q.view in TRAINING_VIEWS
    )


def probe_questions(
    world: World, phrasings: Iterable[str], trained_scenes: bool = True
) -> list[Question]:
    """The probe rows asked at these phrasings; `trained_scenes=False` skips trained-on scenes."""
    wanted = set(phrasings)
    return [
        q
        for q in world.questions
        if q.probe
        and q.phrasing in wanted
        and (trained_scenes or not (q.kind == Kind.GENERAL_SCENE and q.view == View.TRAIN))
    ]


def slice_questions(world: World, part: Slice) -> list[Question]:
    """The probe rows a named slice asks."""
    return probe_questions(world, part.phrasings, part.trained_scenes)


def check_slice(world: World, part: Slice, forget_people: Collection[str]) -> None:
    """Refuse a slice with no memory questions about the forget people, or about the retain
    people, at its phrasing: every figure read from it would be empty (one line naming both)."""
    memory = [
        q
        for q in world.questions
        if q.probe and q.kind in MEMORY_KINDS and q.phrasing == part.phrasing
    ]
    forget = sum(q.subject in forget_people for q in memory)
    retain = sum(q.subject not in forget_people and q.subject in world.people for q in memory)
    missing = [who for who, n in (("forget", forget), ("retain", retain)) if n == 0]
    if missing:
        raise SmfaError(
            f"world {world.root}: the {part.name} slice ({part.phrasing} phrasings) has no "
            f"memory questions about {' or '.join(missing)} people; nothing could be measured"
        )


def attack_questions(
    world: World, part: Slice, forget_people: Collection[str], retain_size: int, seed: int = 0
) -> tuple[list[Question], list[Question]]:
    """(forget questions, retain sample) every attack asks on `part`: the memory probe rows at
    its phrasing (images at its image view) about the forget people, and a seeded sample of
    `retain_size` rows about everyone else in the world's people."""
    memory = [
        q
        for q in world.questions
        if q.probe
        and q.kind in MEMORY_KINDS
        and q.phrasing == part.phrasing
        and (q.image is None or q.view == part.image_view)
    ]
    forget = [q for q in memory if q.subject in forget_people]
    pool = [q for q in memory if q.subject not in forget_people and q.subject in world.people]
    size = min(retain_size, len(pool))
    picked = np.random.default_rng([seed, 41]).choice(len(pool), size=size, replace=False)
    return forget, [pool[int(i)] for i in sorted(picked)]
