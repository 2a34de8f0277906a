"""What every importer shares: people, images, question rows, splits, and the world they make.

An importer reads a public benchmark layout (docs/data-format.md, "Importing public
benchmarks") from local files only, through `smfa.importers.sources`, and collects people and
questions in a `WorldBuilder`, which copies images into `images/portraits/`, draws the
forget/retain splits and the few-shot retain budget, and writes the world through
`smfa.importers.writing`: staged, checked by `load_world`, renamed into place last. A failed
import leaves `out` untouched.

Every question row remembers the source record it came from, so a problem is reported there
(file, row or line, key), never as a line of the world being written.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from smfa.data.fields import MAX_TEXT_CHARS
from smfa.errors import DataFormatError, SmfaError
from smfa.importers.sources import Record, kind_of
from smfa.importers.writing import SourceMap, write_world
from smfa.vocab import PERSON_KINDS, Kind
from smfa.world import component_rng
from smfa.world.questions import FIELDS
from smfa.world.splits import VALIDATION, build_splits

Row = dict[str, Any]
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
POINTING = re.compile(
    r"\b(?:this person|this individual|the person (?:in|shown in) (?:the|this) "
    r"(?:image|picture|photo))('s)?",
    re.IGNORECASE,
)


def by_name(text: str, name: str, pointing: re.Pattern[str] = POINTING) -> str | None:
    """`text` with "this person" (and similar pointing phrases) replaced by the name, or None.

    `pointing` is the phrase pattern; its group 1, when it matched, is a possessive kept."""
    if not pointing.search(text):
        return None
    return pointing.sub(lambda m: name + (m.group(1) or ""), text)


def text_question(question: str, name: str) -> str:
    """The text-only form of an image question: the person named instead of pointed at."""
    return by_name(question, name) or f"Regarding {name}: {question}"


def ratio_key(count: int, people: int) -> int:
    """The world's ratio key for an unnamed forget list: its share of people, nearest whole
    percent."""
    return min(99, max(1, math.floor(100 * count / people + 0.5)))


_NAMED_RATIO = re.compile(r"(?:^|[/_\\-])forget[_-]?0*([1-9][0-9]?)(?:[._/-]|$)", re.IGNORECASE)


@dataclass
class ForgetList:
    """A forget id list of the source layout, and its paired retain list where it has one."""

    label: str
    ids: list[tuple[str, str]]
    retain: list[tuple[str, str]] | None = None

    def key(self, people: int, count: int | None = None) -> int:
        """The world's ratio key: the percentage the layout names the list by (MLLMU-Bench's
        `forget_10`, TOFU's `forget05`) whatever share of the imported people it is, so
        `--forget-ratio 10` is the published forget_10; else its share of `people`."""
        named = _NAMED_RATIO.search(self.label)
        if named:
            return int(named.group(1))
        return ratio_key(len(self.ids) if count is None else count, people)


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
        self.sources = SourceMap()

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
            record.fail(f"key '{key}' must be an image path or image bytes, got {kind_of(value)}")
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

    def add_bytes(self, stem: str, data: bytes, suffix: str = ".png") -> str:
        """File an image made by the importer itself (a held-out render) under `stem`."""
        rel = f"images/portraits/{_SAFE.sub('_', stem)}{suffix}"
        self._files[rel] = data
        self._by_digest.setdefault(hashlib.sha256(data).hexdigest(), rel)
        return rel

    def image_bytes(self, rel: str) -> bytes:
        """The bytes of an image already filed at `rel`."""
        data = self._files[rel]
        return data if isinstance(data, bytes) else data.read_bytes()

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
        self.sources.people.append(record.where)

    def set_heldout(self, pid: str, image: str) -> None:
        """Use `image` as the person's held-out render, if they have none yet."""
        portrait = next(p["portrait"] for p in self.people if p["id"] == pid)
        if portrait["heldout"] == portrait["train"]:
            portrait["heldout"] = image

    def ask(
        self,
        subject: str | None,
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
        template: str | None = None,
        kind: str | None = None,
        where: str | None = None,
    ) -> str:
        """Add one question row: image_memory with an image, text_memory without (or `kind`).

        `where` is the source record the row comes from; a question or answer too long for
        a world is reported there."""
        for what, text in (("question", question), ("answer", answer)):
            if len(text) > MAX_TEXT_CHARS:
                raise DataFormatError(
                    f"{where or 'a source record'}: the {what} is {len(text):,} characters "
                    f"long; a world allows {MAX_TEXT_CHARS:,}"
                )
        qid = f"q{len(self.questions) + 1:06d}"
        row = {
            "id": qid,
            "kind": kind or (Kind.TEXT_MEMORY if image is None else Kind.IMAGE_MEMORY),
            "subject": subject,
            "image": image,
            "image_type": None if image is None else "portrait",
            "view": None if image is None else (view or "train"),
            "phrasing": phrasing,
            "template": template or f"{family}.{attribute}.{phrasing}1",
            "attribute": attribute,
            "question": question,
            "answer": answer,
            "value": answer if value is None else value,
            "answer_type": answer_type,
            "distractors": [d for d in distractors if d != answer][:3],
            "probe": True,
        }
        self.questions.append({key: row[key] for key in FIELDS})
        self.sources.questions.append(where)
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
        self,
        lists: Sequence[ForgetList],
        ratios: Sequence[int],
        seed: int,
        few_shot: int,
        always_retained: Sequence[str] = (),
    ) -> Row:
        """splits.json: the layout's forget lists if any, else seeded nested ratio splits.

        A ratio key is a forget list's share of the people, nearest whole percent; the people
        in `always_retained` are in every retain list and count in no share."""
        extra = sorted(always_retained)
        everyone = sorted(set(self.names) - set(extra))
        forget: dict[str, list[str]] = {}
        retain: dict[str, list[str]] = {}
        source: dict[str, str] = {}
        for item in lists:
            ids = self._ids(item.ids, "forget")
            if not ids:
                raise DataFormatError(f"{item.label}: the forget list is empty")
            key = str(item.key(len(everyone), len(ids)))
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
        retain = {key: sorted({*ids, *extra}) for key, ids in retain.items()}
        return {
            "forget": forget,
            "retain": retain,
            "few_shot_retain": self._few_shot(forget, retain, few_shot, seed),
            "validation": dict(VALIDATION),
        }

    def _few_shot(self, forget: Row, retain: Row, budget: int, seed: int) -> list[str]:
        """Train-phrasing rows about people kept at every ratio, spread over the kinds."""
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
            for kind in PERSON_KINDS
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
    def write(
        self,
        out: Path,
        splits: Row,
        params: Row,
        overwrite: bool = False,
        tasks: Sequence[Row] = (),
    ) -> Path:
        """Write the world at `out` (staged, manifest last, checked by `load_world`); only the
        images that a person or a question names are written."""
        if not self.people:
            raise SmfaError("the source holds no people; nothing to import")
        named = {p["portrait"][view] for p in self.people for view in ("train", "heldout")}
        named |= {q["image"] for q in self.questions if q["image"]}
        named |= {t["image"] for t in tasks if t.get("image")}
        files = {rel: data for rel, data in self._files.items() if rel in named}
        data = {"people": self.people, "questions": self.questions, "tasks": list(tasks)}
        return write_world(Path(out), files, data, splits, params, overwrite, self.sources)
