"""A world's manifest: its format and version, and the hash of every file it lists.

`read_manifest` checks that a directory is a world this smfa reads; `check_hashes` that every
data file is listed, inside the world, and hashes to what the manifest says (a world edited
by hand gets its manifest rewritten by `smfa.world.build.write_manifest`).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from smfa.data.fields import Fields, read_object
from smfa.errors import DataFormatError
from smfa.io import canonical_json, sha256_file, sha256_text
from smfa.world.build import FORMAT_NAME, FORMAT_VERSION, MANIFEST

DATA_FILES = ("people.jsonl", "scenes.jsonl", "questions.jsonl", "splits.json")
TASKS_FILE = "tasks.jsonl"  # optional: a benchmark's own evaluation items


def read_manifest(root: Path) -> dict[str, Any]:
    if not root.is_dir():
        raise DataFormatError(f"{root}: no such world directory")
    if not (root / MANIFEST).is_file():
        raise DataFormatError(
            f"{root}: no {MANIFEST}; not a world directory (see docs/data-format.md)"
        )
    manifest = read_object(root, MANIFEST, f"{MANIFEST}, {', '.join(DATA_FILES)}")
    record = Fields(manifest, MANIFEST)
    if manifest.get("format") != FORMAT_NAME:
        record.fail(f"format is {manifest.get('format')!r}, expected '{FORMAT_NAME}'")
    if manifest.get("version") != FORMAT_VERSION:
        record.fail(
            f"version {manifest.get('version')!r} is not supported; this smfa reads "
            f"version {FORMAT_VERSION}"
        )
    record.mapping("files")
    record.text("world_hash")
    return manifest


def check_hashes(root: Path, manifest: dict[str, Any]) -> None:
    files: dict[str, str] = manifest["files"]
    present = (TASKS_FILE,) if (root / TASKS_FILE).is_file() else ()
    for name in (*DATA_FILES, *present):
        if name not in files:
            raise DataFormatError(
                f"{MANIFEST} does not list {name}; rewrite the manifest "
                "(smfa.world.build.write_manifest)"
            )
    real_root = root.resolve()
    for rel, digest in files.items():
        path = root / rel
        parts = PurePosixPath(rel).parts
        if not rel or PurePosixPath(rel).is_absolute() or ".." in parts or "\\" in rel:
            raise DataFormatError(f"{MANIFEST} lists '{rel}', which is not a path inside the world")
        if path.exists() and not path.resolve().is_relative_to(real_root):
            raise DataFormatError(
                f"{MANIFEST} lists {rel}, which leads outside the world to {path.resolve()}"
            )
        if not path.is_file():
            raise DataFormatError(f"{MANIFEST} lists {rel} but it is missing")
        actual = sha256_file(path)
        if actual != digest:
            raise DataFormatError(
                f"hash mismatch for {rel}: {MANIFEST} says {digest[:12]}..., "
                f"the file is {actual[:12]}..."
            )
    if sha256_text(canonical_json(files)) != manifest["world_hash"]:
        raise DataFormatError(f"{MANIFEST}: world_hash does not match its file list")
