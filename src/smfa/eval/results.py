"""results.json, results.csv and generations-*.jsonl: what an evaluation leaves on disk.

results.json holds every metric row (model, split, kind, image_type, phrasing, view, metric,
value, n, higher_is_better) and what produced them; rows of several models live side by side,
and re-evaluating a model replaces only its own rows. Every write is atomic. Its keys and
their allowed values are documented in docs/results-format.md; readers accept every schema in
`READABLE_SCHEMAS` and refuse any other.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from smfa.errors import SmfaError
from smfa.io import atomic_write_json, atomic_write_jsonl, atomic_write_text

# 2: documented (docs/results-format.md), with the optional `attacks` list; a schema-1 file is
# a valid schema-2 file without it, so both are read, and a merge writes schema 2.
RESULTS_SCHEMA = 2
READABLE_SCHEMAS = (1, 2)
COLUMNS = (
    "model",
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


def read_results(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SmfaError(f"{path}: no results file") from None
    except json.JSONDecodeError as exc:
        raise SmfaError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict) or "schema" not in data:
        raise SmfaError(f"{path}: not an smfa results file (no schema)")
    schema = data["schema"]
    if isinstance(schema, bool) or schema not in READABLE_SCHEMAS:
        readable = " and ".join(map(str, READABLE_SCHEMAS))
        raise SmfaError(
            f"{path}: results schema {schema!r} is not one this smfa reads ({readable}); "
            "a newer smfa wrote it, or it is not an smfa results file"
        )
    return data


def merge_results(
    out_dir: Path,
    world_hash: str,
    forget_ratio: int,
    models: dict[str, dict[str, Any]],
    rows: list[dict[str, Any]],
    attacks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Add `models`, their rows and attack rows to out_dir/results.json (replacing theirs)."""
    path = Path(out_dir) / "results.json"
    data: dict[str, Any] = {
        "schema": RESULTS_SCHEMA,
        "world_hash": world_hash,
        "forget_ratio": forget_ratio,
        "models": {},
        "rows": [],
        "attacks": [],
    }
    if path.exists():
        old = read_results(path)
        if old.get("world_hash") != world_hash or old.get("forget_ratio") != forget_ratio:
            raise SmfaError(
                f"{path} holds results for another world or forget ratio; choose another --out"
            )
        data = old
        data["schema"] = RESULTS_SCHEMA  # a schema-1 file is a valid schema-2 file
    data["models"].update(models)
    data["rows"] = [r for r in data["rows"] if r["model"] not in models] + rows
    kept = [r for r in data.get("attacks", []) if r["model"] not in models]
    data["attacks"] = kept + list(attacks or [])
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
    path = Path(out_dir) / f"generations-{model}.jsonl"
    atomic_write_jsonl(path, records)
    return path
