"""Unlearning with a record, chained on earlier requests, and streams of requests.

`unlearn_recorded` is `smfa unlearn`: it runs the method (smfa.unlearn), measures the result
and writes erasure.json beside run.json, under the output's lock. Given a previous unlearn
output as its model (the output directory, or its `model/` folder), it chains: the previous
record must still match that model, its people stay out of the retain budget (so a later
request never teaches their values back), the measurement's forget split covers everyone
forgotten so far, and the new record's lineage lists every earlier record. The earlier output
is checked first (chain.py: model, seal, signature, world). With a signing key the record is
signed (signing.py). `run_stream` is `smfa stream`: N requests in sequence, each chained on
the one before, in OUT/request-N.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from smfa.config import RunConfig, to_dict
from smfa.data.format import World
from smfa.distributed import barrier, is_main
from smfa.erasure.chain import check_earlier
from smfa.erasure.measure import leak_checks, measure
from smfa.erasure.record import (
    RECORD,
    ancestor,
    build_record,
    model_sha256,
    read_record,
    record_sha256,
    request_entry,
    seal,
    write_record,
)
from smfa.erasure.signing import Trust, raw_public, sign, signature_problem
from smfa.errors import SmfaError
from smfa.io import atomic_write_json, canonical_json, check_out_dir, out_lock, sha256_text
from smfa.unlearn import ForgetRequest, unlearn, variant_dir

STREAM_META = "stream.json"
Tick = Callable[[str, int, int], None]


def _model_entry(path: Path, relative_to: Path | None = None) -> dict[str, Any]:
    if not Path(path).is_dir():  # a hub id: nothing local to hash
        return {"path": str(path), "sha256": None, "files": None}
    hashed = model_sha256(path)
    where = Path(path).name if relative_to is not None else str(Path(path).resolve())
    return {"path": where, **hashed}


def unlearn_recorded(
    world: World,
    model: Path,
    method: str,
    config: RunConfig,
    request: ForgetRequest,
    out: Path,
    show_progress: bool = True,
    tick: Tick | None = None,
    signer: Ed25519PrivateKey | None = None,
    trust: Trust | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Unlearn `request` from `model` into `out` and write out/erasure.json: (run, record).

    `signer` signs the record; `trust` is what an earlier record chained on must satisfy."""
    previous = check_earlier(Path(model), world.world_hash, trust)
    model_dir = previous.model_dir if previous is not None else Path(model)
    lineage: list[dict[str, Any]] = []
    earlier: list[str] = []
    base = _model_entry(model_dir)
    if previous is not None:
        lineage = [*previous.record["lineage"], ancestor(previous.record_path, previous.record)]
        earlier = sorted(set(previous.record["forgotten"]) - set(request.people))
    request = dataclasses.replace(request, earlier=tuple(earlier))
    forgotten = sorted({*earlier, *request.people})
    out = Path(out)
    with out_lock(out, enabled=is_main()):
        run = unlearn(world, model_dir, method, config, request, out, show_progress, lock=False)
        result = variant_dir(out, run["default"], run["default"])  # every process knows it
        measurement = {
            "slice": "reported",
            "forget_people": forgotten,
            "eval": dataclasses.asdict(config.eval),
            "model": dataclasses.asdict(config.model),
        }
        settings = {
            "run": run["key"],
            "measurement": measurement if config.erasure.measure else None,
            "erasure": dataclasses.asdict(config.erasure),
            "lineage": [entry["record_sha256"] for entry in lineage],
        }
        key = sha256_text(canonical_json(settings))
        built = _model_entry(result, relative_to=out)
        reused = _reusable(out / RECORD, key, built["sha256"])
        barrier()  # every process has looked before the main one may write a new record
        if reused is not None:
            return run, _signed_by(out / RECORD, reused, signer)
        measured = None
        if config.erasure.measure:
            people = forgotten
            measured = measure(
                result, world, people, config.eval, config.model, Path(config.workdir), tick
            )
            measurement["seconds"] = measured.pop("seconds")
        checks = leak_checks(
            measured or {}, config.erasure.max_leak, config.erasure.max_attack_leak
        )
        record = build_record(
            run=run,
            config=to_dict(config),
            world=(world.root, world.world_hash),
            request=request_entry(request.label, request.people, request.questions),
            forgotten=forgotten,
            base_model=base,
            model=built,
            lineage=lineage,
            measurement=measurement if measured is not None else None,
            measured=measured,
            checks=checks,
            key=key,
        )
        record = sign(seal(record), signer) if signer is not None else seal(record)
        if is_main():
            record = write_record(out / RECORD, record)
        barrier()
    return run, record


def _signed_by(
    path: Path, record: dict[str, Any], signer: Ed25519PrivateKey | None
) -> dict[str, Any]:
    """A reused record, signed by `signer` when it is given and did not sign it already."""
    signed_by = (record.get("signature") or {}).get("public_key")
    if signer is None or signed_by == raw_public(signer).hex():
        return record
    record = sign(seal(record), signer)
    if is_main():
        write_record(path, record)
    return record


def _reusable(path: Path, key: str, model_sha256: str) -> dict[str, Any] | None:
    """The record already at `path` when it is whole and says what this run would say."""
    if not path.is_file():
        return None
    try:
        record = read_record(path)
    except SmfaError:
        return None
    whole = record["record_sha256"] == record_sha256(record) and signature_problem(record) is None
    same = record["key"] == key and record["model"]["sha256"] == model_sha256
    return record if whole and same else None


def run_stream(
    world: World,
    model: Path,
    method: str,
    config: RunConfig,
    requests: Sequence[ForgetRequest],
    out: Path,
    on_record: Callable[[int, Path, dict[str, Any]], None] | None = None,
    show_progress: bool = True,
    signer: Ed25519PrivateKey | None = None,
    trust: Trust | None = None,
) -> list[Path]:
    """Each request in turn, chained on the previous one's output: OUT/request-1, ... .

    OUT/stream.json says what the stream is; a stream re-run with the same requests reuses
    every finished step (each is a cached unlearn run with its record). `trust` applies to the
    earlier record `model` may be (checked before anything is written); `signer` signs every
    record of the stream.
    """
    if not requests:
        raise SmfaError("a stream needs at least one --request")
    out = Path(out)
    check_earlier(Path(model), world.world_hash, trust)
    check_out_dir(out, STREAM_META, "stream")
    plan = {
        "model": str(Path(model).resolve()) if Path(model).exists() else str(model),
        "world_hash": world.world_hash,
        "method": method,
        "requests": [list(r.people) for r in requests],
    }
    meta_path = out / STREAM_META
    if meta_path.is_file():
        try:
            old = json.loads(meta_path.read_text(encoding="utf-8"))
        except ValueError:
            raise SmfaError(f"{meta_path} is not valid JSON; choose another --out") from None
        if not isinstance(old, dict) or old.get("plan") != plan:
            raise SmfaError(f"{out} holds another stream of requests; choose another --out")
    atomic_write_json(meta_path, {"plan": plan, "records": []})
    current, records = Path(model), []
    for i, request in enumerate(requests, start=1):
        step = out / f"request-{i}"
        _, record = unlearn_recorded(
            world, current, method, config, request, step, show_progress,
            signer=signer, trust=trust if i == 1 else None,
        )  # fmt: skip
        records.append(
            {"request": i, "record": f"{step.name}/{RECORD}", "sha256": record["record_sha256"]}
        )
        atomic_write_json(meta_path, {"plan": plan, "records": records})
        if on_record is not None:
            on_record(i, step, record)
        current = step
    return [out / r["record"] for r in records]
