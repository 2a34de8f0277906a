"""What every importer shares: located source records, images, question rows, splits, writing.

An importer reads a public benchmark layout (docs: public-layouts.md) from local files only and
collects people and questions in a `WorldBuilder`, which copies images into `images/portraits/`,
draws the forget/retain splits and the few-shot retain budget, and writes the world through a
staging directory: data files, then the manifest (`smfa.world.build.write_manifest`), then a full
`load_world` check, and only then the rename into place. A failed import leaves `out` untouched.

Source problems raise `DataFormatError` naming the source file, the record (`line N`, from 1,
for JSON lines and JSON syntax errors; `index N`, from 0, for a JSON array item; `row N`, from 0,
for parquet) and the key. Free-text answers keep the sentence as both `answer` and `value`, with
`answer_type` "text" (the world format's type for free-form values). Every imported fact is its
own (kind, subject, attribute, image_type, phrasing, view) group of one row, so every row is a
probe.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from PIL import Image

from smfa.data.format import load_world
from smfa.errors import DataFormatError, SmfaError
from smfa.io import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_jsonl,
    out_lock,
    staged_dir,
)
from smfa.world import component_rng
from smfa.world.build import write_manifest
from smfa.world.questions import FIELDS
from smfa.world.splits import FEW_SHOT_KINDS, VALIDATION, build_splits

Row = dict[str, Any]
RECORD_SUFFIXES = (".json", ".jsonl", ".parquet")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_POINTING = re.compile(
    r"\b(?:this person|this individual|the person (?:in|shown in) (?:the|this) "
    r"(?:image|picture|photo))('s)?",
    re.IGNORECASE,
)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class Record:
    """One JSON object of a source file and where it is, with getters that name the key."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise DataFormatError(f"{where}: expected a JSON object, got {_kind(data)}")
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
            self.fail(f"key '{key}' must be a list of strings, got {_kind(value)}")
        return [v.strip() for v in value if v.strip()]

    def records(self, key: str) -> list[Record]:
        value = self.raw(key)
        if not isinstance(value, list):
            self.fail(f"key '{key}' must be a list of objects, got {_kind(value)}")
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


def read_json(path: Path, root: Path) -> Any:
    """A whole JSON document; a syntax error is reported with its line and column."""
    name = label(path, root)
    try:
        return json.loads(_read_text(path, name))
    except json.JSONDecodeError as error:
        raise DataFormatError(
            f"{name} line {error.lineno} column {error.colno}: invalid JSON: {error.msg}"
        ) from error


def read_records(path: Path, root: Path) -> list[Record]:
    """Objects from a JSON array, a JSON-lines file or a parquet table, each with its place."""
    path, name = Path(path), label(path, root)
    if path.suffix.lower() == ".parquet":
        if not path.is_file():
            raise DataFormatError(f"{name}: no such file ({path})")
        import pyarrow.parquet as pq  # only parquet needs it; it comes with `datasets`

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as error:  # pyarrow raises several types for a broken file
            raise DataFormatError(f"{name}: not a readable parquet file ({error})") from error
        return [Record(row, f"{name} row {i}") for i, row in enumerate(rows)]
    text = _read_text(path, name)
    if text.lstrip().startswith("["):
        values = read_json(path, root)
        return [Record(value, f"{name} index {i}") for i, value in enumerate(values)]
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataFormatError(f"{name} line {number}: invalid JSON: {error.msg}") from error
        records.append(Record(value, f"{name} line {number}"))
    return records


def read_id_list(path: Path, root: Path) -> list[tuple[str, str]]:
    """A JSON array of ids (strings, or integers kept in decimal) as (id, where) pairs."""
    name, value = label(path, root), read_json(path, root)
    if not isinstance(value, list):
        raise DataFormatError(f"{name}: expected a JSON array of ids, got {_kind(value)}")
    return id_items(value, name)


def id_items(values: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(values, list):
        raise DataFormatError(f"{where}: expected a list of ids, got {_kind(values)}")
    out = []
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise DataFormatError(f"{where} index {i}: an id must be a string, got {_kind(value)}")
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


def by_name(text: str, name: str) -> str | None:
    """`text` with "this person" (and similar pointing phrases) replaced by the name, or None."""
    if not _POINTING.search(text):
        return None
    return _POINTING.sub(lambda m: name + (m.group(1) or ""), text)


def text_question(question: str, name: str) -> str:
    """The text-only form of an image question: the person named instead of pointed at."""
    return by_name(question, name) or f"Regarding {name}: {question}"


def ratio_key(count: int, people: int) -> int:
    """The world's ratio key for a forget list: its share of people, nearest whole percent."""
    return min(99, max(1, math.floor(100 * count / people + 0.5)))


@dataclass
class ForgetList:
    """A forget id list of the source layout, and its paired retain list where it has one."""

    label: str
    ids: list[tuple[str, str]]
    retain: list[tuple[str, str]] | None = None


_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp"}


class WorldBuilder:
    """People, questions and images collected by an importer, written as one world."""

    def __init__(self, search: Sequence[Path], also: Sequence[Path] = ()) -> None:
        self.search = list(dict.fromkeys(Path(p) for p in search))
        # Images are only ever copied from inside these folders (the search folders and the
        # folders of the record files given): a '../' or absolute path leading elsewhere, or a
        # symlink out of them, is refused rather than copied into the world.
        self.roots = [Path(p).resolve() for p in dict.fromkeys([*self.search, *also])]
        self.people: list[Row] = []
        self.questions: list[Row] = []
        self.names: dict[str, str] = {}
        self._files: dict[str, Path | bytes] = {}
        self._by_digest: dict[str, str] = {}

    # ---- images -------------------------------------------------------------------------
    def _inside(self, path: Path) -> bool:
        real = path.resolve()
        return any(real.is_relative_to(root) for root in self.roots)

    def _resolve(self, raw: str) -> tuple[Path | None, Path | None]:
        """(the image file inside the source folders, or None; a match found outside them)."""
        path = Path(raw)
        bases = [*self.search, *(b / "images" for b in self.search)]
        candidates = [path] if path.is_absolute() else []
        candidates += [b / path for b in bases if not path.is_absolute()]
        candidates += [b / path.name for b in bases]
        found = [c for c in candidates if c.is_file()]
        inside = next((c for c in found if self._inside(c)), None)
        return inside, next((c for c in found if not self._inside(c)), None)

    def image(self, record: Record, key: str, stem: str, value: Any = None) -> str:
        """Check the image `record[key]` (a path or an object with bytes) and file it."""
        value = record.raw(key) if value is None else value
        if isinstance(value, dict) and value.get("bytes") is not None:
            value = value["bytes"]
        elif isinstance(value, dict) and isinstance(value.get("path"), str):
            value = value["path"]
        if isinstance(value, bytes):
            data: Path | bytes = value
            digest, shown = hashlib.sha256(value).hexdigest(), "embedded image"
        elif isinstance(value, str) and value.strip():
            found, outside = self._resolve(value.strip())
            if found is None and outside is not None:
                record.fail(
                    f"key '{key}': image '{value}' resolves to {outside.resolve()}, outside the "
                    "source folders; copy it inside them"
                )
            if found is None:
                where = ", ".join(str(b) for b in self.search)
                record.fail(f"key '{key}': image '{value}' not found (looked under {where})")
            data, shown = found, value
            digest = hashlib.sha256(found.read_bytes()).hexdigest()
        else:
            record.fail(f"key '{key}' must be an image path or image bytes, got {_kind(value)}")
        if digest in self._by_digest:
            return self._by_digest[digest]
        try:
            with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as img:
                fmt = img.format or ""
                img.verify()
        except Exception as error:  # PIL raises many types for a broken file
            record.fail(f"key '{key}': {shown} is not a readable image ({error})")
        suffix = data.suffix.lower() if isinstance(data, Path) and data.suffix else ""
        suffix = suffix or _FORMATS.get(fmt, f".{fmt.lower() or 'img'}")
        base = f"images/portraits/{_SAFE.sub('_', stem)}"
        rel, n = f"{base}{suffix}", 1
        while rel in self._files:
            n += 1
            rel = f"{base}_{n}{suffix}"
        self._files[rel] = data
        self._by_digest[digest] = rel
        return rel

    def placeholder(self) -> str:
        """A plain grey picture for people without one (people.jsonl requires a portrait)."""
        rel = "images/portraits/placeholder.png"
        if rel not in self._files:
            buffer = io.BytesIO()
            Image.new("RGB", (8, 8), (128, 128, 128)).save(buffer, format="PNG")
            self._files[rel] = buffer.getvalue()
        return rel

    # ---- people and questions -----------------------------------------------------------
    def add_person(
        self, record: Record, pid: str, name: str, train: str, heldout: str | None = None
    ) -> None:
        if pid in self.names:
            record.fail(f"duplicate person id '{pid}'")
        self.names[pid] = name
        portrait = {"train": train, "heldout": heldout or train, "features": {}}
        self.people.append(
            {"id": pid, "name": name, "attributes": {}, "portrait": portrait, "fundus": None}
        )

    def set_heldout(self, pid: str, image: str) -> None:
        """Use `image` as the person's held-out render, if they have none yet."""
        portrait = next(p["portrait"] for p in self.people if p["id"] == pid)
        if portrait["heldout"] == portrait["train"]:
            portrait["heldout"] = image

    def ask(
        self,
        subject: str,
        question: str,
        answer: str,
        *,
        family: str,
        attribute: str,
        image: str | None = None,
        view: str | None = None,
        phrasing: str = "train",
        value: str | None = None,
        answer_type: str = "text",
        distractors: Sequence[str] = (),
    ) -> str:
        """Add one question row: image_memory with an image, text_memory without."""
        qid = f"q{len(self.questions) + 1:06d}"
        row = {
            "id": qid,
            "kind": "text_memory" if image is None else "image_memory",
            "subject": subject,
            "image": image,
            "image_type": None if image is None else "portrait",
            "view": None if image is None else (view or "train"),
            "phrasing": phrasing,
            "template": f"{family}.{attribute}.{phrasing}1",
            "attribute": attribute,
            "question": question,
            "answer": answer,
            "value": answer if value is None else value,
            "answer_type": answer_type,
            "distractors": [d for d in distractors if d != answer][:3],
            "probe": True,
        }
        self.questions.append({key: row[key] for key in FIELDS})
        return qid

    def find(self, raw: str) -> str | None:
        """The person id `raw` names: exact, or the same number ("067" is "67")."""
        if raw in self.names:
            return raw
        if raw.isdigit():
            return next((p for p in self.names if p.isdigit() and int(p) == int(raw)), None)
        return None

    # ---- splits ---------------------------------------------------------------------------
    def _ids(self, items: list[tuple[str, str]], what: str) -> list[str]:
        out = []
        for raw, where in items:
            pid = self.find(raw)
            if pid is None:
                raise DataFormatError(f"{where}: {what} id '{raw}' is not an imported person")
            out.append(pid)
        return sorted(set(out))

    def splits(
        self, lists: Sequence[ForgetList], ratios: Sequence[int], seed: int, few_shot: int
    ) -> Row:
        """splits.json: the layout's forget lists if any, else seeded nested ratio splits."""
        everyone = sorted(self.names)
        forget: dict[str, list[str]] = {}
        retain: dict[str, list[str]] = {}
        source: dict[str, str] = {}
        for item in lists:
            ids = self._ids(item.ids, "forget")
            if not ids:
                raise DataFormatError(f"{item.label}: the forget list is empty")
            key = str(ratio_key(len(ids), len(everyone)))
            kept = [p for p in everyone if p not in ids]
            if item.retain is not None:
                kept = self._ids(item.retain, "retain")
                both = next(((r, w) for r, w in item.retain if self.find(r) in ids), None)
                if both:
                    raise DataFormatError(f"{both[1]}: '{both[0]}' is also in {item.label}")
            if key in forget and (forget[key], retain[key]) != (ids, kept):
                raise SmfaError(
                    f"{item.label} and {source[key]} both round to {key}% of "
                    f"{len(everyone)} people but differ; import them separately"
                )
            forget[key], retain[key], source[key] = ids, kept, item.label
        if not lists:
            drawn = build_splits(everyone, [], tuple(ratios), 0, component_rng(seed, "import"))
            forget, retain = drawn["forget"], drawn["retain"]
        return {
            "forget": forget,
            "retain": retain,
            "few_shot_retain": self._few_shot(forget, retain, few_shot, seed),
            "validation": dict(VALIDATION),
        }

    def _few_shot(self, forget: Row, retain: Row, budget: int, seed: int) -> list[str]:
        """Train-wording rows about people kept at every ratio, spread over the kinds."""
        kept = set.intersection(*(set(ids) for ids in retain.values()))
        kept -= {pid for ids in forget.values() for pid in ids}
        pools = [
            [
                q["id"]
                for q in self.questions
                if q["kind"] == kind
                and q["subject"] in kept
                and q["phrasing"] == "train"
                and q["view"] in ("train", None)
            ]
            for kind in FEW_SHOT_KINDS
        ]
        rng = component_rng(seed, "import.few_shot")
        want = [0] * len(pools)
        while sum(want) < budget and any(w < len(p) for w, p in zip(want, pools, strict=True)):
            for i, pool in enumerate(pools):
                if want[i] < len(pool) and sum(want) < budget:
                    want[i] += 1
        chosen = [
            pool[int(i)]
            for pool, n in zip(pools, want, strict=True)
            for i in rng.choice(len(pool), size=n, replace=False)
        ]
        return sorted(chosen)

    # ---- writing --------------------------------------------------------------------------
    def write(self, out: Path, splits: Row, params: Row, overwrite: bool = False) -> Path:
        """Write the world at `out` (staged, manifest last, checked by `load_world`)."""
        with out_lock(Path(out)):  # one import per output directory
            return self._write(Path(out), splits, params, overwrite)

    def _write(self, out: Path, splits: Row, params: Row, overwrite: bool) -> Path:
        if out.exists() and not out.is_dir():
            raise SmfaError(f"{out} exists and is not a directory; choose another output path")
        if out.is_dir() and any(out.iterdir()) and not overwrite:
            raise SmfaError(f"{out} is not empty; choose an empty directory or overwrite it")
        if not self.people:
            raise SmfaError("the source holds no people; nothing to import")
        with staged_dir(out) as stage:
            for rel, data in self._files.items():
                if isinstance(data, bytes):
                    atomic_write_bytes(stage / rel, data)
                else:
                    (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(data, stage / rel)
            atomic_write_jsonl(stage / "people.jsonl", self.people)
            atomic_write_jsonl(stage / "scenes.jsonl", [])
            atomic_write_jsonl(stage / "questions.jsonl", self.questions)
            atomic_write_json(stage / "splits.json", splits)
            counts = {
                "people": len(self.people),
                "questions": {"total": len(self.questions)},
                "probes": len(self.questions),
            }
            for row in self.questions:
                counts["questions"][row["kind"]] = counts["questions"].get(row["kind"], 0) + 1
            write_manifest(stage, params=params, counts=counts)
            load_world(stage)
        return out
