"""Erasure records: `smfa unlearn` writes one, `smfa stream` chains them, `smfa verify` re-checks
them and catches a tampered model, a tampered record and a leak above the record's threshold."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from smfa.data.format import World
from smfa.erasure.measure import differences, leak_checks, per_person_leaks
from smfa.erasure.record import build_record, write_record
from smfa.models.io import save_model
from smfa.protocol.questions import forget_questions

from .test_cli import assert_one_line_error, smfa

FAST = [
    *("--method", "idk", "--set", "unlearn.epochs=1", "--set", "unlearn.retain_budget=4"),
    *("--set", "unlearn.batch_size=8", "--set", "eval.attacks=prefill"),
    *("--set", "eval.max_new_tokens=6"),
    *("--set", "eval.attack_retain=8", "--set", "eval.batch_size=128"),
]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@pytest.fixture(scope="module")
def runs(
    refuser: tuple,  # type: ignore[type-arg]
    mini_world: World,
    mini_world_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """A model that knows P1's values behind a refusal; request 1 (P1) barely unlearns it, with
    a record of hashes only; a stream then forgets P2 on top of it, measured (P1 still leaks
    under prefill: its bound is lifted so that this record verifies)."""
    root = tmp_path_factory.mktemp("erasure")
    base = save_model(*refuser, root / "refuser")
    p1, p2 = mini_world.splits.forget[10][:2]
    work = ["--set", f"workdir={root / 'work'}"]
    smfa(
        "unlearn", "--world", mini_world_dir, "--model", base, "--out", root / "r1",
        "--forget", p1, *FAST, *work, "--set", "unlearn.lr=1e-9",
        "--set", "erasure.measure=false",
    )  # fmt: skip
    smfa(
        "stream", "--world", mini_world_dir, "--model", root / "r1", "--out", root / "stream",
        "--request", p2, *FAST, *work,
        "--set", "erasure.max_attack_leak=1",
    )  # fmt: skip
    return {"base": base, "r1": root / "r1", "r2": root / "stream" / "request-1", "root": root}


def _record(run: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((run / "erasure.json").read_text())


def test_unlearn_records_who_what_and_how_well(runs: dict[str, Path], mini_world: World) -> None:
    record = _record(runs["r1"])
    p1 = mini_world.splits.forget[10][0]
    questions = forget_questions(mini_world, {p1})
    digest = _sha(_canonical([asdict(q) for q in questions]))
    assert record["request"]["people"] == [
        {"id": p1, "questions": len(questions), "questions_sha256": digest}
    ]
    assert record["request"]["questions_sha256"] == digest and record["forgotten"] == [p1]
    # Models by the sha256 of their safetensors bytes, combined over the files by name.
    for key, folder in (("model", runs["r1"] / "model"), ("base_model", runs["base"])):
        file_sha = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
        assert record[key]["files"] == {"model.safetensors": file_sha}
        assert record[key]["sha256"] == _sha(_canonical({"model.safetensors": file_sha}))
    assert record["model"]["path"] == "model"
    assert record["base_model"]["path"] == str(runs["base"].resolve())
    assert record["method"] == "idk" and record["config"]["unlearn"]["lr"] == 1e-9
    assert record["seed"] == 0 and record["versions"]["torch"] == torch.__version__
    assert record["run"]["key"] == json.loads((runs["r1"] / "run.json").read_text())["key"]
    # No names, questions or values: only ids and hashes.
    text = (runs["r1"] / "erasure.json").read_text()
    assert mini_world.people[p1].name not in text
    assert all(q.value not in text for q in questions)
    assert record["verdict"] == "not measured" and record["lineage"] == []
    assert record["measurement"] is record["figures"] is record["attacks"] is None
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    assert record["record_sha256"] == _sha(_canonical(body))


def test_a_chained_request_has_the_lineage_and_keeps_earlier_people_out_of_retain(
    runs: dict[str, Path], mini_world: World
) -> None:
    first, second = _record(runs["r1"]), _record(runs["r2"])
    p1, p2 = mini_world.splits.forget[10][:2]
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


def test_verify_passes_an_intact_chain(runs: dict[str, Path]) -> None:
    result = smfa("verify", runs["r2"] / "erasure.json")
    assert "verified: all" in result.stderr
    assert "lineage 1 record" in result.stdout and "MISMATCH" not in result.stdout


def test_verify_fails_a_leak_above_the_records_threshold(runs: dict[str, Path]) -> None:
    result = smfa("verify", runs["r1"], check=False)  # hashes only recorded: verify measures
    assert result.returncode == 1, result.stderr
    assert "failed: 1 of" in result.stderr and "(leak under prefill: LEAK)" in result.stderr


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
    assert "failed: 1 of" in result.stderr and "(model sha256: MISMATCH)" in result.stderr
    assert "not re-measured" in result.stdout
    # A chain is never built on a model that no longer matches its record.
    refused = smfa("unlearn", "--world", _record(copy)["world"]["path"], "--model", copy,
                   "--out", tmp_path / "next", *FAST, check=False)  # fmt: skip
    assert_one_line_error(refused, "no longer matches its record")


def test_verify_catches_a_tampered_record(runs: dict[str, Path], tmp_path: Path) -> None:
    record = _record(runs["r2"])
    record["figures"]["forget_leak_image"] = 0.0 if record["figures"]["forget_leak_image"] else 1.0
    path = tmp_path / "erasure.json"
    path.write_text(json.dumps(record))  # edited without re-sealing
    result = smfa("verify", path, "--model", runs["r2"] / "model", "--hashes-only", check=False)
    assert result.returncode == 1
    assert "failed: 1 of" in result.stderr and "(record sha256: MISMATCH)" in result.stderr
    # Re-sealed, the record's own hash holds, and the re-measured figure still catches it.
    write_record(path, {k: v for k, v in record.items() if k != "record_sha256"})
    result = smfa("verify", path, "--model", runs["r2"] / "model", check=False)
    assert result.returncode == 1 and "record sha256" not in result.stderr
    assert "figures.forget_leak_image: MISMATCH" in result.stderr


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["model"].pop("sha256"), "key 'model.sha256' is missing"),
        (lambda r: r.update(seed="0"), "key 'seed' must be a whole number, got '0'"),
        (lambda r: r.update(schema=7), "key 'schema' is 7"),
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
    runs: dict[str, Path], mini_world_dir: Path, tmp_path: Path
) -> None:
    record = _record(runs["r1"])
    record["world"]["path"] = str(tmp_path / "gone")
    path = tmp_path / "erasure.json"
    path.write_text(json.dumps(record))
    assert_one_line_error(smfa("verify", path, check=False), "gone is not there; give --world")
    missing = smfa("verify", runs["r1"], "--model", tmp_path / "nowhere", check=False)
    assert_one_line_error(missing, "nowhere is not there; give --model DIR")
    wide = smfa("verify", runs["r1"], "--tolerance", "2", check=False)
    assert_one_line_error(wide, "--tolerance must be between 0 and 1, got 2.0")
    nobody = smfa("stream", "--world", mini_world_dir, "--model", runs["base"], "--out",
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
