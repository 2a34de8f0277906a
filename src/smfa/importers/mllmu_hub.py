"""MLLMU-Bench as the Hugging Face hub publishes it: config folders of parquet files.

A local copy of `MLLMMU/MLLMU-Bench` holds one folder per config, each with one or more
`train-0000K-of-0000N.parquet` files (read in name order, rows numbered within each file):

- `ft_Data` (required): `image` (the datasets Image struct {bytes, path}), `ID`, `metadata`
  (JSON text: a list of {ID, Question, Answer}), one row per fictitious person;
- `forget_N` / `retain_M`: one row per person of that split (`ID` is the membership;
  `forget_N` pairs with `retain_{100-N}`), with `image`, `biography`, `question`, `answer`
  and the person's evaluation tasks (`Classification_Task`, `Generation_Task`, `Mask_Task`);
- `Full_Set` (optional): the same for all fictitious people, plus `Directory`;
- `Retain_Set` (optional): real celebrities, the columns of `Full_Set`;
- `Test_Set` (optional): `ID`, `images` (a list of re-rendered portraits) and the tasks.

`biography`, `question` and `answer` are not imported: the fine-tuning QA is `ft_Data`'s.
Every row is read inside `Problems.record`, so all invalid rows are reported together.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smfa.errors import DataFormatError
from smfa.importers.common import ForgetList, WorldBuilder
from smfa.importers.mllmu_records import TASK_KEYS, Sources, celebrity, evaluation, profile
from smfa.importers.problems import Problems
from smfa.importers.sources import Record, kind_of, label, parse_json, read_parquet

FINE_TUNING = "ft_Data"
SPLIT_CONFIG = re.compile(r"(forget|retain)_(\d+)")
COLUMNS: dict[str, tuple[str, ...]] = {
    FINE_TUNING: ("image", "ID", "metadata"),
    "split": ("image", "ID", *TASK_KEYS),
    "Full_Set": ("image", "ID", *TASK_KEYS),
    "Retain_Set": ("image", "ID", *TASK_KEYS),
    "Test_Set": ("ID", "images", *TASK_KEYS),
}


def is_hub_layout(source: Path) -> bool:
    return (Path(source) / FINE_TUNING).is_dir()


def _rows(source: Path, config: str, columns: tuple[str, ...]) -> Iterator[tuple[Any, str]]:
    """Each row of a config's parquet files with where it is; a missing column is an error."""
    import pyarrow.parquet as pq

    files = sorted((source / config).glob("*.parquet"))
    if not files:
        raise DataFormatError(f"{config}/: no .parquet files in this config folder")
    for path in files:
        name = label(path, source)
        try:
            present = set(pq.read_schema(path).names)
        except Exception as error:  # pyarrow raises several types for a broken file
            raise DataFormatError(f"{name}: not a readable parquet file ({error})") from error
        missing = [c for c in columns if c not in present]
        if missing:
            raise DataFormatError(
                f"{name}: no column {', '.join(repr(c) for c in missing)} (it has "
                f"{', '.join(sorted(present))})"
            )
        yield from read_parquet(path, name)


def _fine_tuning(source: Path, builder: WorldBuilder, problems: Problems, out: Sources) -> None:
    for row, where in _rows(source, FINE_TUNING, COLUMNS[FINE_TUNING]):
        with problems.record() as mark:
            record = Record(row, where)
            mark.person = record.ident("ID")
            items = parse_json(record.text("metadata"), f"{where}, key 'metadata'", lines=False)
            if not isinstance(items, list):
                record.fail(
                    "key 'metadata' must hold a JSON list of {ID, Question, Answer} objects, "
                    f"got {kind_of(items)}"
                )
            entries = [Record(item, f"{where}, metadata[{i}]") for i, item in enumerate(items)]
            out.profiles.append(profile(builder, record, entries, "image"))


def _split(
    source: Path, config: str, builder: WorldBuilder, problems: Problems, out: Sources
) -> list[tuple[str, str]]:
    """The (id, where) pairs of a forget_/retain_ config; its tasks go to `out`."""
    ids = []
    for row, where in _rows(source, config, COLUMNS["split"]):
        with problems.record() as mark:
            record = Record(row, where)
            mark.person = record.ident("ID")
            found = evaluation(builder, record, "profile", "image")
            ids.append((mark.person, f"{where}, key 'ID'"))
            if found is not None:
                out.evaluations.append(found)
    return ids


def _optional(source: Path, builder: WorldBuilder, problems: Problems, out: Sources) -> None:
    """Test_Set, Full_Set and Retain_Set, each when its folder is there."""
    for config, kind, image in (
        ("Test_Set", "test", "images"),
        ("Full_Set", "profile", "image"),
        ("Retain_Set", "celebrity", "image"),
    ):
        if not (source / config).is_dir():
            continue
        for row, where in _rows(source, config, COLUMNS[config]):
            with problems.record() as mark:
                record = Record(row, where)
                mark.person = record.ident("ID")
                if kind == "celebrity":
                    person = celebrity(builder, record)
                    mark.person = person.pid
                    out.celebrities.append(person)
                found = evaluation(builder, record, kind, image)
                if found is not None:
                    found.raw_id = mark.person
                    out.evaluations.append(found)


def read_hub(source: Path, builder: WorldBuilder, problems: Problems) -> Sources:
    """Every config of the hub layout at `source` (see the module doc)."""
    source = Path(source)
    out = Sources("hub")
    _fine_tuning(source, builder, problems, out)
    folders = {p.name: p for p in source.iterdir() if p.is_dir()}
    splits = {
        (m.group(1), int(m.group(2))): name
        for name in folders
        if (m := SPLIT_CONFIG.fullmatch(name))
    }
    for (kind, share), config in sorted(splits.items()):
        if kind == "retain" and ("forget", 100 - share) in splits:
            continue  # read with its forget list below
        ids = _split(source, config, builder, problems, out)
        if kind == "forget":
            paired = splits.get(("retain", 100 - share))
            retain = None if paired is None else _split(source, paired, builder, problems, out)
            out.lists.append(ForgetList(config, ids, retain))
    _optional(source, builder, problems, out)
    return out
