"""Erasure records: `smfa unlearn` writes one, `smfa stream` chains them, `smfa verify` re-checks
them under its own policy (never the record's) and catches a tampered model, a tampered or
re-sealed record, a leak above the policy's threshold and an unaccepted signature; chaining
refuses an earlier record whose seal, signature or world is wrong."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from smfa.data.format import World, load_world
from smfa.erasure.measure import differences, leak_checks, per_person_leaks
from smfa.erasure.record import build_record, write_record
from smfa.models.io import save_model
from smfa.protocol.questions import forget_questions
from smfa.world.build import build_world

from .conftest import HALF_WORLD, _memorizer
from .test_cli import assert_one_line_error, smfa

# Six people, two of them forgotten at 34%: P1 and P2 of every request. Every record and every
# verify below measures the whole reported slice (315 questions; 497 in conftest's HALF_WORLD).
# Seed 3: P1's refused values leak under prefill (23.5% of them; 11.1% of P1's and P2's after
# the chained request), and none in plain answers, which is what the verdicts below rest on
# (seeds 1, 2 and 3 all hold it, with 8.3-11.1% after the chain; seed 0 leaks 2.8%).
ERASURE_WORLD = replace(HALF_WORLD, people=6, forget_ratios=[10, 34], seed=3)
RATIO = 34

# What the records measure, and what a verifier's policy measures in these tests.
EVAL_FAST = [
    *("--set", "eval.attacks=prefill", "--set", "eval.max_new_tokens=6"),
    *("--set", "eval.attack_retain=8"),
    *("--set", "eval.batch_size=128"),
]
FAST = [
    *("--method", "idk", "--set", "unlearn.epochs=1", "--set", "unlearn.retain_budget=4"),
    *("--set", "unlearn.batch_size=8", *EVAL_FAST),
]
# The verifier's policy for a model known to leak under prefill (P1's values behind a refusal).
LENIENT = [*EVAL_FAST, "--set", "erasure.max_attack_leak=1"]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ERASURE_WORLD: P1 and P2 are its forget people."""
    return build_world(tmp_path_factory.mktemp("worlds") / "six", ERASURE_WORLD)


@pytest.fixture(scope="module")
def world(world_dir: Path) -> World:
    return load_world(world_dir)


@pytest.fixture(scope="module")
def refuser(world: World) -> tuple[object, object]:
    """conftest's refuser on this world: knows P1's values, refuses them in held-out phrasings."""
    p1 = world.splits.forget[RATIO][0]
    return _memorizer(world, p1, p1)


@pytest.fixture(scope="module")
def runs(
    refuser: tuple,  # type: ignore[type-arg]
    world: World,
    world_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """A model that knows P1's values behind a refusal; request 1 (P1) barely unlearns it, with
    a signed record of hashes only; a signed stream then forgets P2 on top of it, measured (P1
    still leaks under prefill: the record's bound is lifted, and its verdict says `erased`)."""
    root = tmp_path_factory.mktemp("erasure")
    base = save_model(*refuser, root / "refuser")
    p1, p2 = world.splits.forget[RATIO][:2]
    work = ["--set", f"workdir={root / 'work'}"]
    smfa("keygen", root / "keys" / "operator")
    sign = ["--sign-key", root / "keys" / "operator.key"]
    smfa(
        "unlearn", "--world", world_dir, "--model", base, "--out", root / "r1",
        "--forget", p1, *FAST, *work, "--set", "unlearn.lr=1e-9",
        "--set", "erasure.measure=false", *sign,
    )  # fmt: skip
    smfa(
        "stream", "--world", world_dir, "--model", root / "r1", "--out", root / "stream",
        "--request", p2, *FAST, *work,
        "--set", "erasure.max_attack_leak=1", *sign,
    )  # fmt: skip
    return {
        "base": base,
        "r1": root / "r1",
        "r2": root / "stream" / "request-1",
        "root": root,
        "key": root / "keys" / "operator.key",
        "pub": root / "keys" / "operator.pub",
    }


def _record(run: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((run / "erasure.json").read_text())


def _folder_hashes(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `folder`, by hand."""
    hashes = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            hashes[path.relative_to(folder).as_posix()] = hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
    return hashes


def test_unlearn_records_who_what_and_how_well(runs: dict[str, Path], world: World) -> None:
    record = _record(runs["r1"])
    p1 = world.splits.forget[RATIO][0]
    questions = forget_questions(world, {p1})
    digest = _sha(_canonical([asdict(q) for q in questions]))
    assert record["request"]["people"] == [
        {"id": p1, "questions": len(questions), "questions_sha256": digest}
    ]
    assert record["request"]["questions_sha256"] == digest and record["forgotten"] == [p1]
    # Models by the sha256 of every file of their folders, combined over the files by name.
    for key, folder in (("model", runs["r1"] / "model"), ("base_model", runs["base"])):
        files = _folder_hashes(folder)
        assert {"model.safetensors", "chat_template.jinja", "tokenizer.json"} <= set(files)
        assert record[key]["files"] == files
        assert record[key]["sha256"] == _sha(_canonical(files))
    assert record["model"]["path"] == "model"
    assert record["base_model"]["path"] == str(runs["base"].resolve())
    assert record["method"] == "idk" and record["config"]["unlearn"]["lr"] == 1e-9
    assert record["seed"] == 0 and record["versions"]["torch"] == torch.__version__
    run = json.loads((runs["r1"] / "run.json").read_text())
    assert record["run"]["key"] == run["key"]
    assert record["run"]["precision"] == run["precision"] in ("bf16", "no")
    # No names, questions or values: only ids and hashes.
    text = (runs["r1"] / "erasure.json").read_text()
    assert world.people[p1].name not in text
    assert all(q.value not in text for q in questions)
    assert record["verdict"] == "not measured" and record["lineage"] == []
    assert record["measurement"] is record["figures"] is record["attacks"] is None
    body = {k: v for k, v in record.items() if k not in ("record_sha256", "signature")}
    assert record["record_sha256"] == _sha(_canonical(body)) and record["schema"] == 2


def test_a_chained_request_has_the_lineage_and_keeps_earlier_people_out_of_retain(
    runs: dict[str, Path], world: World
) -> None:
    first, second = _record(runs["r1"]), _record(runs["r2"])
    p1, p2 = world.splits.forget[RATIO][:2]
    assert second["base_model"]["sha256"] == first["model"]["sha256"]
    assert second["lineage"] == [
        {
            "record": str((runs["r1"] / "erasure.json").resolve()),
            "record_sha256": first["record_sha256"],
            "model_sha256": first["model"]["sha256"],
            "people": [p1],
            "method": "idk",
            "created": first["created"],
        }
    ]
    assert second["forgotten"] == sorted([p1, p2])
    assert second["measurement"]["forget_people"] == sorted([p1, p2])
    # Asked plainly the model refuses P1; prefilled it states P1's values: the record says so.
    assert second["figures"]["forget_leak_text"] == 0.0 and set(second["per_person"]) == {p1, p2}
    prefill = second["attacks"]["prefill"]["forget"]["leak_rate"]
    assert prefill > 0.05 and second["worst_attack"] == {"attack": "prefill", "leak": prefill}
    assert second["thresholds"] == {"max_leak": 0.02, "max_attack_leak": 1.0, "tolerance": 0.02}
    assert second["verdict"] == "erased" and second["leaks"] == []
    run = json.loads((runs["r2"] / "run.json").read_text())
    assert run["request"]["people"] == [p2] and run["request"]["earlier"] == [p1]
    stream = json.loads((runs["root"] / "stream" / "stream.json").read_text())
    assert stream["records"] == [
        {"request": 1, "record": "request-1/erasure.json", "sha256": second["record_sha256"]}
    ]


def test_verify_passes_an_intact_signed_chain_under_a_lenient_policy(
    runs: dict[str, Path],
) -> None:
    result = smfa("verify", runs["r2"] / "erasure.json", *LENIENT,
                  "--trust", runs["pub"], "--require-signature")  # fmt: skip
    assert "verified: all" in result.stderr, result.stderr
    assert "lineage 1 record" in result.stdout and "MISMATCH" not in result.stdout
    assert "by a trusted key" in result.stdout
    # The policy is the verifier's, printed with its source and hash.
    assert "policy (project defaults; --set eval.attacks=prefill;" in result.stdout
    assert "max attack leak 100.0%" in result.stdout and "policy sha256 " in result.stderr


def test_verify_fails_a_leak_above_the_policys_threshold(runs: dict[str, Path]) -> None:
    result = smfa("verify", runs["r1"], *EVAL_FAST, check=False)  # hashes only: verify measures
    assert result.returncode == 1, result.stderr
    # Prefill finds P1's values (23.5% here); whether the plain answers of this barely-unlearned
    # model also leak image questions depends on the last bits of its training (1 of 27 checks
    # failed in CI, 3 on another machine), so only the prefill check is asserted.
    assert "verification failed: " in result.stderr
    assert "leak under prefill: LEAK (" in result.stderr
    assert "> 5.0% (the policy's))" in result.stderr and "Traceback" not in result.stderr


def test_verify_catches_a_tampered_model(runs: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "r2"
    shutil.copytree(runs["r2"], copy)
    weights = copy / "model" / "model.safetensors"
    tensors = load_file(str(weights))
    name = next(n for n in sorted(tensors) if "language_model" in n)
    tensors[name] = tensors[name] + 0.5  # same size, other bytes
    save_file(tensors, str(weights), metadata={"format": "pt"})
    result = smfa("verify", copy / "erasure.json", "--hashes-only", check=False)
    assert result.returncode == 1
    assert "failed: 2 of" in result.stderr
    assert "(model file model.safetensors: MISMATCH (differs)" in result.stderr
    assert "model sha256: MISMATCH)" in result.stderr
    assert "not re-measured" in result.stdout
    # A chain is never built on a model that no longer matches its record.
    refused = smfa("unlearn", "--world", _record(copy)["world"]["path"], "--model", copy,
                   "--out", tmp_path / "next", *FAST, check=False)  # fmt: skip
    assert_one_line_error(refused, "no longer matches its record", "(model.safetensors differs)")
    assert not (tmp_path / "next").exists()


def test_verify_catches_a_tampered_record(runs: dict[str, Path], tmp_path: Path) -> None:
    record = _record(runs["r2"])
    record["figures"]["forget_leak_image"] = 0.0 if record["figures"]["forget_leak_image"] else 1.0
    path = tmp_path / "erasure.json"
    path.write_text(json.dumps(record))  # edited without re-sealing
    result = smfa("verify", path, "--model", runs["r2"] / "model", "--hashes-only", check=False)
    assert result.returncode == 1
    assert "failed: 2 of" in result.stderr and "(record sha256: MISMATCH (edited)" in result.stderr
    assert "signature: MISMATCH (does not match the record's content" in result.stderr
    # Re-sealed (and so unsigned), the seal holds, and the re-measured figure still catches it.
    # The policy runs no attack: the record's attack figures are not checked, never passed.
    write_record(path, {k: v for k, v in record.items() if k != "record_sha256"})
    result = smfa("verify", path, "--model", runs["r2"] / "model", *LENIENT,
                  "--set", "eval.attacks=[]", check=False)  # fmt: skip
    assert result.returncode == 1 and "record sha256" not in result.stderr
    assert "failed: 1 of" in result.stderr
    assert "figures.forget_leak_image: MISMATCH (recorded " in result.stderr
    prefill = next(
        line for line in result.stdout.splitlines() if "attacks.prefill.forget.leak" in line
    )
    assert "not measured by the policy" in prefill and "not checked" in prefill


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["model"].pop("sha256"), "key 'model.sha256' is missing"),
        (lambda r: r.update(seed="0"), "key 'seed' must be a whole number, got '0'"),
        (lambda r: r.update(schema=7), "key 'schema' is 7"),
        (lambda r: r.update(schema=1), "schema 1 hashed only a model's weights"),
        (lambda r: r["model"].update(path="../x"), "key 'model.path' must name a folder"),
        (lambda r: r["signature"].pop("value"), "key 'signature.value' is missing"),
        (lambda r: r["lineage"].append({}), "key 'lineage[0].record' is missing"),
        (lambda r: r["request"]["people"][0].pop("id"), "key 'request.people[0].id' is missing"),
        (lambda r: r.update(figures={"x": "1"}), "key 'figures.x' must be a number or null"),
    ],
)
def test_a_malformed_record_is_one_line(
    edit: object, message: str, runs: dict[str, Path], tmp_path: Path
) -> None:
    record = _record(runs["r1"])
    edit(record)  # type: ignore[operator]
    path = tmp_path / "erasure.json"
    path.write_text(json.dumps(record))
    assert_one_line_error(smfa("verify", path, check=False), str(path), message)


def test_what_verify_and_stream_cannot_find_is_one_line(
    runs: dict[str, Path], world_dir: Path, tmp_path: Path
) -> None:
    record = _record(runs["r1"])
    record["world"]["path"] = str(tmp_path / "gone")
    path = tmp_path / "erasure.json"
    path.write_text(json.dumps(record))
    assert_one_line_error(smfa("verify", path, check=False), "gone is not there; give --world")
    missing = smfa("verify", runs["r1"], "--model", tmp_path / "nowhere", check=False)
    assert_one_line_error(missing, "the model", "nowhere is not there; give --model DIR")
    wide = smfa("verify", runs["r1"], "--tolerance", "2", check=False)
    assert_one_line_error(wide, "--tolerance must be between 0 and 1, got 2.0")
    nobody = smfa("stream", "--world", world_dir, "--model", runs["base"], "--out",
                  tmp_path / "s", "--request", ",", check=False)  # fmt: skip
    assert_one_line_error(nobody, "--request ',' names nobody")
    assert not (tmp_path / "s").exists()


def test_unreadable_records_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "erasure.json"
    path.write_text("{not json")
    assert_one_line_error(smfa("verify", path, check=False), str(path), "invalid JSON at line 1")
    path.write_text("[]")
    assert_one_line_error(smfa("verify", path, check=False), "a JSON object")
    missing = tmp_path / "none"
    assert_one_line_error(smfa("verify", missing, check=False), "no erasure record there")


def test_checks_and_differences_by_hand(tmp_path: Path) -> None:
    measured = {
        "figures": {"forget_leak_image": 0.0, "forget_leak_text": 0.25, "retain_memory": 0.9},
        "per_person": {"p1": 0.5, "p2": None},
        "attacks": {
            "prefill": {"forget": {"leak_rate": 0.75}, "retain": {"recall": 1.0}},
            "fair_mc": {"forget": {"mc_accuracy": 1.0, "chance": 0.25}},
        },
    }
    assert leak_checks(measured, 0.02, 0.05) == [
        ("forget_leak_image", 0.0, 0.02),
        ("forget_leak_text", 0.25, 0.02),
        ("leak of p1", 0.5, 0.02),
        ("leak under prefill", 0.75, 0.05),  # fair MC is not a leak
    ]
    found = json.loads(json.dumps(measured))
    found["figures"]["retain_memory"] = 0.88  # 2 points: within a 0.02 tolerance
    found["attacks"]["prefill"]["forget"]["leak_rate"] = 0.5
    off = {name: (a, b) for name, a, b, same in differences(measured, found, 0.02) if not same}
    assert off == {"attacks.prefill.forget.leak_rate": (0.75, 0.5)}
    # The record's verdict lists exactly the leaks above their thresholds.
    run = {"method": "m", "default": "", "params": {"a": 1}, "variants": {"": {"params": {}}}}
    config = {"erasure": {"max_leak": 0.3, "max_attack_leak": 0.8, "tolerance": 0.0}}
    config["unlearn"] = {"seed": 4}
    checks = leak_checks(measured, 0.3, 0.8)
    record = build_record(
        run={**run, "key": "k"}, config=config, world=(tmp_path, "h"), request={},
        forgotten=["p2", "p1"], base_model={}, model={}, lineage=[], measurement={},
        measured=measured, checks=checks, key="k",
    )  # fmt: skip
    assert record["verdict"] == "leaks" and record["seed"] == 4
    assert record["leaks"] == [{"what": "leak of p1", "value": 0.5, "threshold": 0.3}]
    assert record["forgotten"] == ["p1", "p2"] and record["worst_attack"] is None
    # Per person: memory questions of the reported view only (held-out images, text).
    rows = [  # (split, kind, view, subject, leak)
        ("forget", "text_memory", None, "p1", 1.0),
        ("forget", "text_memory", None, "p1", 0.0),
        ("forget", "image_memory", "heldout", "p1", 1.0),
        ("forget", "image_memory", "train", "p1", 1.0),  # not the reported view
        ("retain", "text_memory", None, "p3", 1.0),
    ]
    answers = [
        {"split": s, "kind": k, "view": v, "subject": p, "scores": {"leak_rate": x}}
        for s, k, v, p, x in rows
    ]
    assert per_person_leaks(answers, ("p1", "p2")) == {"p1": 2 / 3, "p2": None}


# Issue 29: verify applies its own policy; every file of the model folder is hashed;
# signatures; chaining checks what it chains on.


def _reseal(record: dict, path: Path) -> Path:  # type: ignore[type-arg]
    """What anyone can do to a record: edit it, drop its signature and seal it again."""
    body = {k: v for k, v in record.items() if k not in ("record_sha256", "signature")}
    path.write_text(json.dumps({**body, "record_sha256": _sha(_canonical(body))}))
    return path


def _copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def test_a_resealed_record_with_raised_thresholds_fails_the_verifiers_policy(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    record = _record(runs["r2"])
    record["thresholds"].update(max_leak=1.0, max_attack_leak=1.0)
    record["leaks"], record["verdict"] = [], "erased"
    copy = _copy_run(runs["r2"], tmp_path / "r2")
    _reseal(record, copy / "erasure.json")
    result = smfa("verify", copy, *EVAL_FAST, check=False)  # thresholds: the project's
    assert result.returncode == 1, result.stderr
    # Prefill finds P1's values (11.1% of P1's and P2's here); whether the plain answers of
    # this barely-unlearned model also leak image questions depends on the last bits of its
    # training (1 of 27 checks failed in CI, 3 on another machine), so only the prefill check
    # is asserted.
    assert "verification failed: " in result.stderr
    assert "leak under prefill: LEAK (" in result.stderr
    assert "> 5.0% (the policy's))" in result.stderr and "Traceback" not in result.stderr
    row = next(line for line in result.stdout.splitlines() if "thresholds" in line)
    assert "100.0%, 100.0%, 2.0%" in row and "policy: 2.0%, 5.0%, 2.0%" in row and "differs" in row


def test_a_record_measured_with_one_token_and_no_attacks_is_measured_again(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    # A record that says it was measured with one token and no attack, and claims no attack
    # figure: it passes its own thresholds. The verifier measures with its own settings, names
    # the difference, and its prefill finds the leak the record never looked for.
    record = _record(runs["r2"])
    record["measurement"]["eval"].update(max_new_tokens=1, attacks=[])
    record["thresholds"].update(max_leak=0.02, max_attack_leak=0.05)
    record.update(attacks={}, worst_attack=None, leaks=[], verdict="erased")
    copy = _copy_run(runs["r2"], tmp_path / "r2")
    _reseal(record, copy / "erasure.json")
    result = smfa("verify", copy, *EVAL_FAST, check=False)  # the verifier's probes
    assert result.returncode == 1, result.stderr
    assert "leak under prefill: LEAK (" in result.stderr
    rows = result.stdout.splitlines()
    settings = next(line for line in rows if "measurement settings" in line)
    assert "max_new_tokens 1 -> 6" in settings and "differs" in settings
    assert "attacks [] -> [prefill]" in settings
    claimed = next(line for line in rows if "attacks.prefill.forget.leak_rate" in line)
    assert "not claimed" in claimed


def test_a_swapped_chat_template_added_or_removed_file_fails_naming_the_file(
    runs: dict[str, Path], world_dir: Path, tmp_path: Path
) -> None:
    copy = _copy_run(runs["r2"], tmp_path / "r2")
    (copy / "model" / "chat_template.jinja").write_text("{{ raise_exception('swapped') }}")
    (copy / "model" / "notes.txt").write_text("added")
    (copy / "model" / "tokenizer_config.json").unlink()
    result = smfa("verify", copy, *LENIENT, check=False)  # the full verify: it used to crash
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "model file chat_template.jinja: MISMATCH (differs)" in result.stderr
    assert "model file notes.txt: MISMATCH (was added)" in result.stderr
    assert "model file tokenizer_config.json: MISMATCH (is missing)" in result.stderr
    assert "not measured: the model is not the record's" in " ".join(result.stdout.split())
    refused = smfa("unlearn", "--world", world_dir, "--model", copy,
                   "--out", tmp_path / "next", *FAST, check=False)  # fmt: skip
    assert_one_line_error(refused, "no longer matches its record", "chat_template.jinja differs")
    # A re-sealed record that vouches for the broken template: verify measures it, and the
    # template that cannot render is a failed check, not a traceback.
    record = _record(copy)
    files = _folder_hashes(copy / "model")
    record["model"].update(files=files, sha256=_sha(_canonical(files)))
    _reseal(record, copy / "erasure.json")
    result = smfa("verify", copy, *LENIENT, check=False)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "figures and leaks: MISMATCH (the model could not be evaluated (" in result.stderr
    assert "swapped" in result.stderr


def test_a_deleted_model_folder_is_named_as_missing(
    runs: dict[str, Path], world_dir: Path, tmp_path: Path
) -> None:
    copy = _copy_run(runs["r1"], tmp_path / "r1")
    shutil.rmtree(copy / "model")
    missing = smfa("verify", copy, "--hashes-only", check=False)
    assert_one_line_error(missing, f"its model folder {copy / 'model'} is missing")
    for model in (copy, copy / "model"):  # chaining on it, by the output or its model folder
        refused = smfa("unlearn", "--world", world_dir, "--model", model,
                       "--out", tmp_path / "next", *FAST, check=False)  # fmt: skip
        assert_one_line_error(refused, f"its model folder {copy / 'model'} is missing")
        assert "sha256" not in refused.stderr and not (tmp_path / "next").exists()


def test_signed_records_untrusted_unsigned_and_edited(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )

    record = _record(runs["r1"])
    public = load_pem_public_key(runs["pub"].read_bytes())
    assert isinstance(public, Ed25519PublicKey)
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = record["signature"]
    assert signature["public_key"] == raw.hex()
    assert signature["fingerprint"] == hashlib.sha256(raw).hexdigest()
    # The signature is over the whole record, its seal and the key's fingerprint included.
    header = {k: v for k, v in signature.items() if k != "value"}
    signed = {**{k: v for k, v in record.items() if k != "signature"}, "signature": header}
    public.verify(bytes.fromhex(signature["value"]), _canonical(signed).encode())
    assert _record(runs["r2"])["signature"]["fingerprint"] == signature["fingerprint"]

    strict = ["--hashes-only", "--require-signature"]
    ok = smfa("verify", runs["r1"], "--trust", runs["pub"], *strict)
    assert "verified:" in ok.stderr and "by a trusted key" in ok.stdout
    smfa("keygen", tmp_path / "stranger")
    untrusted = smfa("verify", runs["r1"], "--trust", tmp_path / "stranger.pub", *strict,
                     check=False)  # fmt: skip
    assert untrusted.returncode == 1
    assert (
        f"signature: UNTRUSTED (signed by key {signature['fingerprint'][:16]}, which no --trust "
        "names; --require-signature was given)"
    ) in " ".join(untrusted.stderr.split())
    reported = smfa("verify", runs["r1"], "--hashes-only")  # reported, not required
    assert "which no --trust names" in " ".join(reported.stdout.split())
    unsigned = _reseal(record, tmp_path / "unsigned.json")  # the seal holds without it
    result = smfa("verify", unsigned, "--model", runs["r1"] / "model", "--trust", runs["pub"],
                  *strict, check=False)  # fmt: skip
    assert result.returncode == 1 and "record sha256" not in result.stderr
    assert "signature: UNSIGNED (not signed; --require-signature was given)" in result.stderr
    # Edited and re-sealed with the signature kept: the signature no longer holds.
    edited = {**record, "method": "smfa"}
    _reseal(edited, tmp_path / "edited.json")
    resealed = json.loads((tmp_path / "edited.json").read_text())
    (tmp_path / "edited.json").write_text(json.dumps({**resealed, "signature": signature}))
    result = smfa("verify", tmp_path / "edited.json", "--model", runs["r1"] / "model",
                  "--trust", runs["pub"], "--hashes-only", check=False)  # fmt: skip
    assert result.returncode == 1 and "record sha256" not in result.stderr
    assert "signature: MISMATCH (does not match the record's content" in result.stderr


def test_keygen_and_key_files(runs: dict[str, Path], world_dir: Path, tmp_path: Path) -> None:
    assert runs["key"].stat().st_mode & 0o777 == 0o600
    assert runs["key"].read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert runs["pub"].read_text().startswith("-----BEGIN PUBLIC KEY-----")
    again = smfa("keygen", runs["root"] / "keys" / "operator", check=False)
    assert_one_line_error(again, "operator.key already exists")
    wrong = smfa("verify", runs["r1"], "--hashes-only", "--trust", runs["key"], check=False)
    assert_one_line_error(wrong, "not a PEM public key (that is the private key")
    (tmp_path / "junk.key").write_text("not a key")
    bad = smfa("unlearn", "--world", world_dir, "--model", runs["base"],
               "--out", tmp_path / "o", "--sign-key", tmp_path / "junk.key",
               check=False)  # fmt: skip
    assert_one_line_error(bad, "junk.key: not a PEM private key")


def test_chaining_refuses_a_broken_seal_a_bad_signature_and_an_unsigned_record_if_required(
    runs: dict[str, Path], world: World, world_dir: Path, tmp_path: Path
) -> None:
    p3 = world.splits.retain[RATIO][0]
    record = _record(runs["r1"])
    broken = _copy_run(runs["r1"], tmp_path / "broken")
    (broken / "erasure.json").write_text(json.dumps({**record, "forgotten": []}))  # not re-sealed
    for command in (
        ["unlearn", "--out", tmp_path / "next", "--forget", p3],
        ["stream", "--out", tmp_path / "next", "--request", p3],
    ):
        refused = smfa(*command, "--world", world_dir, "--model", broken, *FAST, check=False)
        assert_one_line_error(refused, f"{broken / 'erasure.json'}: its seal is broken")
        assert not (tmp_path / "next").exists()
    signed = _copy_run(runs["r1"], tmp_path / "signed")
    _reseal({**record, "method": "smfa"}, signed / "erasure.json")
    resealed = json.loads((signed / "erasure.json").read_text())
    (signed / "erasure.json").write_text(json.dumps({**resealed, "signature": record["signature"]}))
    refused = smfa("unlearn", "--world", world_dir, "--model", signed,
                   "--out", tmp_path / "next", "--forget", p3, *FAST, check=False)  # fmt: skip
    assert_one_line_error(refused, "its signature does not match the record's content")
    unsigned = _copy_run(runs["r1"], tmp_path / "unsigned")
    _reseal(record, unsigned / "erasure.json")
    refused = smfa("unlearn", "--world", world_dir, "--model", unsigned, "--out",
                   tmp_path / "next", "--forget", p3, "--trust", runs["pub"],
                   "--require-signature", *FAST, check=False)  # fmt: skip
    assert_one_line_error(refused, "not signed, and --require-signature was given")
    assert not (tmp_path / "next").exists()


def test_chaining_refuses_an_output_made_on_another_world(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    other_dir = build_world(tmp_path / "other", replace(ERASURE_WORLD, seed=ERASURE_WORLD.seed + 1))
    other = load_world(other_dir)
    person = other.splits.forget[RATIO][0]
    for command in (
        ["unlearn", "--out", tmp_path / "next", "--forget", person],
        ["stream", "--out", tmp_path / "next", "--request", person],
    ):
        refused = smfa(*command, "--world", other_dir, "--model", runs["r1"], *FAST, check=False)
        assert_one_line_error(
            refused,
            f"{runs['r1'] / 'erasure.json'}: made on another world (its world hash "
            f"{_record(runs['r1'])['world']['hash'][:12]}, this world's {other.world_hash[:12]})",
        )
        assert not (tmp_path / "next").exists()


def test_a_policy_file_and_its_errors(runs: dict[str, Path], tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("erasure:\n  max_leak: 0.01\neval:\n  attacks: [prefill, noise]\n")
    result = smfa("verify", runs["r1"], "--policy", policy, "--set", "eval.max_new_tokens=9",
                  "--hashes-only")  # fmt: skip
    line = " ".join(result.stdout.split())
    assert f"policy (project defaults; --policy {policy}; --set eval.max_new_tokens=9)" in line
    assert "max leak 1.0%, max attack leak 5.0%" in line and "max_new_tokens 9" in line
    assert "attacks: prefill, noise" in line
    policy.write_text("eval:\n  atacks: [prefill]\n")
    typo = smfa("verify", runs["r1"], "--policy", policy, "--hashes-only", check=False)
    assert_one_line_error(typo, f"{policy}: unknown config key 'eval.atacks'", "'eval.attacks'")
    policy.write_text("unlearn:\n  lr: 1\n")
    section = smfa("verify", runs["r1"], "--policy", policy, "--hashes-only", check=False)
    assert_one_line_error(section, "unknown config key 'unlearn'")
    wrong = smfa("verify", runs["r1"], "--set", "unlearn.lr=1", "--hashes-only", check=False)
    assert_one_line_error(wrong, "verify's policy takes erasure.*, eval.*, model.* settings")
    misspelt = smfa("verify", runs["r1"], "--set", "eval.attacks=prefil", check=False)
    assert_one_line_error(misspelt, "prefil")


def test_a_rerun_signs_the_record_it_reuses(
    runs: dict[str, Path], world: World, world_dir: Path, tmp_path: Path
) -> None:
    copy = _copy_run(runs["r1"], tmp_path / "r1")
    before = _record(copy)
    smfa("keygen", tmp_path / "second")
    smfa(
        "unlearn", "--world", world_dir, "--model", runs["base"], "--out", copy,
        "--forget", world.splits.forget[RATIO][0], *FAST,
        "--set", f"workdir={runs['root'] / 'work'}", "--set", "unlearn.lr=1e-9",
        "--set", "erasure.measure=false", "--sign-key", tmp_path / "second.key",
    )  # fmt: skip
    after = _record(copy)
    assert after["record_sha256"] == before["record_sha256"]  # the same record, reused
    assert after["created"] == before["created"]
    assert after["signature"]["fingerprint"] != before["signature"]["fingerprint"]
    trusted = smfa("verify", copy, "--hashes-only", "--trust", tmp_path / "second.pub",
                   "--require-signature")  # fmt: skip
    assert "by a trusted key" in trusted.stdout
