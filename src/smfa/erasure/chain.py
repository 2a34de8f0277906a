"""What an earlier unlearn output must be before a new request chains on it.

`smfa unlearn --model EARLIER` and `smfa stream` build on an earlier output and carry its
people forward as forgotten. So the earlier record is checked first, each failure one line
naming the record, before anything is written: its model folder is there and hashes to what
the record says, its seal holds (an edited record would drop people silently), its signature
holds (and, with `--require-signature`, is by a key `--trust` names), and it was made on the
same world (another world's people would be listed as forgotten in this one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smfa.erasure.record import RECORD, model_sha256, read_record, record_sha256
from smfa.erasure.signing import Trust, signature_problem, trust_problem
from smfa.errors import SmfaError


@dataclass(frozen=True)
class Earlier:
    """A checked earlier output: its model folder, its record's path and the record."""

    model_dir: Path
    record_path: Path
    record: dict[str, Any]


def chained_model(path: Path) -> tuple[Path, Path | None]:
    """(the model directory to unlearn, the erasure record it came with, if any).

    `path` is a model directory, or an unlearn output (holding erasure.json): then its model.
    A model folder the record names but that is gone is an error, not a hub id.
    """
    path = Path(path)
    if (path / RECORD).is_file():
        record = read_record(path / RECORD)
        model_dir, record_path = path / record["model"]["path"], path / RECORD
    elif (path.parent / RECORD).is_file() and read_record(path.parent / RECORD)["model"][
        "path"
    ] == path.name:
        model_dir, record_path = path, path.parent / RECORD
    else:
        from smfa.unlearn import RUN_META  # here only: smfa.unlearn imports torch

        if (path / RUN_META).is_file() and not (path / "config.json").is_file():
            raise SmfaError(
                f"{path} is an unlearn output without {RECORD} (made before records existed); "
                f"give its model folder, {path / 'model'}, to start a new lineage"
            )
        return path, None
    if not model_dir.is_dir():
        raise SmfaError(
            f"{record_path}: its model folder {model_dir} is missing (deleted or moved); "
            "nothing can be chained on it"
        )
    return model_dir, record_path


def check_earlier(model: Path, world_hash: str, trust: Trust | None = None) -> Earlier | None:
    """The earlier output `model` names, checked for chaining; None for a plain model."""
    model_dir, record_path = chained_model(Path(model))
    if record_path is None:
        return None
    record = read_record(record_path)
    if record_sha256(record) != record["record_sha256"]:
        raise SmfaError(
            f"{record_path}: its seal is broken (record_sha256 does not match its content: "
            "edited after it was written); refusing to chain on it"
        )
    problem = signature_problem(record)
    if problem is not None:
        raise SmfaError(f"{record_path}: its signature {problem}; refusing to chain on it")
    untrusted = trust_problem(record, trust or Trust())
    if untrusted is not None and untrusted[1]:
        raise SmfaError(
            f"{record_path}: {untrusted[0]}, and --require-signature was given; "
            "refusing to chain on it"
        )
    if record["world"]["hash"] != world_hash:
        raise SmfaError(
            f"{record_path}: made on another world (its world hash "
            f"{record['world']['hash'][:12]}, this world's {world_hash[:12]}); chain only on "
            "outputs of the same world"
        )
    found = model_sha256(model_dir)
    if found["sha256"] != record["model"]["sha256"]:
        changed = _changed_files(record["model"]["files"], found["files"])
        raise SmfaError(
            f"{model_dir} no longer matches its record {record_path} ({changed}); run "
            "`smfa verify` on it, or start from a model with no record"
        )
    return Earlier(model_dir, record_path, record)


def _changed_files(recorded: dict[str, str], found: dict[str, str]) -> str:
    """`chat_template.jinja differs; tokenizer.json is missing; ...`: at most three."""
    lines = file_differences(recorded, found)
    more = f"; {len(lines) - 3} more" if len(lines) > 3 else ""
    return "; ".join(f"{name} {what}" for name, what in lines[:3]) + more


def file_differences(recorded: dict[str, str], found: dict[str, str]) -> list[tuple[str, str]]:
    """(file, what) for each file of a model folder that differs from its record."""
    out = []
    for name in sorted(set(recorded) | set(found)):
        if name not in found:
            out.append((name, "is missing"))
        elif name not in recorded:
            out.append((name, "was added"))
        elif recorded[name] != found[name]:
            out.append((name, "differs"))
    return out
