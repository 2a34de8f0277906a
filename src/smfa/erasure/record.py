"""erasure.json: who was forgotten, from which model, by what, into which model, and how well.

A record names people by id and their forget questions by hash (never a name, a question or a
value: the record must not leak what it certifies), the input and output models by the sha256
of their safetensors files, the method with the whole run configuration, the figures measured
on the result, versions, seed and time, and the lineage of earlier records when the input was
itself an unlearned model. It carries its own hash (`record_sha256`, over the canonical JSON of
every other key but `signature`), optionally an ed25519 signature over that (signing.py), is
written atomically, and is validated key by key when read: a missing or
malformed key is one error naming the file and the key. Every field: docs/erasure.md.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from smfa import __version__
from smfa.data.format import Question
from smfa.errors import SmfaError
from smfa.io import atomic_write_json, canonical_json, sha256_file, sha256_text

RECORD = "erasure.json"
RECORD_SCHEMA = 2

_NUMBER = (int, float)
# dotted key -> the types it may hold (None: may be null). Checked in this order.
_SHAPE: dict[str, tuple[type | None, ...]] = {
    "schema": (int,),
    "created": (str,),
    "versions": (dict,),
    "world": (dict,),
    "world.path": (str,),
    "world.hash": (str,),
    "request": (dict,),
    "request.label": (str,),
    "request.people": (list,),
    "request.questions": (int,),
    "request.questions_sha256": (str,),
    "forgotten": (list,),
    "base_model": (dict,),
    "base_model.path": (str,),
    "base_model.sha256": (str, None),
    "model": (dict,),
    "model.path": (str,),
    "model.sha256": (str,),
    "model.files": (dict,),
    "method": (str,),
    "variant": (str,),
    "params": (dict,),
    "config": (dict,),
    "seed": (int,),
    "run": (dict,),
    "run.key": (str,),
    "key": (str,),
    "lineage": (list,),
    "measurement": (dict, None),
    "figures": (dict, None),
    "per_person": (dict, None),
    "attacks": (dict, None),
    "worst_attack": (dict, None),
    "thresholds": (dict,),
    "thresholds.max_leak": _NUMBER,
    "thresholds.max_attack_leak": _NUMBER,
    "thresholds.tolerance": _NUMBER,
    "verdict": (str,),
    "leaks": (list,),
    "record_sha256": (str,),
}
_MEASUREMENT = {"forget_people": (list,), "eval": (dict,), "model": (dict,)}
_PERSON = {"id": (str,), "questions": (int,), "questions_sha256": (str,)}
_SIGNATURE = {"algorithm": (str,), "public_key": (str,), "fingerprint": (str,), "value": (str,)}
_ANCESTOR = {
    "record": (str,),
    "record_sha256": (str,),
    "model_sha256": (str,),
    "people": (list,),
    "method": (str,),
}


def model_sha256(model_dir: Path, require_weights: bool = True) -> dict[str, Any]:
    """{"sha256": ..., "files": {name: sha256}} over every file of a model folder (weights,
    config, tokenizer, chat template, ...; names are paths relative to the folder, `/`-separated,
    links to files followed); the combined hash is the sha256 of the canonical JSON of `files`."""
    model_dir = Path(model_dir)
    files = {
        path.relative_to(model_dir).as_posix(): sha256_file(path)
        for path in sorted(_files(model_dir), key=lambda p: p.relative_to(model_dir).as_posix())
    }
    if require_weights and not any(name.endswith(".safetensors") for name in files):
        raise SmfaError(f"{model_dir} holds no .safetensors weights to hash")
    return {"sha256": sha256_text(canonical_json(files)), "files": files}


def _files(folder: Path) -> list[Path]:
    """Every file under `folder`; folders linked from elsewhere are not walked into."""
    found = []
    for root, _dirs, names in os.walk(folder):
        found.extend(Path(root) / name for name in names if (Path(root) / name).is_file())
    return found


def questions_sha256(questions: Sequence[Question]) -> str:
    """sha256 of the canonical JSON of the questions (every field, in the given order)."""
    return sha256_text(canonical_json([asdict(q) for q in questions]))


def request_entry(
    label: str, people: Sequence[str], questions: Sequence[Question]
) -> dict[str, Any]:
    """The record's `request`: ids and hashes only, per person and for the whole forget set."""
    return {
        "label": label,
        "people": [
            {
                "id": person,
                "questions": sum(q.subject == person for q in questions),
                "questions_sha256": questions_sha256([q for q in questions if q.subject == person]),
            }
            for person in people
        ],
        "questions": len(questions),
        "questions_sha256": questions_sha256(questions),
    }


def versions() -> dict[str, str]:
    import peft
    import torch
    import transformers

    return {
        "smfa": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


UNSEALED = ("record_sha256", "signature")  # the seal covers every other key


def record_sha256(record: dict[str, Any]) -> str:
    """The record's own hash (its seal): every key but `record_sha256` and `signature`, as
    canonical JSON."""
    return sha256_text(canonical_json({k: v for k, v in record.items() if k not in UNSEALED}))


def seal(record: dict[str, Any]) -> dict[str, Any]:
    """The record without any signature, sealed with its own hash."""
    body = {k: v for k, v in record.items() if k not in UNSEALED}
    return {**body, "record_sha256": record_sha256(body)}


def write_record(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Write a record atomically; returns it. A record without its seal is sealed first."""
    if "record_sha256" not in record:
        record = seal(record)
    atomic_write_json(Path(path), record)
    return record


def ancestor(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    """A lineage entry for an earlier record."""
    return {
        "record": str(Path(path).resolve()),
        "record_sha256": record["record_sha256"],
        "model_sha256": record["model"]["sha256"],
        "people": [p["id"] for p in record["request"]["people"]],
        "method": record["method"],
        "created": record["created"],
    }


def build_record(
    *,
    run: dict[str, Any],
    config: dict[str, Any],
    world: tuple[Path, str],
    request: dict[str, Any],
    forgotten: Sequence[str],
    base_model: dict[str, Any],
    model: dict[str, Any],
    lineage: list[dict[str, Any]],
    measurement: dict[str, Any] | None,
    measured: dict[str, Any] | None,
    checks: list[tuple[str, float, float]],
    key: str,
) -> dict[str, Any]:
    """A record's content (unsealed) from a finished run (run.json) and its measurement."""
    thresholds = config["erasure"]
    leaks = [{"what": w, "value": v, "threshold": t} for w, v, t in checks if v > t]
    verdict = "not measured" if measured is None else ("leaks" if leaks else "erased")
    measured = measured or {}
    return {
        "schema": RECORD_SCHEMA,
        "created": now(),
        "versions": versions(),
        "world": {"path": str(Path(world[0]).resolve()), "hash": world[1]},
        "request": request,
        "forgotten": sorted(forgotten),
        "base_model": base_model,
        "model": model,
        "method": run["method"],
        "variant": run["default"],
        "params": {**run["params"], **run["variants"][run["default"]]["params"]},
        "config": config,
        "seed": config["unlearn"]["seed"],
        # precision: "bf16" (autocast) or "no" (fp32), what the machine trained at; None in a
        # run.json written before it was recorded
        "run": {
            "key": run["key"],
            "timings": run.get("timings", {}),
            "precision": run.get("precision"),
        },
        "key": key,
        "lineage": lineage,
        "measurement": measurement,
        "figures": measured.get("figures"),
        "per_person": measured.get("per_person"),
        "attacks": measured.get("attacks"),
        "worst_attack": measured.get("worst_attack"),
        "thresholds": {k: thresholds[k] for k in ("max_leak", "max_attack_leak", "tolerance")},
        "verdict": verdict,
        "leaks": leaks,
    }


def read_record(path: Path) -> dict[str, Any]:
    """The record at `path`, validated; any problem is one SmfaError naming file and key."""
    path = Path(path)
    if path.is_dir():
        path = path / RECORD
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SmfaError(f"{path}: no erasure record there") from None
    except UnicodeDecodeError:
        raise SmfaError(f"{path}: not a text file, so not an erasure record") from None
    except json.JSONDecodeError as exc:
        raise SmfaError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise SmfaError(f"{path}: an erasure record is a JSON object")
    schema = data.get("schema")
    if "schema" in data and schema != RECORD_SCHEMA:
        older = " (schema 1 hashed only a model's weights; run smfa unlearn again)"
        raise SmfaError(
            f"{path}: key 'schema' is {schema!r}; this smfa reads erasure records of schema "
            f"{RECORD_SCHEMA}{older if schema == 1 else ''}"
        )
    _check(path, data, _SHAPE, "")
    for i, person in enumerate(data["request"]["people"]):
        _check(path, person, _PERSON, f"request.people[{i}].")
    for i, entry in enumerate(data["lineage"]):
        _check(path, entry, _ANCESTOR, f"lineage[{i}].")
    if data["measurement"] is not None:
        _check(path, data["measurement"], _MEASUREMENT, "measurement.")
    if "signature" in data:
        _check(path, data["signature"], _SIGNATURE, "signature.")
    where = data["model"]["path"]
    if where in ("", ".", "..") or "/" in where or "\\" in where:
        raise SmfaError(
            f"{path}: key 'model.path' must name a folder beside the record, got {where!r:.40}"
        )
    for key in ("model", "base_model"):
        files = data[key].get("files")
        if files is not None and not (
            isinstance(files, dict) and all(isinstance(v, str) for v in files.values())
        ):
            raise SmfaError(f"{path}: key '{key}.files' must map file names to sha256 text")
    for section in ("figures", "per_person"):
        for key, value in (data[section] or {}).items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, _NUMBER)):
                raise SmfaError(f"{path}: key '{section}.{key}' must be a number or null")
    for name, cells in (data["attacks"] or {}).items():
        if not isinstance(cells, dict) or not all(
            isinstance(c, dict) and all(isinstance(v, _NUMBER) for v in c.values())
            for c in cells.values()
        ):
            raise SmfaError(f"{path}: key 'attacks.{name}' must map splits to metric numbers")
    return data


def _check(path: Path, data: Any, shape: dict[str, tuple[type | None, ...]], prefix: str) -> None:
    if not isinstance(data, dict):
        raise SmfaError(f"{path}: key '{prefix.rstrip('.')}' must be an object")
    for dotted, allowed in shape.items():
        value: Any = data
        for part in dotted.split("."):
            if not isinstance(value, dict) or part not in value:
                raise SmfaError(f"{path}: key '{prefix}{dotted}' is missing")
            value = value[part]
        if value is None and None in allowed:
            continue
        kinds = tuple(t for t in allowed if t is not None)
        if isinstance(value, bool) or not isinstance(value, kinds):
            wanted = "a number" if kinds == _NUMBER else " or ".join(_NAMES[t] for t in kinds)
            wanted += " or null" if None in allowed else ""
            raise SmfaError(f"{path}: key '{prefix}{dotted}' must be {wanted}, got {value!r:.40}")


_NAMES = {int: "a whole number", str: "text", list: "a list", dict: "an object"}
