"""A subset of a benchmark's people for a quick run: `--people N` or `--ids FILE`.

`--ids FILE` keeps exactly the people listed (a JSON array of ids, or one id per line; `#`
starts a comment). `--people N` keeps N people chosen from a seed: draw k (k = 0, 1, ...)
orders the people by a permutation from `component_rng(seed, "import.subset", k)`, takes from
each forget list (in file order) its first member in that order unless one is taken already,
then fills up to N in that order. The first draw in which every forget list keeps a member,
every ratio keeps someone retained, and the lists keep distinct ratio keys (a list's
published name, or its share of the N people) is the subset; the same seed always gives the
same people.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from smfa.errors import DataFormatError, SmfaError
from smfa.importers.common import ForgetList
from smfa.world import component_rng

DRAWS = 2000


def id_key(raw: str) -> str:
    """How ids are matched: as given, or as a number ("067" is "67")."""
    return str(int(raw)) if raw.isdigit() else raw


def read_ids(path: Path) -> list[str]:
    """The ids of an --ids file: a JSON array of ids, or one id per line (`#` comments)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DataFormatError(f"{path}: cannot read the id list ({error})") from error
    if text.lstrip().startswith("["):
        try:
            values = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as error:
            raise DataFormatError(f"{path}: not a JSON array of ids ({error})") from error
        bad = next((v for v in values if isinstance(v, bool) or not isinstance(v, str | int)), 0)
        if not isinstance(values, list) or bad != 0:
            raise DataFormatError(f"{path}: expected a JSON array of ids (strings)")
        ids = [str(v) for v in values]
    else:
        ids = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        ids = [i for i in ids if i]
    if not ids:
        raise DataFormatError(f"{path}: the id list is empty")
    return ids


def _members(lists: Sequence[ForgetList]) -> list[set[str]]:
    return [{id_key(raw) for raw, _ in item.ids} for item in lists]


def _fits(chosen: set[str], members: list[set[str]], lists: Sequence[ForgetList]) -> bool:
    counts = [len(chosen & m) for m in members]
    if min(counts, default=1) < 1 or max(counts, default=0) >= len(chosen):
        return False
    keys: dict[int, frozenset[str]] = {}
    for count, member, item in zip(counts, members, lists, strict=True):
        key, kept = item.key(len(chosen), count), frozenset(chosen & member)
        if keys.setdefault(key, kept) != kept:
            return False
    return True


def choose_people(
    people: Sequence[str], lists: Sequence[ForgetList], count: int, seed: int
) -> set[str]:
    """The id keys of `count` people drawn as the module doc says."""
    keys = [id_key(p) for p in people]
    if count < 2 or count > len(keys):
        raise SmfaError(f"--people must be between 2 and {len(keys)} here, got {count}")
    members = _members(lists)
    if len(members) >= count:
        raise SmfaError(
            f"--people {count} cannot keep a member of each of the {len(members)} forget lists "
            "and someone retained; choose more people"
        )
    for draw in range(DRAWS):
        rng = component_rng(seed, "import.subset", draw)
        order = [keys[int(i)] for i in rng.permutation(len(keys))]
        chosen: list[str] = []
        for member in members:
            if not member & set(chosen):
                chosen.append(next(p for p in order if p in member))
        chosen += [p for p in order if p not in chosen][: count - len(chosen)]
        if _fits(set(chosen), members, lists):
            return set(chosen)
    raise SmfaError(
        f"no choice of {count} people keeps every forget list non-empty with distinct ratios "
        f"after {DRAWS} draws; choose more people or name them with --ids"
    )


def check_ids(
    wanted: Sequence[str], people: Sequence[str], lists: Sequence[ForgetList]
) -> set[str]:
    """The id keys an --ids list keeps; an unknown id or an emptied forget list is an error."""
    known = {id_key(p) for p in people}
    keys = {id_key(raw) for raw in wanted}
    unknown = sorted(keys - known)
    if unknown:
        raise SmfaError(f"--ids names {', '.join(unknown[:5])}, not people of the source")
    for item, member in zip(lists, _members(lists), strict=True):
        if not keys & member:
            raise SmfaError(
                f"--ids keeps no member of {item.label}; add one of "
                f"{', '.join(sorted(raw for raw, _ in item.ids)[:5])}"
            )
    return keys
