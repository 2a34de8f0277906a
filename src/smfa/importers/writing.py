"""Writing an imported world: the output rule, the staged write, and the check that ends it.

The output may be absent, an empty directory, or (with `overwrite`) a world an smfa command
wrote, recognised by its marker file (`smfa.world.build.WORLD_MARKER`); any other folder is
refused before anything is read or removed. The world is written into a staging directory
(images, data files, the marker, the manifest last), checked by `load_world`, and renamed into
place. A problem `load_world` finds in a row is reported at the source record the row came
from (`SourceMap`), never as a line of the world being written.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smfa.data.format import load_world
from smfa.errors import DataFormatError, SmfaError
from smfa.io import atomic_write_bytes, atomic_write_json, atomic_write_jsonl, out_lock, staged_dir
from smfa.world.build import WORLD_MARKER, write_manifest, write_marker

Row = dict[str, Any]
TASKS_FILE = "tasks.jsonl"
_ROW_ERROR = re.compile(r"^(people|questions|tasks)\.jsonl line (\d+)(?:, |: )(.*)$", re.S)


@dataclass
class SourceMap:
    """For each row of people.jsonl, questions.jsonl and tasks.jsonl: its source record."""

    people: list[str | None] = field(default_factory=list)
    questions: list[str | None] = field(default_factory=list)
    tasks: list[str | None] = field(default_factory=list)

    def locate(self, error: DataFormatError) -> DataFormatError:
        """`error` about a world row, restated at the row's source record when it is known."""
        found = _ROW_ERROR.match(str(error))
        if found is None:
            return DataFormatError(f"the imported world fails its check: {error}")
        rows = getattr(self, found.group(1))
        index = int(found.group(2)) - 1
        where = rows[index] if 0 <= index < len(rows) else None
        if where is None:
            return DataFormatError(f"the imported world fails its check: {error}")
        return DataFormatError(f"{where}: {found.group(3)}")


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse an output the import must not write over (see the module doc)."""
    if out.exists() and not out.is_dir():
        raise SmfaError(f"{out} exists and is not a directory; choose another output path")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise SmfaError(f"{out} is not empty; choose an empty directory or overwrite it")
    if not (out / WORLD_MARKER).is_file():
        raise SmfaError(
            f"{out} holds no {WORLD_MARKER}, so no smfa command wrote it; --overwrite only "
            "replaces a world smfa made, choose an empty or new directory"
        )


def write_world(
    out: Path,
    files: dict[str, Path | bytes],
    data: dict[str, list[Row]],
    splits: Row,
    params: Row,
    overwrite: bool,
    sources: SourceMap,
) -> Path:
    """Write people, questions, tasks (when any), splits and `files` as the world at `out`."""
    with out_lock(out):  # one import per output directory
        check_output(out, overwrite)
        with staged_dir(out) as stage:
            for rel, content in files.items():
                if isinstance(content, bytes):
                    atomic_write_bytes(stage / rel, content)
                else:
                    (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(content, stage / rel)
            atomic_write_jsonl(stage / "people.jsonl", data["people"])
            atomic_write_jsonl(stage / "scenes.jsonl", [])
            atomic_write_jsonl(stage / "questions.jsonl", data["questions"])
            if data["tasks"]:
                atomic_write_jsonl(stage / TASKS_FILE, data["tasks"])
            atomic_write_json(stage / "splits.json", splits)
            questions = data["questions"]
            counts = {
                "people": len(data["people"]),
                "questions": {"total": len(questions), **Counter(q["kind"] for q in questions)},
                "probes": sum(bool(q["probe"]) for q in questions),
                "tasks": len(data["tasks"]),
            }
            write_marker(stage, f"smfa import {params.get('importer', '')}".strip())
            write_manifest(stage, params=params, counts=counts)
            try:
                load_world(stage)
            except DataFormatError as error:
                raise sources.locate(error) from error
    return out
