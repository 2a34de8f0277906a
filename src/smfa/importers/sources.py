"""Source records of a public benchmark layout: JSON, JSON lines and parquet, located.

Every record keeps where it came from, so a problem names the source file and the record:
`line N` (from 1) for JSON lines and JSON syntax errors, `index N` (from 0) for a JSON array
item, `row N` (from 0) for parquet, then the key. A JSON value nested deeper than Python's
parser can follow is reported the same way, with the line where the nesting grows too deep.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from smfa.errors import DataFormatError, SmfaError
from smfa.importers.problems import Problems

RECORD_SUFFIXES = (".json", ".jsonl", ".parquet")
# Where a too deeply nested JSON value is reported (no real record comes near it).
MAX_JSON_DEPTH = 200


def kind_of(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class Record:
    """One JSON object of a source file and where it is, with getters that name the key."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise DataFormatError(f"{where}: expected a JSON object, got {kind_of(data)}")
        self.data = data
        self.where = where

    def fail(self, message: str) -> NoReturn:
        raise DataFormatError(f"{self.where}: {message}")

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        if key not in self.data:
            self.fail(f"missing key '{key}'")
        return self.data[key]

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(f"key '{key}' must be a non-empty string, got {value!r:.60}")
        return value.strip()

    def ident(self, key: str) -> str:
        """An id: a string as given, or an integer written in decimal."""
        value = self.raw(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return self.text(key)

    def texts(self, key: str) -> list[str]:
        """An optional list of strings (absent or null is empty; one string is a list of one)."""
        value = self.data.get(key)
        if value is None:
            return []
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"key '{key}' must be a list of strings, got {kind_of(value)}")
        return [v.strip() for v in value if v.strip()]

    def records(self, key: str) -> list[Record]:
        value = self.raw(key)
        if not isinstance(value, list):
            self.fail(f"key '{key}' must be a list of objects, got {kind_of(value)}")
        return [Record(item, f"{self.where}, {key}[{i}]") for i, item in enumerate(value)]


def label(path: Path, root: Path) -> str:
    """How messages name a source file: relative to the source directory where possible."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


def _read_text(path: Path, name: str) -> str:
    if not path.is_file():
        raise DataFormatError(f"{name}: no such file ({path})")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataFormatError(f"{name}: not UTF-8 text ({error})") from error


def nesting_line(text: str, limit: int = MAX_JSON_DEPTH) -> int | None:
    """The line (from 1) where JSON brackets first nest deeper than `limit`, or None."""
    depth, line, in_string, escaped = 0, 1, False, False
    for char in text:
        if char == "\n":
            line += 1
        elif in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return line
        elif char in "]}":
            depth -= 1
    return None


def parse_json(text: str, where: str, lines: bool = True) -> Any:
    """`text` as JSON; a syntax error or a too deep nesting names `where` (and the line)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        at = f" line {error.lineno} column {error.colno}" if lines else ""
        raise DataFormatError(f"{where}{at}: invalid JSON: {error.msg}") from error
    except RecursionError:
        line = nesting_line(text)
    at = f" line {line}" if lines and line is not None else ""
    raise DataFormatError(
        f"{where}{at}: JSON nested too deeply to read (more than {MAX_JSON_DEPTH} levels); "
        "no benchmark record is, so the file is damaged"
    )


def read_json(path: Path, root: Path) -> Any:
    """A whole JSON document; a syntax error is reported with its line and column."""
    name = label(path, root)
    return parse_json(_read_text(path, name), name)


def read_records(path: Path, root: Path, problems: Problems | None = None) -> list[Record]:
    """Objects from a JSON array, a JSON-lines file or a parquet table, each with its place.

    With `problems`, a JSON line that does not parse is kept there and skipped, so every bad
    line of a file is reported at once; without, it raises.
    """
    path, name = Path(path), label(path, root)
    if path.suffix.lower() == ".parquet":
        return [Record(row, where) for row, where in read_parquet(path, name)]
    text = _read_text(path, name)
    if text.lstrip().startswith("["):
        values = read_json(path, root)
        return [Record(value, f"{name} index {i}") for i, value in enumerate(values)]
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        if problems is None:
            records.append(Record(parse_json(line, where, lines=False), where))
            continue
        with problems.record():
            records.append(Record(parse_json(line, where, lines=False), where))
    return records


def read_parquet(path: Path, name: str) -> list[tuple[dict[str, Any], str]]:
    """The rows of a parquet file as plain values (an Image column as {bytes, path}), each
    with where it is (`NAME row N`)."""
    if not path.is_file():
        raise DataFormatError(f"{name}: no such file ({path})")
    import pyarrow.parquet as pq  # only parquet needs it; it comes with `datasets`

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as error:  # pyarrow raises several types for a broken file
        raise DataFormatError(f"{name}: not a readable parquet file ({error})") from error
    return [(row, f"{name} row {i}") for i, row in enumerate(rows)]


def read_id_list(path: Path, root: Path) -> list[tuple[str, str]]:
    """A JSON array of ids (strings, or integers kept in decimal) as (id, where) pairs."""
    name, value = label(path, root), read_json(path, root)
    if not isinstance(value, list):
        raise DataFormatError(f"{name}: expected a JSON array of ids, got {kind_of(value)}")
    return id_items(value, name)


def id_items(values: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(values, list):
        raise DataFormatError(f"{where}: expected a list of ids, got {kind_of(values)}")
    out = []
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise DataFormatError(
                f"{where} index {i}: an id must be a string, got {kind_of(value)}"
            )
        out.append((str(value), f"{where} index {i}"))
    return out


def find_file(folder: Path, stem: str) -> Path | None:
    """`folder/stem` with the first of .json, .jsonl, .parquet that exists."""
    return next((p for s in RECORD_SUFFIXES if (p := folder / f"{stem}{s}").is_file()), None)


def only_records_file(source: Path, skip: Sequence[str] = ()) -> Path:
    """The single .json/.jsonl/.parquet file at the top of `source` (names in `skip` aside)."""
    found = sorted(
        p
        for p in Path(source).iterdir()
        if p.is_file() and p.suffix.lower() in RECORD_SUFFIXES and p.name not in skip
    )
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise SmfaError(f"{source}: expected one records file at the top, found {names}; name it")
    return found[0]
