"""`smfa verify`: check an erasure record against the model and world it names, under the
verifier's own policy.

Every hash is recomputed (the record's seal, the world's, each forgotten person's forget
questions, every file of the unlearned and the base model's folders, every earlier record of
the lineage still on disk), the signature is checked against the keys the verifier trusts,
and the measurement is re-run from scratch (a fresh work directory: no cache can answer for a
model that changed) with the verifier's policy (policy.py), never the record's settings. The
record's figures are claims: each is compared with what verify measured (within the policy's
tolerance; one verify did not measure is "not checked"), and every leak verify measured is held
to the policy's thresholds. The result is a list of checks; a failed one is a MISMATCH, a LEAK,
or (with `--require-signature`) UNSIGNED or UNTRUSTED.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smfa.data.format import World, load_world
from smfa.erasure.chain import file_differences
from smfa.erasure.measure import flatten, leak_checks, measure
from smfa.erasure.policy import Policy, setting_differences
from smfa.erasure.record import RECORD, model_sha256, questions_sha256, read_record, record_sha256
from smfa.erasure.signing import Trust, signature_problem, trust_problem
from smfa.errors import SmfaError
from smfa.protocol.questions import forget_questions

OK, MISMATCH, LEAK, UNCHECKED = "ok", "MISMATCH", "LEAK", "not checked"
UNSIGNED, UNTRUSTED = "UNSIGNED", "UNTRUSTED"  # failures only under --require-signature
DIFFERS, NOT_CLAIMED = "differs", "not claimed"  # facts a verifier should see, not failures
FAILED = (MISMATCH, LEAK, UNSIGNED, UNTRUSTED)
Tick = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Check:
    """One line of the verdict table; `why` says what failed, for the one-line summary."""

    what: str
    recorded: str
    found: str
    status: str
    why: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILED


def _short(digest: str | None) -> str:
    return "—" if digest is None else digest[:12]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _hash_check(what: str, recorded: str | None, found: str | None, why: str = "") -> Check:
    status = OK if recorded == found else MISMATCH
    return Check(what, _short(recorded), _short(found), status, why if status != OK else "")


def verify(
    record_path: Path,
    policy: Policy,
    model: Path | None = None,
    world_dir: Path | None = None,
    trust: Trust | None = None,
    tick: Tick | None = None,
    hashes_only: bool = False,
) -> list[Check]:
    """Every check of the record at `record_path` (a file, or a directory holding one) under
    `policy`; `hashes_only` recomputes the hashes and runs no model (a quick integrity check)."""
    path = Path(record_path)
    path = path / RECORD if path.is_dir() else path
    record = read_record(path)
    checks = [
        _hash_check("record sha256", record["record_sha256"], record_sha256(record), "edited"),
        signature_check(record, trust or Trust()),
    ]
    world_root = Path(world_dir or record["world"]["path"])
    if not world_root.is_dir():
        raise SmfaError(f"{path}: its world {world_root} is not there; give --world DIR")
    world = load_world(world_root)
    checks.append(_hash_check("world hash", record["world"]["hash"], world.world_hash))
    checks += question_checks(record, world)
    checks.append(forgotten_check(record))

    model_dir = Path(model) if model is not None else path.parent / record["model"]["path"]
    if (model_dir / RECORD).is_file() and not (model_dir / "config.json").is_file():
        model_dir = model_dir / record["model"]["path"]  # an unlearn output directory
    if not model_dir.is_dir():
        where = (
            f"the model {model_dir} is not there"
            if model is not None
            else f"its model folder {model_dir} is missing (deleted or moved)"
        )
        raise SmfaError(f"{path}: {where}; give --model DIR")
    model_checks = folder_checks("model", record["model"], model_dir)
    checks += model_checks
    checks += base_checks(record["base_model"])
    checks += lineage_checks(record["lineage"])

    if hashes_only or not policy.erasure.measure:
        why = "--hashes-only" if hashes_only else "erasure.measure=false"
        checks.append(Check("figures and leaks", "", f"not re-measured ({why})", UNCHECKED))
        return checks
    if any(c.failed for c in model_checks):
        found = "not measured: the model is not the record's"
        checks.append(Check("figures and leaks", "", found, UNCHECKED))
        return checks
    return checks + measurement_checks(record, model_dir, world, policy, tick)


def signature_check(record: dict[str, Any], trust: Trust) -> Check:
    """Whether the record is signed, by whom, and whether the signature holds."""
    signature = record.get("signature")
    recorded = _short(signature["fingerprint"]) if signature else "none"
    problem = signature_problem(record)
    if problem is not None:
        return Check("signature", recorded, "does not hold", MISMATCH, problem)
    untrusted = trust_problem(record, trust)
    if untrusted is None:
        return Check("signature", recorded, "by a trusted key", OK)
    what, fails = untrusted
    if not fails:
        return Check("signature", recorded, what, UNCHECKED)
    status = UNSIGNED if signature is None else UNTRUSTED
    return Check("signature", recorded, what, status, f"{what}; --require-signature was given")


def question_checks(record: dict[str, Any], world: World) -> list[Check]:
    """Each forgotten person's forget questions, hashed again from the world."""
    if record["request"]["label"].startswith("file-"):
        return [Check("forget questions", "from a file", "not recomputed", UNCHECKED)]
    questions = forget_questions(world, {p["id"] for p in record["request"]["people"]})
    checks = []
    for person in record["request"]["people"]:
        own = [q for q in questions if q.subject == person["id"]]
        found = questions_sha256(own) if person["id"] in world.people else None
        checks.append(
            _hash_check(f"questions of {person['id']}", person["questions_sha256"], found)
        )
    return checks


def expected_forgotten(record: dict[str, Any]) -> set[str]:
    """This request's people and every earlier record's (as the lineage names them)."""
    expected = {p["id"] for p in record["request"]["people"]}
    for entry in record["lineage"]:
        expected.update(entry["people"])
    return expected


def forgotten_check(record: dict[str, Any]) -> Check:
    """`forgotten` is this request's people and every earlier record's, no one dropped."""
    expected = expected_forgotten(record)
    claimed = set(record["forgotten"])
    measured = set((record["measurement"] or {}).get("forget_people", claimed))
    missing = sorted((expected - claimed) | (expected - measured))
    status = OK if not missing else MISMATCH
    why = f"leaves out {', '.join(missing)}" if missing else ""
    return Check("forgotten people", f"{len(claimed)}", f"{len(expected)} expected", status, why)


def folder_checks(what: str, entry: dict[str, Any], folder: Path) -> list[Check]:
    """The folder's combined hash, and one failed line per file that differs from the record."""
    found = model_sha256(folder, require_weights=False)  # missing weights: a failed line
    checks = []
    for name, change in file_differences(entry.get("files") or {}, found["files"]):
        checks.append(Check(f"{what} file {name}", "", change, MISMATCH, change))
    checks.append(_hash_check(f"{what} sha256", entry["sha256"], found["sha256"]))
    return checks


def base_checks(base: dict[str, Any]) -> list[Check]:
    where = Path(base["path"])
    if base["sha256"] is None or not where.is_dir():
        return [Check("base model sha256", _short(base["sha256"]), "not found", UNCHECKED)]
    return folder_checks("base model", base, where)


def lineage_checks(lineage: list[dict[str, Any]]) -> list[Check]:
    """Every earlier record still on disk: its seal as the lineage recorded it, its people and
    model as the lineage copied them."""
    checks = []
    for i, entry in enumerate(lineage, start=1):
        earlier = Path(entry["record"])
        what = f"lineage {i} record ({', '.join(entry['people'])}, {entry['method']})"
        if not earlier.is_file():
            checks.append(Check(what, _short(entry["record_sha256"]), "not found", UNCHECKED))
            continue
        try:
            old = read_record(earlier)
        except SmfaError as exc:
            checks.append(Check(what, _short(entry["record_sha256"]), "unreadable", MISMATCH,
                                str(exc)))  # fmt: skip
            continue
        check = _hash_check(what, entry["record_sha256"], record_sha256(old), "edited")
        people = [p["id"] for p in old["request"]["people"]]
        if check.status == OK and (people, old["model"]["sha256"]) != (
            entry["people"],
            entry["model_sha256"],
        ):
            check = Check(what, check.recorded, check.found, MISMATCH, "its people or model differ")
        checks.append(check)
    return checks


def measurement_checks(
    record: dict[str, Any], model_dir: Path, world: World, policy: Policy, tick: Tick | None
) -> list[Check]:
    """Measure the model under the policy; compare the record's claims; hold every leak to
    the policy's thresholds."""
    checks = settings_checks(record, policy)
    people = sorted(expected_forgotten(record) | set(record["forgotten"]))
    with tempfile.TemporaryDirectory(prefix="smfa-verify-") as scratch:
        try:
            measured = measure(
                model_dir, world, people, policy.eval, policy.model, Path(scratch),
                tick,
            )  # fmt: skip
        except SmfaError:
            raise
        except Exception as exc:  # a damaged model the record vouches for: a failed check
            why = f"the model could not be evaluated ({type(exc).__name__}: {exc})"
            why = " ".join(why.split())[:200]
            return [*checks, Check("figures and leaks", "", "could not measure", MISMATCH, why)]
    checks += claim_checks(record, measured, policy.erasure.tolerance)
    erasure = policy.erasure
    for what, value, bound in leak_checks(measured, erasure.max_leak, erasure.max_attack_leak):
        status = OK if value <= bound else LEAK
        why = f"{_pct(value)} > {_pct(bound)} (the policy's)" if status == LEAK else ""
        checks.append(Check(what, f"<= {_pct(bound)}", _pct(value), status, why))
    return checks


def settings_checks(record: dict[str, Any], policy: Policy) -> list[Check]:
    """Where the record's thresholds and measurement settings differ from the policy's: facts
    for the reader (the verdict is the policy's), never failures by themselves."""
    ours = policy.settings()["erasure"]
    theirs = record["thresholds"]
    names = ("max_leak", "max_attack_leak", "tolerance")
    recorded = ", ".join(_pct(theirs[k]) for k in names)
    found = "policy: " + ", ".join(_pct(ours[k]) for k in names)
    same = all(theirs[k] == ours[k] for k in names)
    checks = [
        Check("thresholds (leak, attack, tolerance)", recorded, found, OK if same else DIFFERS)
    ]
    if record["measurement"] is not None:
        changed = setting_differences(record["measurement"]["eval"], policy)
        found = "; ".join(changed) if changed else "the policy's"
        checks.append(Check("measurement settings", "", found, DIFFERS if changed else OK))
    return checks


def claim_checks(record: dict[str, Any], measured: dict[str, Any], tolerance: float) -> list[Check]:
    """Each figure the record claims against verify's measurement of it: one the policy did not
    measure (an attack it does not run) is not checked; a figure the record leaves out is shown,
    and the leak checks hold it to the policy either way."""
    claimed, found = flatten(record), flatten(measured)
    checks = []
    for name in sorted(set(claimed) | set(found)):
        old, new = claimed.get(name), found.get(name)
        if name not in found or (new is None and old is not None):
            checks.append(Check(name, _pct(old), "not measured by the policy", UNCHECKED))
        elif name not in claimed:
            checks.append(Check(name, "—", _pct(new), NOT_CLAIMED))
        else:
            same = (old is None and new is None) or (
                old is not None and new is not None and abs(old - new) <= tolerance + 1e-9
            )
            why = "" if same else f"recorded {_pct(old)}, measured {_pct(new)}"
            checks.append(Check(name, _pct(old), _pct(new), OK if same else MISMATCH, why))
    return checks


def failures(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.failed]
