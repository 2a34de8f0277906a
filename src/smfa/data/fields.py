"""JSON records read with their place: the file, line and key every format error names.

`read_lines` reads a JSON Lines file into `Fields` (one object and where it came from, with
typed getters whose failures name the key), `read_object` one JSON object; `ImagePaths`
collects every image path a world names and checks each file once; `image_too_large` and
`MAX_TEXT_CHARS` are the size limits docs/data-format.md states. `smfa.data.format` reads a
world's files with these; the importers and the batches share the limits.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

from PIL import Image

from smfa.errors import DataFormatError

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


_JSON_KINDS = {
    str: "a string",
    bool: "true or false",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


def kind_of(value: Any) -> str:
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _first_non_string(values: Any) -> str:
    bad = next(v for v in values if not isinstance(v, str))
    return f"an item that is {kind_of(bad)}"


class Fields:
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
            self.fail(f"key '{key}' must be a string, got {kind_of(value)}")
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
            self.fail(f"key '{key}' must be true or false, got {kind_of(value)}")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.raw(key)
        if not isinstance(value, list):
            self.fail(f"key '{key}' must be a list of strings, got {kind_of(value)}")
        if not all(isinstance(v, str) for v in value):
            self.fail(f"key '{key}' must be a list of strings, got {_first_non_string(value)}")
        return tuple(value)

    def mapping(self, key: str) -> dict[str, str]:
        value = self.raw(key)
        if not isinstance(value, dict):
            self.fail(f"key '{key}' must be an object of strings, got {kind_of(value)}")
        if not all(isinstance(v, str) for v in value.values()):
            self.fail(
                f"key '{key}' must be an object of strings, got {_first_non_string(value.values())}"
            )
        return dict(value)

    def child(self, key: str) -> Fields:
        value = self.raw(key)
        if not isinstance(value, dict):
            self.fail(f"key '{key}' must be an object, got {kind_of(value)}")
        return Fields(value, f"{self.where}, key '{key}'")


def read_lines(root: Path, name: str, holds: str) -> Iterator[Fields]:
    path = root / name
    if not path.is_file():
        raise DataFormatError(f"{path}: missing; a world holds {holds}")
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
                f"{name} line {number}: expected a JSON object, got {kind_of(value)}"
            )
        yield Fields(value, f"{name} line {number}")


def read_object(root: Path, name: str, holds: str) -> dict[str, Any]:
    path = root / name
    if not path.is_file():
        raise DataFormatError(f"{path}: missing; a world holds {holds}")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataFormatError(f"{name}: invalid JSON: {error}") from error
    except RecursionError:
        raise DataFormatError(f"{name}: invalid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise DataFormatError(f"{name}: expected a JSON object, got {kind_of(value)}")
    return value


class ImagePaths:
    """Every image path the world mentions, with the first place that mentions it."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def add(self, record: Fields, key: str, rel: str) -> str:
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


def unique(ids: dict[str, str], record: Fields, value: str) -> None:
    if value in ids:
        record.fail(f"duplicate id '{value}' (first in {ids[value]})")
    ids[value] = record.where
