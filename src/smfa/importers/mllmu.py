"""Import MLLMU-Bench into a world (docs/data-format.md, "MLLMU-Bench").

Two layouts, both from local files:

- the hub layout, as `MLLMMU/MLLMU-Bench` publishes it (a folder per config of parquet files,
  `smfa.importers.mllmu_hub`), used when `source` has an `ft_Data/` folder;
- the JSON layout: fine-tuning records (`records`; by default the one .json/.jsonl/.parquet
  file at the top of `source`), one per person, `{"image_path": ..., "metadata": [{"ID",
  "Question", "Answer"}, ...]}` (an `ID` or `name` key on the record is used too); id lists
  `forget_N/forget_ids.json` and `retain_{100-N}/retain_ids.json` anywhere under `source`; and
  optionally evaluation records (`evaluation`), read as `Test_Set` rows.

Every record is read before any is used: all invalid ones are reported at once (file,
row/line/index, key, why), or with `skip_invalid` dropped together with their ids from every
split list. A subset (`people` or `ids`, `smfa.importers.subset`) then keeps some people. How
the rest becomes a world is `smfa.importers.mllmu_build`'s; the splits are the source's forget
lists, each keyed by the nearest whole percent of the imported fictitious people (forget_5 of
500 is "5"), with its paired retain list; without lists, seeded nested sets at `ratios`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from smfa.errors import SmfaError
from smfa.importers.common import ForgetList, WorldBuilder
from smfa.importers.mllmu_build import assemble
from smfa.importers.mllmu_hub import is_hub_layout, read_hub
from smfa.importers.mllmu_records import Sources, evaluation, profile
from smfa.importers.problems import Problems
from smfa.importers.sources import (
    Record,
    label,
    only_records_file,
    read_id_list,
    read_records,
)
from smfa.importers.subset import check_ids, choose_people, id_key, read_ids
from smfa.importers.writing import check_output


def _forget_lists(source: Path) -> list[ForgetList]:
    lists = []
    for path in sorted(source.rglob("forget_*/forget_ids.json")):
        share = path.parent.name.removeprefix("forget_")
        retain = None
        if share.isdigit():
            paired = path.parent.parent / f"retain_{100 - int(share)}" / "retain_ids.json"
            retain = read_id_list(paired, source) if paired.is_file() else None
        lists.append(ForgetList(label(path, source), read_id_list(path, source), retain))
    return lists


def _claimed_id(record: Record) -> str | None:
    """The id a record says it is about, read leniently (an invalid record keeps it too)."""
    items = record.data.get("metadata")
    first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    found = record.data.get("ID", first.get("ID"))
    return str(found) if isinstance(found, str | int) and not isinstance(found, bool) else None


def _read_json_layout(
    source: Path, records: Path, found: Sources, builder: WorldBuilder, problems: Problems,
    tests: Path | None,
) -> None:  # fmt: skip
    for record in read_records(records, source, problems):
        with problems.record() as mark:
            mark.person = _claimed_id(record)
            found.profiles.append(profile(builder, record, record.records("metadata"),
                                          "image_path"))  # fmt: skip
    found.lists = _forget_lists(source)
    for record in read_records(tests, source, problems) if tests is not None else []:
        with problems.record() as mark:
            mark.person = record.ident("ID")
            key = "image" if record.has("image") else "images" if record.has("images") else None
            read = evaluation(builder, record, "test", key)
            if read is not None:
                found.evaluations.append(read)


def _cross_check(found: Sources, problems: Problems) -> None:
    """Duplicate people, and split or evaluation ids that name nobody, as problems."""
    first: dict[str, str] = {}
    for person in found.profiles:
        key = id_key(person.pid)
        if key in first:
            problems.add(person.pid, f"{person.record.where}: key 'ID': duplicate person id "
                                     f"'{person.pid}' (first in {first[key]})")  # fmt: skip
        first.setdefault(key, person.record.where)
    known = set(first) | {id_key(p) for p in problems.ids}
    known |= {c.pid for c in found.celebrities}
    for item in found.lists:
        forgotten = {id_key(raw) for raw, _ in item.ids}
        for what, ids in (("forget", item.ids), ("retain", item.retain or [])):
            for raw, where in ids:
                if id_key(raw) not in known:
                    problems.add(raw, f"{where}: {what} id '{raw}' is not an imported person")
                elif what == "retain" and id_key(raw) in forgotten:
                    problems.add(raw, f"{where}: '{raw}' is also in {item.label}")
    for ev in found.evaluations:
        if id_key(ev.raw_id) not in known:
            problems.add(ev.raw_id, f"{ev.where}: key 'ID': '{ev.raw_id}' is not a person of "
                                    "the fine-tuning records")  # fmt: skip


def _keep(found: Sources, keys: set[str], why: str) -> None:
    """Keep only the people whose id key is in `keys`, in every part of `found`."""
    found.profiles = [p for p in found.profiles if id_key(p.pid) in keys]
    found.celebrities = [c for c in found.celebrities if c.pid in keys]
    found.evaluations = [e for e in found.evaluations if id_key(e.raw_id) in keys]
    for item in found.lists:
        item.ids = [(raw, w) for raw, w in item.ids if id_key(raw) in keys]
        if item.retain is not None:
            item.retain = [(raw, w) for raw, w in item.retain if id_key(raw) in keys]
        if not item.ids:
            raise SmfaError(f"{item.label}: no member is left {why}")


def _subset(found: Sources, people: int | None, ids: Path | None, seed: int) -> None:
    if people is not None and ids is not None:
        raise SmfaError("give --people or --ids, not both")
    pids = [p.pid for p in found.profiles]
    if people is not None:
        _keep(found, choose_people(pids, found.lists, people, seed), "in the subset")
    elif ids is not None:
        wanted = read_ids(ids)
        celebrities = {c.pid for c in found.celebrities} & set(wanted)
        fictitious = [i for i in wanted if i not in celebrities]
        _keep(found, check_ids(fictitious, pids, found.lists) | celebrities, "in the subset")


def import_mllmu(
    source: Path,
    out: Path,
    *,
    records: Path | None = None,
    evaluation: Path | None = None,
    images: Path | None = None,
    ratios: Sequence[int] = (5, 10, 15),
    seed: int = 0,
    few_shot: int = 64,
    overwrite: bool = False,
    skip_invalid: bool = False,
    people: int | None = None,
    ids: Path | None = None,
    unknown_people: int | None = None,
) -> Path:
    """Import the MLLMU-Bench copy at `source` into a world at `out`; return `out`.

    `images` is one more folder to look for the JSON layout's images in (besides the
    records' folder and `source`, and their `images/` subfolders)."""
    source, out = Path(source), Path(out)
    check_output(out, overwrite)  # before any work: a folder smfa did not write is refused
    problems = Problems()
    if records is None and is_hub_layout(source):
        if evaluation is not None:
            raise SmfaError("the hub layout reads its own Test_Set; it takes no --evaluation")
        builder = WorldBuilder([source, *([Path(images)] if images else [])])
        found = read_hub(source, builder, problems)
    else:
        records = Path(records) if records is not None else only_records_file(source)
        search = [records.parent, source, *([Path(images)] if images is not None else [])]
        also = [Path(evaluation).parent] if evaluation else []
        builder, found = WorldBuilder(search, also=also), Sources("json")
        _read_json_layout(source, records, found, builder, problems, evaluation)
    _cross_check(found, problems)
    dropped = problems.check(skip_invalid)
    keys = {id_key(p.pid) for p in found.profiles} | {c.pid for c in found.celebrities}
    _keep(found, keys - {id_key(d) for d in dropped}, "after dropping the invalid records")
    _subset(found, people, ids, seed)
    tasks, unknown = assemble(builder, found, seed, unknown_people)
    splits = builder.splits(found.lists, ratios, seed, few_shot,
                            [c.pid for c in found.celebrities])  # fmt: skip
    params = {
        "importer": "mllmu", "layout": found.layout, "source": str(source), "seed": seed,
        "few_shot": few_shot, "people": people, "ids": None if ids is None else str(ids),
        "unknown_people": unknown, "skipped_records": len(problems.found),
        "dropped_ids": sorted(dropped),
    }  # fmt: skip
    return builder.write(out, splits, params, overwrite, tasks)
