"""`smfa verify`: check an erasure record against the model and world it names.

Every hash is recomputed (the record's own, the world's, each forgotten person's forget
questions, the unlearned and the base model's weights, every earlier record of the lineage
still on disk) and the measurement is re-run from scratch (a fresh work directory: no cache
can answer for a model that changed) with the record's own settings. Each recomputed number
must be within the record's tolerance of the recorded one, and every leak within its
threshold. The result is a list of checks; a failed one is a MISMATCH or a LEAK.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smfa.config import RunConfig, apply_section, load_config
from smfa.data.format import load_world
from smfa.erasure.measure import differences, leak_checks, measure
from smfa.erasure.record import (
    RECORD,
    questions_sha256,
    read_record,
    record_sha256,
    weights_sha256,
)
from smfa.errors import ConfigError, SmfaError
from smfa.protocol.questions import forget_questions

OK, MISMATCH, LEAK, UNCHECKED = "ok", "MISMATCH", "LEAK", "not checked"


@dataclass(frozen=True)
class Check:
    """One line of the verdict table."""

    what: str
    recorded: str
    found: str
    status: str

    @property
    def failed(self) -> bool:
        return self.status in (MISMATCH, LEAK)


def _short(digest: str | None) -> str:
    return "—" if digest is None else digest[:12]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _hash_check(what: str, recorded: str | None, found: str | None) -> Check:
    status = OK if recorded == found else MISMATCH
    return Check(what, _short(recorded), _short(found), status)


def settings(record: dict[str, Any], path: Path, overrides: list[str]) -> RunConfig:
    """The record's measurement settings (eval.*, model.*), then `--set` overrides."""
    config = RunConfig()
    measurement = record["measurement"] or {}
    sections = {
        "eval": measurement.get("eval", record["config"].get("eval", {})),
        "model": measurement.get("model", record["config"].get("model", {})),
    }
    for name, values in sections.items():
        try:
            apply_section(getattr(config, name), values, name)
        except ConfigError as exc:
            raise SmfaError(f"{path}: {exc}") from None
    return load_config(None, overrides, base=config)


def verify(
    record_path: Path,
    model: Path | None = None,
    world_dir: Path | None = None,
    tolerance: float | None = None,
    overrides: list[str] | None = None,
    tick: Callable[[str, int, int], None] | None = None,
    hashes_only: bool = False,
) -> list[Check]:
    """Every check of the record at `record_path` (a file, or a directory holding one);
    `hashes_only` recomputes the hashes and runs no model (a quick integrity check)."""
    path = Path(record_path)
    path = path / RECORD if path.is_dir() else path
    record = read_record(path)
    config = settings(record, path, overrides or [])
    tolerance = record["thresholds"]["tolerance"] if tolerance is None else tolerance
    checks = [_hash_check("record sha256", record["record_sha256"], record_sha256(record))]

    world_root = Path(world_dir or record["world"]["path"])
    if not world_root.is_dir():
        raise SmfaError(f"{path}: its world {world_root} is not there; give --world DIR")
    world = load_world(world_root)
    checks.append(_hash_check("world hash", record["world"]["hash"], world.world_hash))
    questions = forget_questions(world, {p["id"] for p in record["request"]["people"]})
    if record["request"]["label"].startswith("file-"):
        checks.append(Check("forget questions", "from a file", "not recomputed", UNCHECKED))
    else:
        for person in record["request"]["people"]:
            own = [q for q in questions if q.subject == person["id"]]
            found = questions_sha256(own) if person["id"] in world.people else None
            checks.append(
                _hash_check(f"questions of {person['id']}", person["questions_sha256"], found)
            )

    model_dir = Path(model) if model is not None else path.parent / record["model"]["path"]
    if (model_dir / RECORD).is_file() and not (model_dir / "config.json").is_file():
        model_dir = model_dir / record["model"]["path"]  # an unlearn output directory
    if not model_dir.is_dir():
        raise SmfaError(f"{path}: the model {model_dir} is not there; give --model DIR")
    checks.append(
        _hash_check("model sha256", record["model"]["sha256"], weights_sha256(model_dir)["sha256"])
    )
    base = Path(record["base_model"]["path"])
    if record["base_model"]["sha256"] is None or not base.is_dir():
        checks.append(Check("base model sha256", _short(record["base_model"]["sha256"]),
                            "not found", UNCHECKED))  # fmt: skip
    else:
        found = weights_sha256(base)["sha256"]
        checks.append(_hash_check("base model sha256", record["base_model"]["sha256"], found))
    for i, entry in enumerate(record["lineage"], start=1):
        earlier = Path(entry["record"])
        what = f"lineage {i} record ({', '.join(entry['people'])}, {entry['method']})"
        if not earlier.is_file():
            checks.append(Check(what, _short(entry["record_sha256"]), "not found", UNCHECKED))
            continue
        old = read_record(earlier)
        checks.append(_hash_check(what, entry["record_sha256"], record_sha256(old)))

    if hashes_only:
        checks.append(Check("figures and leaks", "", "not re-measured (--hashes-only)", UNCHECKED))
        return checks
    with tempfile.TemporaryDirectory(prefix="smfa-verify-") as scratch:
        measured = measure(
            model_dir, world, record["forgotten"], config.eval, config.model, Path(scratch), tick
        )
    if record["measurement"] is not None:
        for name, old_value, new_value, same in differences(record, measured, tolerance):
            status = OK if same else MISMATCH
            checks.append(Check(name, _pct(old_value), _pct(new_value), status))
    thresholds = record["thresholds"]
    for what, value, bound in leak_checks(
        measured, thresholds["max_leak"], thresholds["max_attack_leak"]
    ):
        checks.append(Check(what, f"<= {_pct(bound)}", _pct(value), OK if value <= bound else LEAK))
    return checks


def failures(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.failed]
