"""The protocol's vocabulary: question kinds, wordings, views and splits.

Each is a `StrEnum`, so a member compares, hashes and serializes as the plain string the world
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


class Wording(StrEnum):
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


MEMORY_KINDS = frozenset({Kind.IMAGE_MEMORY, Kind.TEXT_MEMORY})
UNDERSTANDING_KINDS = frozenset({Kind.IMAGE_UNDERSTANDING, Kind.GENERAL_SCENE})
# Kinds whose question shows an image: a figure reads them at its slice's image view.
IMAGE_KINDS = frozenset({Kind.IMAGE_MEMORY, Kind.IMAGE_UNDERSTANDING})
