"""results.json, results.csv and generations-*.jsonl: what an evaluation leaves on disk.

results.json holds one list of rows (`smfa.eval.rows.Row`: model, probe, split, kind,
image_type, phrasing, view, metric, value, n, higher_is_better), the plain probe's and every
attack's, and what produced them; rows of several models live side by side, and re-evaluating a
model replaces only its own rows. Every write is atomic. Its keys and their allowed values are
documented in docs/results-format.md; readers accept every schema in `READABLE_SCHEMAS` (older
ones are upgraded as they are read, `upgrade`) and refuse any other.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from smfa.errors import SmfaError
from smfa.io import atomic_write_json, atomic_write_jsonl, atomic_write_text, check_out_dir

# 3: one `rows` list, each row naming its probe ("plain" or an attack). 2 kept attack rows in a
# list of their own (`attacks`), 1 had none; both are read (upgraded to 3), a merge writes 3.
RESULTS_SCHEMA = 3
READABLE_SCHEMAS = (1, 2, 3)
# A model's name becomes a file name (generations-NAME.jsonl) inside --out, so it is one plain
# path component: letters, digits, '-', '_' and '.', no separator, not hidden, no '..'.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
COLUMNS = (
    "model",
    "probe",
    "split",
    "kind",
    "image_type",
    "phrasing",
    "view",
    "metric",
    "value",
    "n",
    "higher_is_better",
)


def check_model_name(name: str) -> str:
    if not MODEL_NAME.fullmatch(name) or ".." in name:
        raise SmfaError(
            f"model name '{name}' must be letters, digits, '-', '_' or '.' (no path separator, "
            "no '..', not starting with '.'); give --model NAME=DIR"
        )
    return name


def parse_models(items: list[str]) -> dict[str, Path]:
    """`--model NAME=DIR` or `--model DIR` (named after the folder), split on the first '='.

    A DIR whose own path holds '=' is taken whole when the whole item is an existing path.
    """
    named: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or Path(item).exists():  # an existing folder is never split at its '='
            name, path = Path(item).name, item
        check_model_name(name)
        if not path:
            raise SmfaError(f"--model {item}: no model directory after '='")
        if name in named:
            raise SmfaError(f"two --model options are named '{name}'; give each its own NAME=DIR")
        named[name] = Path(path)
    return named


def read_results(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SmfaError(f"{path}: no results file") from None
    except json.JSONDecodeError as exc:
        raise SmfaError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise SmfaError(f"{path}: not a JSON text file (not UTF-8: {exc.reason})") from None
    except RecursionError:
        raise SmfaError(f"{path}: invalid JSON: nested too deeply") from None
    if not isinstance(data, dict) or "schema" not in data:
        raise SmfaError(f"{path}: not an smfa results file (no schema)")
    schema = data["schema"]
    if isinstance(schema, bool) or schema not in READABLE_SCHEMAS:
        readable = " and ".join(map(str, READABLE_SCHEMAS))
        raise SmfaError(
            f"{path}: results schema {schema!r} is not one this smfa reads ({readable}); "
            "a newer smfa wrote it, or it is not an smfa results file"
        )
    _check_results(path, data)
    return upgrade(data)


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 or -2 results dict as schema 3: plain rows get `probe` "plain", the attack
    rows join `rows` (pooled over image types and views, at the report's phrasing)."""
    if data["schema"] == RESULTS_SCHEMA:
        return data
    phrasing = (data.get("compare") or {}).get("report_phrasing", "heldout")
    rows = [{**row, "probe": "plain"} for row in data["rows"]]
    for old in data.get("attacks") or []:
        row = {k: v for k, v in old.items() if k not in ("attack", "per_seed")}
        row.update(probe=old["attack"], image_type="all", phrasing=phrasing, view="all")
        if "per_seed" in old:
            row["per_group"] = {f"seed {i}": v for i, v in enumerate(old["per_seed"])}
        row.setdefault("higher_is_better", old["split"] != "forget")
        rows.append(row)
    rest = {k: v for k, v in data.items() if k != "attacks"}
    return {**rest, "schema": RESULTS_SCHEMA, "rows": rows}


def _check_results(path: Path, data: dict[str, Any]) -> None:
    """The shape every reader relies on; the first problem is named by its key or row."""

    def fail(message: str) -> None:
        raise SmfaError(f"{path}: {message}")

    models, rows = data.get("models"), data.get("rows")
    if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
        fail("key 'models' must be an object of objects")
    if not isinstance(rows, list):
        fail("key 'rows' must be a list")
    if not isinstance(data.get("forget_ratio"), int | float):
        fail("key 'forget_ratio' must be a number")
    if "compare" in data and not isinstance(data["compare"], dict | None):
        fail("key 'compare' must be an object")
    columns = (
        COLUMNS if data["schema"] == RESULTS_SCHEMA else tuple(c for c in COLUMNS if c != "probe")
    )
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            fail(f"rows[{i}] must be an object")
        for key in columns:
            if key not in row:
                fail(f"rows[{i}] has no key '{key}'")
        for key in (
            "model",
            "split",
            "kind",
            "metric",
            *(("probe",) if "probe" in columns else ()),
        ):
            if not isinstance(row[key], str):
                fail(f"rows[{i}] key '{key}' must be a string")
        value = row["value"]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            fail(f"rows[{i}] key 'value' must be a number, got {value!r}")
        if isinstance(row["n"], bool) or not isinstance(row["n"], int):
            fail(f"rows[{i}] key 'n' must be a whole number, got {row['n']!r}")
        if not isinstance(row["higher_is_better"], bool):
            fail(f"rows[{i}] key 'higher_is_better' must be true or false")
    attacks = data.get("attacks", [])
    if not isinstance(attacks, list):
        fail("key 'attacks' must be a list")
    for i, row in enumerate(attacks):
        if not isinstance(row, dict):
            fail(f"attacks[{i}] must be an object")
        for key in ("model", "attack", "split", "kind", "metric", "value", "n"):
            if key not in row:
                fail(f"attacks[{i}] has no key '{key}'")


# Left in an --out by `smfa eval` and `smfa compare` before they write anything there, so that a
# run killed before its results.json (after some generations files) is resumed, not refused.
RESULTS_MARKER = ".smfa-results"


def check_results_dir(
    out_dir: Path, world_hash: str, forget_ratio: int, command: str = "eval"
) -> dict[str, Any] | None:
    """Refuse, before any work, an --out that results of this world and ratio may not go to
    (a folder that `mark_results_dir` claimed, with or without results.json, is ours).

    Returns the results.json already there (None when there is none). With `command` empty
    only the results are checked (the directory may hold this run's own generations).
    """
    out_dir = Path(out_dir)
    if command:
        check_out_dir(out_dir, "results.json", command, also=(RESULTS_MARKER,))
    path = out_dir / "results.json"
    if not path.exists():
        return None
    old = read_results(path)
    if old.get("world_hash") != world_hash or old.get("forget_ratio") != forget_ratio:
        raise SmfaError(
            f"{path} holds results for another world or forget ratio; choose another --out"
        )
    return old


def mark_results_dir(out_dir: Path, world_hash: str, forget_ratio: int) -> None:
    """Claim `out_dir` for results of this world and ratio (checked by `check_results_dir`)."""
    marker = Path(out_dir) / RESULTS_MARKER
    claim = {"world_hash": world_hash, "forget_ratio": forget_ratio}
    if marker.is_file():
        try:
            found = json.loads(marker.read_text(encoding="utf-8"))
        except (ValueError, RecursionError, UnicodeDecodeError):
            found = None
        if found != claim:
            raise SmfaError(
                f"{out_dir} holds an interrupted run for another world or forget ratio; "
                "choose another --out"
            )
        return
    atomic_write_json(marker, claim)


def merge_results(
    out_dir: Path,
    world_hash: str,
    forget_ratio: int,
    models: dict[str, dict[str, Any]],
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    """Add `models` and their rows to out_dir/results.json (replacing theirs)."""
    data: dict[str, Any] = {
        "schema": RESULTS_SCHEMA,
        "world_hash": world_hash,
        "forget_ratio": forget_ratio,
        "models": {},
        "rows": [],
    }
    old = check_results_dir(out_dir, world_hash, forget_ratio, command="")  # our own files only
    if old is not None:
        data = old  # upgraded to this schema as it was read
    data["models"].update(models)
    data["rows"] = [r for r in data["rows"] if r["model"] not in models] + rows
    write_results(out_dir, data)
    return data


def write_results(out_dir: Path, data: dict[str, Any]) -> None:
    out_dir = Path(out_dir)
    atomic_write_json(out_dir / "results.json", data)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(data["rows"])
    atomic_write_text(out_dir / "results.csv", buffer.getvalue())


def write_generations(out_dir: Path, model: str, records: list[dict[str, Any]]) -> Path:
    path = Path(out_dir) / f"generations-{check_model_name(model)}.jsonl"
    atomic_write_jsonl(path, records)
    return path
