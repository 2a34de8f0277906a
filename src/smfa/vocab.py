"""The vocabulary every layer speaks: question kinds, phrasings, views and splits.

The ground floor: the world generator, the world format, the protocol, evaluation and reports
all name kinds and phrasings through these members (no module repeats "image_memory"). Each is
a `StrEnum`, so a member compares, hashes and serializes as the plain string the world
format and results.json have always used ("image_memory", "heldout", ...): files stay
byte-identical, and a `Question` read from JSON (plain strings) matches the members directly.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a question asks about (questions.jsonl `kind`, results.json `kind`)."""

    IMAGE_MEMORY = "image_memory"  # a private fact, asked with the person's image
    TEXT_MEMORY = "text_memory"  # a private fact, asked by name
    IMAGE_UNDERSTANDING = "image_understanding"  # what the person's image shows
    GENERAL_SCENE = "general_scene"  # a scene of shapes, about nobody
    UNKNOWN_PERSON = "unknown_person"  # someone who does not exist: the answer is a refusal
    COMPOSITE = "composite"  # results.json only: the paper's overall scores


class Phrasing(StrEnum):
    """A question's phrasing: the disjoint template sets (questions.jsonl `phrasing`)."""

    TRAIN = "train"
    VALIDATION = "validation"
    HELDOUT = "heldout"


class View(StrEnum):
    """Which rendering of an image a question shows (`view`), and the row markers."""

    TRAIN = "train"  # the canonical image that training saw
    VALIDATION = "validation"  # validation scenes
    HELDOUT = "heldout"  # re-rendered portraits / fundus images, unseen scenes
    NONE = "none"  # results.json: a question without an image
    ALL = "all"  # results.json: a composite pooled over every view


class Split(StrEnum):
    """Whom a scored question is about (results.json `split`)."""

    FORGET = "forget"
    RETAIN = "retain"
    GENERAL = "general"
    UNKNOWN = "unknown"
    OVERALL = "overall"  # composites


PHRASINGS = tuple(Phrasing)
# The renderings an image of a question may be (results also say "none" and "all").
IMAGE_VIEWS = (View.TRAIN, View.VALIDATION, View.HELDOUT)
# Every kind a world's questions.jsonl may hold (composites exist in results only).
QUESTION_KINDS = tuple(k for k in Kind if k != Kind.COMPOSITE)
MEMORY_KINDS = frozenset({Kind.IMAGE_MEMORY, Kind.TEXT_MEMORY})
UNDERSTANDING_KINDS = frozenset({Kind.IMAGE_UNDERSTANDING, Kind.GENERAL_SCENE})
# Kinds about one person of the world (their subject is a person id).
PERSON_KINDS = (Kind.IMAGE_MEMORY, Kind.TEXT_MEMORY, Kind.IMAGE_UNDERSTANDING)
# Kinds whose question shows an image (a question of any other kind shows none).
PICTURED_KINDS = (Kind.IMAGE_MEMORY, Kind.IMAGE_UNDERSTANDING, Kind.GENERAL_SCENE)
# Kinds that show a person's picture: a figure reads them at its slice's image view.
PERSON_IMAGE_KINDS = frozenset({Kind.IMAGE_MEMORY, Kind.IMAGE_UNDERSTANDING})
