"""Issue 20, nothing lost and nothing silently wrong: each bad input ends as one clear error.

Every test here runs the real code on the miniature world and tiny models of conftest.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from smfa.data.format import World
from smfa.errors import SmfaError
from smfa.unlearn import resolve_request

from .jobs import FailsOnceStaged, StagesForever, wait_for
from .test_cli import assert_one_line_error, smfa
from .test_importers import _mllmu


def test_a_name_shared_by_two_people_is_refused(mini_world: World) -> None:
    first, second = list(mini_world.people.values())[:2]
    twin = dataclasses.replace(second, name=first.name)
    world = dataclasses.replace(mini_world, people={**mini_world.people, second.id: twin})
    with pytest.raises(SmfaError, match=f"names 2 people \\({first.id}, {second.id}\\)"):
        resolve_request(world, people=[first.name.lower()])
    assert resolve_request(world, people=[second.id]).people == (second.id,)


def test_a_world_finished_with_write_manifest_trains(mini_world_dir: Path, tmp_path: Path) -> None:
    import shutil

    from smfa.data.format import load_world
    from smfa.reference import BASE_META, build_base
    from smfa.world.build import write_manifest

    from .conftest import TINY_MODEL

    root = tmp_path / "mine"
    shutil.copytree(mini_world_dir, root)
    (root / "manifest.json").unlink()
    write_manifest(root)  # as docs/data-format.md says: no seed, no params
    world = load_world(root)
    assert world.manifest["params"] is None
    base = build_base(world, TINY_MODEL, 0, tmp_path / "work")
    assert (base / BASE_META).is_file()


FAST_EVAL = [
    "--set",
    "eval.attacks=",
    "--set",
    "eval.slice=validation",
    "--set",
    "eval.max_new_tokens=4",
]


@pytest.fixture(scope="module")
def model_dir(tiny: tuple[object, object], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model saved under a folder whose name holds '='."""
    from smfa.models.io import save_model

    model, processor = tiny
    return save_model(model, processor, tmp_path_factory.mktemp("m") / "run=1" / "model")


def test_a_model_path_with_an_equals_sign(
    model_dir: Path, mini_world_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    work = ["--set", f"workdir={tmp_path / 'work'}"]
    smfa(
        "eval",
        "--model",
        f"tiny={model_dir}",
        "--world",
        mini_world_dir,
        "--out",
        out,
        *work,
        *FAST_EVAL,
    )
    assert json.loads((out / "results.json").read_text())["models"]["tiny"]["path"] == str(
        model_dir
    )
    assert (out / "generations-tiny.jsonl").is_file()


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden", "x y"])
def test_a_model_name_cannot_leave_out(
    name: str, model_dir: Path, mini_world_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "deep" / "out"
    result = smfa(
        "eval",
        "--model",
        f"{name}={model_dir}",
        "--world",
        mini_world_dir,
        "--out",
        out,
        check=False,
    )
    assert_one_line_error(result, f"model name '{name}'")
    assert not (tmp_path / "deep").exists()


@pytest.fixture(scope="module")
def run_dir(model_dir: Path) -> Path:
    """A minimal `smfa unlearn` output: run.json and a model one weight away from vanilla."""
    import torch

    from smfa.io import atomic_write_json
    from smfa.models.io import load_model, save_model

    model, processor = load_model(model_dir)
    weight = next(
        w for n, w in model.named_parameters() if ".language_model." in n and "q_proj" in n
    )
    with torch.no_grad():
        weight.add_(0.01 * torch.randn_like(weight))
    run = model_dir.parent.parent / "run"
    save_model(model, processor, run / "model")
    meta = {"vanilla": str(model_dir), "default": "", "variants": {"": {"model": "model"}}}
    atomic_write_json(run / "run.json", meta)
    return run


def test_export_lora_never_deletes_an_existing_directory(
    run_dir: Path, mini_world_dir: Path, tmp_path: Path
) -> None:
    import shutil

    world = tmp_path / "world"
    shutil.copytree(mini_world_dir, world)
    before = sorted(p.relative_to(world) for p in world.rglob("*"))
    result = smfa("export-lora", "--run", run_dir, "--rank", "2", "--out", world, check=False)
    assert_one_line_error(result, str(world), "refusing to write over it")
    assert sorted(p.relative_to(world) for p in world.rglob("*")) == before
    adapter = tmp_path / "adapter"
    smfa("export-lora", "--run", run_dir, "--rank", "2", "--out", adapter)
    smfa("export-lora", "--run", run_dir, "--rank", "1", "--out", adapter)  # its own output
    assert json.loads((adapter / "export.json").read_text())["rank"] == 1


@pytest.mark.parametrize("command", ["unlearn", "eval", "compare", "export-lora", "world"])
def test_no_command_writes_over_a_file_or_a_foreign_directory(
    command: str, model_dir: Path, run_dir: Path, mini_world_dir: Path, tmp_path: Path
) -> None:
    args = {
        "unlearn": ["unlearn", "--world", mini_world_dir, "--model", model_dir, "--out"],
        "eval": ["eval", "--world", mini_world_dir, "--model", model_dir, "--out"],
        "compare": ["compare", "--world", mini_world_dir, "--vanilla", model_dir, "--out"],
        "export-lora": ["export-lora", "--run", run_dir, "--rank", "2", "--out"],
        "world": ["world", "build", "--out"],
    }[command]
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    result = smfa(*args, a_file, check=False)
    assert_one_line_error(result, str(a_file), "not a directory")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    result = smfa(*args, foreign, check=False)
    assert_one_line_error(result, str(foreign), "not empty")
    assert a_file.read_text() == "keep me"
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_eval_refuses_another_worlds_results_before_writing(
    model_dir: Path, mini_world_dir: Path, tmp_path: Path
) -> None:
    from smfa.io import atomic_write_json

    out = tmp_path / "out"
    atomic_write_json(
        out / "results.json",
        {"schema": 1, "world_hash": "another", "forget_ratio": 10, "models": {}, "rows": []},
    )
    (out / "generations-tiny.jsonl").write_text('{"id": "theirs"}\n')
    result = smfa(
        "eval",
        "--model",
        f"tiny={model_dir}",
        "--world",
        mini_world_dir,
        "--out",
        out,
        "--set",
        f"workdir={tmp_path / 'work'}",
        *FAST_EVAL,
        check=False,
    )
    assert_one_line_error(result, "another world")
    assert (out / "generations-tiny.jsonl").read_text() == '{"id": "theirs"}\n'
    assert not (tmp_path / "work").exists()  # refused before any model work


def _edit_weights(model: Path, target: Path, drop: str = "", add: str = "") -> Path:
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(model, target)
    (target / "smfa-weights.json").unlink()  # a checkpoint from elsewhere: no smfa record
    weights = load_file(model / "model.safetensors")
    if drop:
        weights.pop(next(k for k in weights if drop in k))
    if add:
        weights[add] = torch.zeros(2, 2)
    save_file(weights, target / "model.safetensors", metadata={"format": "pt"})
    return target


def test_a_checkpoint_with_missing_or_extra_weights_is_refused(
    model_dir: Path, mini_world_dir: Path, tmp_path: Path
) -> None:
    from smfa.errors import ModelDirError
    from smfa.models.io import load_model

    missing = _edit_weights(model_dir, tmp_path / "missing", drop="q_proj")
    with pytest.raises(ModelDirError, match=r"missing weights .*q_proj\.weight"):
        load_model(missing)
    extra = _edit_weights(model_dir, tmp_path / "extra", add="model.stray.weight")
    with pytest.raises(ModelDirError, match=r"unexpected weights model\.stray\.weight"):
        load_model(extra)
    result = smfa(
        "eval",
        "--model",
        f"m={missing}",
        "--world",
        mini_world_dir,
        "--out",
        tmp_path / "out",
        "--set",
        f"workdir={tmp_path / 'w'}",
        check=False,
    )
    assert_one_line_error(result, str(missing), "missing weights")
    result = smfa(
        "unlearn", "--world", mini_world_dir, "--model", extra, "--out", tmp_path / "u", check=False
    )
    assert_one_line_error(result, str(extra), "unexpected weights")


@pytest.mark.parametrize("damage", ["truncated", "empty", "random"])
def test_a_damaged_weights_file_is_one_line(
    damage: str, model_dir: Path, mini_world_dir: Path, tmp_path: Path
) -> None:
    import os
    import shutil

    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    weights = model / "model.safetensors"
    (model / "smfa-weights.json").unlink()  # as a checkpoint from elsewhere: no record to check
    size = weights.stat().st_size
    if damage == "truncated":
        os.truncate(weights, size // 2)
    else:
        weights.write_bytes(b"" if damage == "empty" else os.urandom(4096))
    result = smfa(
        "eval",
        "--model",
        f"m={model}",
        "--world",
        mini_world_dir,
        "--out",
        tmp_path / "out",
        "--set",
        f"workdir={tmp_path / 'w'}",
        check=False,
    )
    assert_one_line_error(result, str(model), "model.safetensors")


def test_a_damaged_cache_entry_is_rebuilt(mini_world: World, tmp_path: Path) -> None:
    import os

    from smfa.models.io import load_model
    from smfa.reference import BASE_META, build_base, is_cached

    from .conftest import TINY_MODEL

    base = build_base(mini_world, TINY_MODEL, 0, tmp_path)
    weights = base / "model.safetensors"
    good = weights.read_bytes()
    changed = bytearray(good)
    changed[-1] ^= 0xFF  # same size, other bytes: only the recorded sha256 tells
    weights.write_bytes(bytes(changed))
    assert not is_cached(base, BASE_META)
    os.truncate(weights, len(good) // 2)
    assert build_base(mini_world, TINY_MODEL, 0, tmp_path) == base
    assert weights.read_bytes() == good
    load_model(base)


def test_an_unlearn_run_whose_model_was_deleted_runs_again(
    model_dir: Path, mini_world: World, tmp_path: Path
) -> None:
    import shutil

    from smfa.config import RunConfig, UnlearnConfig
    from smfa.models.io import load_model
    from smfa.unlearn import unlearn

    config = RunConfig(unlearn=UnlearnConfig(retain_budget=4, epochs=1, batch_size=4))
    request = resolve_request(mini_world, ratio=10)
    request = dataclasses.replace(request, questions=request.questions[:2])
    out = tmp_path / "run"
    unlearn(mini_world, model_dir, "ga", config, request, out, False)
    shutil.rmtree(out / "model")
    unlearn(mini_world, model_dir, "ga", config, request, out, False)
    load_model(out / "model")


def test_a_runaway_question_is_refused_at_load_time(mini_world_dir: Path, tmp_path: Path) -> None:
    import shutil

    world = tmp_path / "world"
    shutil.copytree(mini_world_dir, world)
    lines = (world / "questions.jsonl").read_text().splitlines()
    row = json.loads(lines[4])
    row["question"] = " ".join(["word"] * 6000)
    lines[4] = json.dumps(row)
    (world / "questions.jsonl").write_text("\n".join(lines) + "\n")
    result = smfa("train", "--world", world, check=False)
    assert_one_line_error(
        result, "questions.jsonl line 5", "key 'question' is 29,999 characters", "limit is 2,000"
    )


def test_an_unwritable_output_is_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    result = smfa("world", "build", "--out", a_file / "world", check=False)
    assert_one_line_error(result, f"{a_file} is a file, so {a_file / 'world'} cannot be made")
    result = smfa("world", "build", "--out", "/sys/smfa-world", check=False)  # read-only
    assert_one_line_error(result, "/sys")


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    # The kernel's file-size limit makes every write past 256 KiB fail (EFBIG, as a full disk
    # fails with ENOSPC: both OSErrors from the same write calls), partway into the world.
    import os
    import resource
    import subprocess
    import sys

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONDONTWRITEBYTECODE": "1"}
    out = tmp_path / "world"
    command = [sys.executable, "-m", "smfa.cli", "world", "build", "--out", str(out)]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, preexec_fn=limit, timeout=300
    )
    assert_one_line_error(result, "File too large")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []  # no world, no staging directory


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("train.batch_size=0", "train.batch_size must be at least 1, got 0"),
        ("unlearn.lr=-0.001", "unlearn.lr must be above 0, got -0.001"),
        ("unlearn.epochs=0", "unlearn.epochs must be at least 1, got 0"),
        ("eval.max_new_tokens=-5", "eval.max_new_tokens must be at least 1, got -5"),
        ("compare.workers=0", "compare.workers must be at least 1, got 0"),
        ("compare.report_variants=some", "compare.report_variants must be one of selected, all"),
        ("forget_ratio=0", "forget_ratio must be between 1 and 99, got 0"),
        ("world.people=1", "world.people must be at least 2, got 1"),
        ("methods.smfaa.k=3", "methods.smfaa: unknown method 'smfaa' (did you mean 'smfa'?)"),
        # another method's settings than the one run (`--method idk`) are checked too
        (
            "methods.smfa.kk=1",
            "unknown config key 'methods.smfa.kk' (did you mean 'methods.smfa.k'?)",
        ),
    ],
)
def test_bad_settings_are_named_by_their_key(
    setting: str, message: str, mini_world_dir: Path, model_dir: Path, tmp_path: Path
) -> None:
    result = smfa(
        "unlearn",
        "--world",
        mini_world_dir,
        "--model",
        model_dir,
        "--out",
        tmp_path / "out",
        "--method",
        "idk",
        "--set",
        setting,
        check=False,
    )
    assert_one_line_error(result, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(rows="all"), "key 'rows' must be a list"),
        (lambda d: d["rows"][0].pop("metric"), "rows[0] has no key 'metric'"),
        (lambda d: d["rows"][0].update(value="high"), "rows[0] key 'value' must be a number"),
        (lambda d: d.update(models=["vanilla"]), "key 'models' must be an object"),
        (lambda d: d.update(compare=[]), "key 'compare' must be an object"),
    ],
)
def test_a_malformed_results_file_is_one_line(change: Any, message: str, tmp_path: Path) -> None:
    row = {
        "model": "vanilla",
        "split": "forget",
        "kind": "image_memory",
        "image_type": "all",
        "phrasing": "heldout",
        "view": "heldout",
        "metric": "leak_rate",
        "value": 0.5,
        "n": 4,
        "higher_is_better": False,
    }
    data = {
        "schema": 1,
        "world_hash": "w",
        "forget_ratio": 10,
        "models": {"vanilla": {"role": "vanilla"}},
        "rows": [row],
    }
    change(data)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    for command in ("report", "show"):
        assert_one_line_error(smfa(command, path, check=False), str(path), message)
    assert not (tmp_path / "report.md").exists()


def test_an_image_symlink_out_of_the_world_is_refused(mini_world_dir: Path, tmp_path: Path) -> None:
    import shutil

    from smfa.data.format import load_world
    from smfa.errors import DataFormatError

    world = tmp_path / "world"
    shutil.copytree(mini_world_dir, world)
    image = world / "images" / "portraits" / "p0002_train.png"
    outside = tmp_path / "private.png"
    shutil.move(image, outside)
    image.symlink_to(outside)  # same bytes, so the manifest's hash still matches
    with pytest.raises(DataFormatError, match=r"p0002_train\.png \(named in people\.jsonl line 2"):
        load_world(world)
    result = smfa("train", "--world", world, check=False)
    assert_one_line_error(result, "p0002_train.png", "outside the world", str(outside))


def test_a_manifest_naming_a_path_outside_the_world_is_refused(
    mini_world_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from smfa.data.format import load_world
    from smfa.errors import DataFormatError
    from smfa.io import atomic_write_json, canonical_json, sha256_file, sha256_text

    world = tmp_path / "world"
    shutil.copytree(mini_world_dir, world)
    secret = tmp_path / "secret.txt"
    secret.write_text("not the world's")
    manifest = json.loads((world / "manifest.json").read_text())
    for rel in (str(secret), f"../{secret.name}"):
        files = {**manifest["files"], rel: sha256_file(secret)}
        changed = {**manifest, "files": files, "world_hash": sha256_text(canonical_json(files))}
        atomic_write_json(world / "manifest.json", changed)
        with pytest.raises(DataFormatError, match="not a path inside the world"):
            load_world(world)


def test_an_importer_never_copies_an_image_from_outside_the_source(tmp_path: Path) -> None:
    from .test_importers import _png

    source = _mllmu(tmp_path / "mllmu")
    _png(tmp_path / "secret.png", 0)
    records = json.loads((source / "train.json").read_text())
    records[1]["image_path"] = "../secret.png"
    (source / "train.json").write_text(json.dumps(records))
    out = tmp_path / "world"
    result = smfa("import", "mllmu", source, out, check=False)
    assert_one_line_error(result, "train.json", "'../secret.png'", "outside the source folders")
    assert not out.exists()


def _python(code: str) -> list[str]:
    import sys

    return [sys.executable, "-c", code]


def test_stale_staging_left_by_a_killed_run_is_cleaned(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    from smfa.io import staged_dir

    target = tmp_path / "out"
    hold = "import sys, time\nfrom smfa.io import staged_dir\nwith staged_dir(sys.argv[1]):\n"
    hold += "    print('staged', flush=True); time.sleep(600)\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    killed = subprocess.Popen([*_python(hold), target], stdout=subprocess.PIPE, env=env)
    alive = subprocess.Popen([*_python(hold), target], stdout=subprocess.PIPE, env=env)
    try:
        for process in (killed, alive):
            assert process.stdout is not None and process.stdout.readline() == b"staged\n"
        stages = {p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")}
        assert len(stages) == 2
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        with staged_dir(target) as stage:
            (stage / "result").write_text("done")
        left = {p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")}
        assert left == {n for n in stages if f"-{alive.pid}." in n}  # a live run's is kept
    finally:
        for process in (killed, alive):
            process.kill()
            process.wait()


def test_sigterm_removes_the_staging_directory(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path / "world"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "smfa.cli", "world", "build", "--out", str(out)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: any(p.name.endswith(".partial") for p in tmp_path.iterdir()))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        process.kill()
        process.wait()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["staged_dir", "atomic_write_bytes", "keygen"])
def test_an_interrupt_just_after_the_temporary_is_made_leaves_nothing(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM (or Ctrl-C) can land after mkdtemp/mkstemp made the temporary and before the
    caller holds its name: CI once saw a world build's staging directory left that way."""
    import tempfile

    from smfa.erasure.signing import generate_key_pair
    from smfa.io import atomic_write_bytes, staged_dir

    def interrupted(real: Any) -> Any:
        def make(*args: Any, **kwargs: Any) -> Any:
            real(*args, **kwargs)  # made on disk, never handed back
            raise KeyboardInterrupt

        return make

    name = "mkdtemp" if where == "staged_dir" else "mkstemp"
    monkeypatch.setattr(tempfile, name, interrupted(getattr(tempfile, name)))
    with pytest.raises(KeyboardInterrupt):
        if where == "staged_dir":
            with staged_dir(tmp_path / "world"):
                pass
        elif where == "atomic_write_bytes":
            atomic_write_bytes(tmp_path / "results.json", b"{}")
        else:
            generate_key_pair(tmp_path / "key")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def held(tmp_path: Path) -> Any:
    """`held(path)`: another process holds smfa's lock on `path` until the test ends."""
    import os
    import subprocess
    import sys

    processes = []
    hold = "import sys, time\nfrom smfa.io import out_lock\nwith out_lock(sys.argv[1]):\n"
    hold += "    print('held', flush=True); time.sleep(600)\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def start(path: Path) -> int:
        process = subprocess.Popen([*_python(hold), path], stdout=subprocess.PIPE, env=env)
        processes.append(process)
        assert process.stdout is not None and process.stdout.readline() == b"held\n"
        return process.pid

    yield start
    for process in processes:
        process.kill()
        process.wait()


@pytest.mark.parametrize(
    "command", ["unlearn", "eval", "compare", "export-lora", "world", "import"]
)
def test_a_second_run_into_a_busy_out_is_refused(
    command: str, held: Any, model_dir: Path, run_dir: Path, mini_world_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    pid = held(out)
    args = {
        "unlearn": ["unlearn", "--world", mini_world_dir, "--model", model_dir, "--ratio", "10"],
        "eval": ["eval", "--world", mini_world_dir, "--model", model_dir],
        "compare": ["compare", "--world", mini_world_dir, "--vanilla", model_dir],
        "export-lora": ["export-lora", "--run", run_dir, "--rank", "2"],
        "world": ["world", "build"],
        "import": ["import", "mllmu", _mllmu(tmp_path / "mllmu"), out],
    }[command]
    if command == "import":
        result = smfa(*args, check=False)
    else:
        result = smfa(*args, "--out", out, "--set", f"workdir={tmp_path / 'w'}", check=False)
    assert_one_line_error(result, f"{out} is in use by another smfa run (pid {pid})")
    assert not out.exists()


def test_the_lock_is_released_when_its_holder_dies(
    held: Any, run_dir: Path, tmp_path: Path
) -> None:
    import os
    import signal

    out = tmp_path / "adapter"
    os.kill(held(out), signal.SIGKILL)  # the kernel drops a dead process's flock
    wait_for(
        lambda: (
            smfa(
                "export-lora", "--run", run_dir, "--rank", "2", "--out", out, check=False
            ).returncode
            == 0
        )
    )
    assert (out / "export.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]  # no lock file left behind


def test_a_terminated_worker_leaves_no_staging_or_lock(tmp_path: Path) -> None:
    from smfa.workers import run_jobs

    out = str(tmp_path / "out")
    with pytest.raises(SmfaError, match="fails: the input is bad"):
        run_jobs([StagesForever(out), FailsOnceStaged(out)], workers=2)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_model_is_named_at_once_not_asked_of_the_hub(
    run_dir: Path, mini_world_dir: Path, tmp_path: Path
) -> None:
    import shutil
    import time

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    shutil.rmtree(run / "model")  # deleted since
    started = time.time()
    result = smfa("export-lora", "--run", run, "--rank", "2", check=False)
    assert_one_line_error(result, str(run), "unlearned model 'model' is missing")
    gone = tmp_path / "no" / "such" / "model"
    result = smfa("eval", "--model", f"m={gone}", "--world", mini_world_dir,
                  "--out", tmp_path / "out", check=False)  # fmt: skip
    assert_one_line_error(result, f"{gone}: no such model directory")
    assert time.time() - started < 30  # no network retries


def test_a_question_longer_than_the_model_reads_is_named(
    tiny: tuple[object, object], mini_world: World
) -> None:
    from smfa.data.batches import Encoder
    from smfa.errors import DataFormatError

    _, processor = tiny
    encoder = Encoder(processor)
    question = "What is " + "x" * 1990  # under the 2,000-character limit, many tokens
    with pytest.raises(DataFormatError, match=r"question q1: \d+ tokens with its answer"):
        encoder.encode("q1", question, "An answer.", None)


def test_compare_never_replaces_eval_results(
    model_dir: Path, mini_world: World, tmp_path: Path
) -> None:
    from smfa.eval.results import merge_results

    out = tmp_path / "out"
    row = {"model": "mine", "probe": "plain", "split": "forget", "kind": "image_memory",
           "image_type": "all",
           "phrasing": "heldout", "view": "heldout", "metric": "leak_rate", "value": 0.5,
           "n": 4, "higher_is_better": False}  # fmt: skip
    merge_results(out, mini_world.world_hash, 10, {"mine": {"path": "x"}}, [row])
    before = (out / "results.json").read_bytes()
    result = smfa("compare", "--world", mini_world.root, "--vanilla", model_dir, "--out", out,
                  "--set", f"workdir={tmp_path / 'w'}", check=False)  # fmt: skip
    assert_one_line_error(result, "holds `smfa eval` results that compare would replace")
    assert (out / "results.json").read_bytes() == before


def test_a_refused_run_leaves_no_folders_behind(mini_world_dir: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a model")
    out = tmp_path / "deep" / "er" / "out"
    result = smfa("unlearn", "--world", mini_world_dir, "--model", a_file, "--out", out,
                  "--ratio", "10", check=False)  # fmt: skip
    assert_one_line_error(result, "not a model directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_an_output_moved_aside_by_a_killed_run_is_put_back(tmp_path: Path) -> None:
    import os
    import subprocess

    from smfa.io import _temp_prefix, staged_dir

    gone = subprocess.run(
        _python("import os; print(os.getpid())"), capture_output=True, text=True, check=True
    )
    dead = int(gone.stdout)
    final = tmp_path / "out"
    # As a writer killed between its two renames leaves it: the previous output moved aside.
    backup = tmp_path / (
        _temp_prefix("out").replace(f"-{os.getpid()}.", f"-{dead}.") + "backup.old"
    )
    (backup / "old").mkdir(parents=True)
    (backup / "old" / "result").write_text("previous")
    with pytest.raises(RuntimeError), staged_dir(final):
        raise RuntimeError("this run fails too")
    assert (final / "old" / "result").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# Issue 29: the last silent failures. Each test below failed on cec9c75.


def _serve_http(handler: Any) -> Any:
    """A real HTTP server on 127.0.0.1 in a thread; `.url` is its base URL."""
    import threading

    from .test_judge import QuietServer

    server = QuietServer(("127.0.0.1", 0), handler)
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


@pytest.mark.parametrize("status", [302, 307])
def test_the_judge_key_never_follows_a_redirect(
    status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from http.server import BaseHTTPRequestHandler

    from smfa.errors import JudgeError
    from smfa.judge.http import HttpJudge

    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMFA_JUDGE_API_KEY", "sk-secret-29")
    received: list[str | None] = []  # the Authorization header of every request, any method

    class Records(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def answer(self) -> None:
            received.append(self.headers.get("Authorization"))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            reply = {"choices": [{"message": {"role": "assistant", "content": "7"}}]}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = answer

    elsewhere = _serve_http(Records)  # another host, as far as the key is concerned
    target = f"{elsewhere.url}/v1/chat/completions"

    class Redirects(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

    first = _serve_http(Redirects)
    try:
        judge = HttpJudge(f"{first.url}/v1", "m", backoff=0)
        with pytest.raises(
            JudgeError, match=f"redirects to {target} \\(HTTP {status}\\)"
        ) as caught:
            judge.score_meaning(["Q?"], ["one two"])
        assert received == []  # nothing reached the other host, so neither did the key
        assert "sk-secret-29" not in str(caught.value)
        # The recording server does see the key when it is the endpoint given.
        assert HttpJudge(f"{elsewhere.url}/v1", "m").score_meaning(["Q?"], ["x"]) == [7.0]
        assert received == ["Bearer sk-secret-29"]
    finally:
        for server in (first, elsewhere):
            server.shutdown()
            server.server_close()


def _children(pid: int) -> list[int]:
    """Every live descendant of `pid` (Linux /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        below = [p for p, parent in parents.items() if parent in frontier]
        found += below
        frontier = below
    return found


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_workers_end_with_a_parent_killed_by_sigkill(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    code = (
        "import sys\nfrom smfa.workers import run_jobs\n"
        "from tests.jobs import SleepsForever\n"
        "run_jobs([SleepsForever(sys.argv[1], n) for n in ('a', 'b')], workers=2)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen([*_python(code), tmp_path], env=env, stderr=subprocess.DEVNULL)
    helpers: set[int] = set()
    try:
        wait_for(lambda: all((tmp_path / n).is_file() for n in ("a", "b")), 120)
        workers = {int((tmp_path / n).read_text()) for n in ("a", "b")}
        helpers = set(_children(parent.pid))  # the workers and multiprocessing's own helpers
        assert workers <= helpers and len(helpers) >= 3
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        wait_for(lambda: not any(_running(pid) for pid in helpers), 10)
    finally:
        parent.kill()
        parent.wait()
        for pid in helpers:  # never leave them behind, even when this test fails
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_second_identical_training_waits_and_reuses_the_cache(
    mini_world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading
    import time

    from smfa.reference import build_base, train_reference

    from .conftest import QUICK_TRAIN, TINY_MODEL

    # Only the refusal rows: a few steps, so that the test takes seconds.
    few = dataclasses.replace(
        QUICK_TRAIN, memory_repeats=0, understanding_repeats=0, fundus_repeats=0, scene_repeats=0
    )
    build_base(mini_world, TINY_MODEL, few.seed, tmp_path)
    waiting = threading.Event()  # the first run trains on only once the second one waits
    steps: dict[str, int] = {"first": 0, "second": 0}
    results: dict[str, Any] = {}

    def run(name: str) -> None:
        def on_step(step: int, total: int, loss: float) -> None:
            steps[name] += 1
            waiting.wait(60)

        try:
            results[name] = train_reference(
                mini_world, "vanilla", 10, TINY_MODEL, few, tmp_path, False, on_step
            )
        except Exception as exc:  # the second run's "in use" error, before the fix
            results[name] = exc

    first = threading.Thread(target=run, args=("first",))
    first.start()
    wait_for(lambda: steps["first"] > 0)  # it holds the cache entry and is training
    second = threading.Thread(target=run, args=("second",))
    second.start()
    seen = ""
    deadline = time.time() + 60
    while "waiting for" not in seen and second.is_alive() and time.time() < deadline:
        seen += capsys.readouterr().err
        time.sleep(0.05)
    waiting.set()
    first.join()
    second.join()
    assert isinstance(results["first"], Path), results["first"]
    assert results["second"] == results["first"]  # the same cache entry, not an error
    assert steps["second"] == 0  # reused, not trained again
    assert f"waiting for {results['first']}: another smfa run (pid" in " ".join(seen.split())


def test_every_numeric_setting_has_a_bound() -> None:
    import typing

    from smfa.config import BOUNDS, LIMITS, RunConfig

    config = RunConfig()
    numeric = []
    for section in dataclasses.fields(config):
        value = getattr(config, section.name)
        if not dataclasses.is_dataclass(value):
            numeric += [section.name] if isinstance(value, int | float) else []
            continue
        hints = typing.get_type_hints(type(value))
        numeric += [f"{section.name}.{f.name}" for f in dataclasses.fields(value)
                    if hints[f.name] in (int, float, list[int], list[float])]  # fmt: skip
    assert sorted(set(numeric) - set(BOUNDS)) == []
    assert {"world.seed", "train.seed", "unlearn.seed", "eval.relearn_lr"} <= set(BOUNDS)
    assert set(LIMITS) <= set(numeric)  # no limit on a setting that does not exist
    sized = [key for key in numeric if BOUNDS[key][1] is None and key in LIMITS]
    assert {"world.image_size", "world.unknown_people", "world.people", "world.seed"} <= set(sized)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("world.image_size=30000", "world.image_size must be at most 1,024, got 30000"),
        ("world.unknown_people=1000000", "world.unknown_people must be at most 5,000"),
        ("world.people=100000", "world.people must be at most 5,000, got 100000"),
        ("world.train_scenes=10000000", "world.train_scenes must be at most 20,000"),
        ("unlearn.lr=nan", "unlearn.lr must be a finite number, got nan"),
        ("train.lr=.inf", "train.lr must be a finite number, got inf"),
        ("compare.max_leak=nan", "compare.max_leak must be a finite number, got nan"),
        ("train.batch_size=.inf", "train.batch_size must be a finite number, got inf"),
        ("methods.smfa.sweep=1,nan", "methods.smfa.sweep must be a finite number, got nan"),
        ("methods.vera.margin=.inf", "methods.vera.margin must be a finite number, got inf"),
        ("train.seed=-1", "train.seed must be at least 0, got -1"),
        ("unlearn.epochs=100000", "unlearn.epochs must be at most 1,000"),
        ("unlearn.lr=5", "unlearn.lr must be at most 1, got 5.0"),
    ],
)
def test_numbers_out_of_bounds_are_named_before_any_work(
    setting: str, message: str, tmp_path: Path
) -> None:
    result = smfa("train", "--world", tmp_path / "no-world", "--set", setting, check=False)
    assert_one_line_error(result, message)


def test_world_build_refuses_a_negative_seed(tmp_path: Path) -> None:
    out = tmp_path / "world"
    result = smfa("world", "build", "--out", out, "--seed", "-1", check=False)
    assert_one_line_error(result, "world.seed must be at least 0, got -1")
    result = smfa("world", "build", "--out", out, "--people", "99999", check=False)
    assert_one_line_error(result, "world.people must be at most 5,000, got 99999")
    assert list(tmp_path.iterdir()) == []


def test_export_lora_refuses_rank_zero(run_dir: Path, tmp_path: Path) -> None:
    result = smfa("export-lora", "--run", run_dir, "--rank", "0", "--out", tmp_path / "a",
                  check=False)  # fmt: skip
    assert_one_line_error(result, "rank (--rank) must be at least 1, got 0")
    assert list(tmp_path.iterdir()) == []


def test_a_huge_portrait_is_refused_naming_the_file(
    tiny: tuple[object, object], mini_world_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from PIL import Image

    from smfa.data.batches import Encoder
    from smfa.errors import DataFormatError
    from smfa.world.build import write_manifest

    world = tmp_path / "world"
    shutil.copytree(mini_world_dir, world)
    portrait = world / "images" / "portraits" / "p0003_train.png"
    Image.new("1", (10000, 10000)).save(portrait)  # 1 bit a pixel: 12 MB to make, not 300
    write_manifest(world)  # the hashes match: only the size is wrong
    result = smfa("train", "--world", world, "--set", f"workdir={tmp_path / 'w'}", check=False)
    assert_one_line_error(
        result, "images/portraits/p0003_train.png (named in people.jsonl line 3", "10000x10000"
    )
    assert not (tmp_path / "w").exists()
    with pytest.raises(DataFormatError, match=r"p0003_train\.png: the image is 10000x10000 pixels"):
        Encoder(tiny[1]).image(portrait)  # an image read outside a world: the same bound


def _disk_full(kind: str) -> Any:
    """What the lowest write of a model raises on a full disk: safetensors' own error for the
    weights, or an OSError that names no file (ENOSPC) from a plain write."""
    import errno

    from safetensors import SafetensorError

    def write(*args: Any, **kwargs: Any) -> None:
        if kind == "safetensors":
            raise SafetensorError(
                "Error while serializing: I/O error: No space left on device (os error 28)"
            )
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


UNLEARN_FAST = ["--method", "ga", "--set", "unlearn.epochs=1", "--set", "unlearn.retain_budget=4",
                "--set", "erasure.measure=false"]  # fmt: skip


@pytest.mark.parametrize(
    ("command", "kind"), [("train", "oserror"), ("unlearn", "safetensors"), ("stream", "oserror")]
)
def test_a_full_disk_while_saving_a_model_names_it(
    command: str,
    kind: str,
    model_dir: Path,
    mini_world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import transformers.modeling_utils

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", _disk_full(kind))
    work = ["--set", f"workdir={tmp_path / 'work'}"]
    out = tmp_path / "out"
    person = mini_world.splits.forget[10][0]
    args = {
        "train": ["train", "--world", mini_world.root, *work, "--set", "model.vision_steps=1",
                  "--set", "model.vision_batch=2"],
        "unlearn": ["unlearn", "--world", mini_world.root, "--model", model_dir, "--out", out,
                    "--forget", person, *UNLEARN_FAST, *work],
        "stream": ["stream", "--world", mini_world.root, "--model", model_dir, "--out", out,
                   "--request", person, *UNLEARN_FAST, *work],
    }[command]  # fmt: skip
    result = smfa(*args, check=False)
    saved = {"train": "models/base-", "unlearn": str(out / "model"), "stream": "request-1/model"}
    assert_one_line_error(result, saved[command], "cannot save the model", "No space left")
    assert not any(p.name.endswith((".partial", ".tmp")) for p in tmp_path.rglob("*"))


def test_a_binary_config_or_results_file_is_one_line(tmp_path: Path) -> None:
    binary = bytes(range(256)) * 4
    config = tmp_path / "config.yaml"
    config.write_bytes(binary)
    result = smfa("train", "--world", tmp_path, "--config", config, check=False)
    assert_one_line_error(result, str(config), "not a YAML text file (not UTF-8")
    results = tmp_path / "results.json"
    results.write_bytes(binary)
    for command in ("report", "show"):
        assert_one_line_error(
            smfa(command, results, check=False), str(results), "not a JSON text file"
        )


def test_deeply_nested_json_is_one_line(mini_world_dir: Path, tmp_path: Path) -> None:
    import shutil

    nested = "[" * 100_000 + "]" * 100_000
    world = tmp_path / "world"
    shutil.copytree(mini_world_dir, world)
    with (world / "people.jsonl").open("a") as handle:
        handle.write(nested + "\n")
    lines = len((world / "people.jsonl").read_text().splitlines())
    result = smfa("train", "--world", world, check=False)
    assert_one_line_error(result, f"people.jsonl line {lines}: invalid JSON: nested too deeply")
    results = tmp_path / "results.json"
    results.write_text(nested)
    assert_one_line_error(smfa("show", results, check=False), str(results), "nested too deeply")
    config = tmp_path / "config.yaml"
    config.write_text(nested)
    result = smfa("train", "--world", world, "--config", config, check=False)
    assert_one_line_error(result, str(config), "nested too deeply")


def test_a_write_past_the_file_size_limit_names_the_file(tmp_path: Path) -> None:
    # A real EFBIG ("File too large", an OSError with no file name), as a full disk's ENOSPC.
    import os
    import resource
    import subprocess
    import sys

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    code = (
        "import sys\nfrom pathlib import Path\nfrom smfa.io import atomic_write_bytes\n"
        "try:\n    atomic_write_bytes(Path(sys.argv[1]), bytes(1 << 20))\n"
        "except OSError as exc:\n    print(exc.filename, exc.strerror, sep='|')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    target = tmp_path / "big.bin"
    result = subprocess.run([*_python(code), target], env=env, capture_output=True, text=True,
                            preexec_fn=limit, timeout=60, check=True)  # fmt: skip
    assert result.stdout.strip() == f"{target}|File too large"
    assert list(tmp_path.iterdir()) == []  # no temporary file left either


def test_a_bogus_role_is_refused_before_the_base_is_built(
    mini_world_dir: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    result = smfa("train", "--world", mini_world_dir, "--role", "bogus",
                  "--set", f"workdir={work}", check=False)  # fmt: skip
    assert_one_line_error(result, "--role 'bogus' is not one of vanilla, oracle")
    assert not work.exists()


@pytest.mark.parametrize("offline", ["", "1"])
def test_a_hub_id_that_is_not_cached_is_one_line_at_once(
    offline: str, mini_world_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # an empty cache
    monkeypatch.delenv("SMFA_HUB_DOWNLOAD", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    started = time.time()
    result = smfa("eval", "--model", "smfa-test/never-cached-29", "--world", mini_world_dir,
                  "--out", tmp_path / "out", check=False)  # fmt: skip
    assert_one_line_error(
        result,
        "smfa-test/never-cached-29: neither a local model folder nor in the Hugging Face cache",
        "SMFA_HUB_DOWNLOAD=1",
    )
    assert time.time() - started < 30  # no request to the hub, so no retries
    assert not (tmp_path / "out").exists()


def test_a_cached_hub_id_loads_from_the_cache_alone(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    import time

    from huggingface_hub import constants

    from smfa.models.io import load_model

    repo = tmp_path / "hub" / "models--smfa-test--tiny-29"  # the cache's own layout
    shutil.copytree(model_dir, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("SMFA_HUB_DOWNLOAD", raising=False)
    started = time.time()
    model, _ = load_model("smfa-test/tiny-29")
    assert time.time() - started < 30  # it asked the hub nothing (that retries for minutes)
    assert Path(model.name_or_path) == repo / "snapshots" / "0123abcd"


def test_an_existing_folder_with_an_equals_sign_is_never_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smfa.eval.results import parse_models

    (tmp_path / "eq=dir" / "model").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert parse_models(["eq=dir/model"]) == {"model": Path("eq=dir/model")}
    assert parse_models(["mine=eq=dir/model"]) == {"mine": Path("eq=dir/model")}
    assert parse_models(["eq=elsewhere/model"]) == {"eq": Path("elsewhere/model")}


def test_an_interrupted_eval_or_compare_resumes_into_its_out(
    model_dir: Path, mini_world: World, tmp_path: Path
) -> None:
    """A run killed after its first generations file (before results.json) left its marker: the
    rerun into the same --out is accepted and finishes; a stranger's folder is still refused."""
    from smfa.eval.results import RESULTS_MARKER, mark_results_dir

    out = tmp_path / "out"
    mark_results_dir(out, mini_world.world_hash, 10)  # what a killed run leaves behind
    (out / "generations-vanilla.jsonl").write_text('{"partial": true}\n')
    smfa("eval", "--model", f"vanilla={model_dir}", "--world", mini_world.root, "--out", out,
         "--set", f"workdir={tmp_path / 'w'}", *FAST_EVAL)  # fmt: skip
    assert (out / "results.json").is_file() and (out / RESULTS_MARKER).is_file()
    assert "partial" not in (out / "generations-vanilla.jsonl").read_text()
    other = tmp_path / "other"  # marked for another forget ratio: refused, untouched
    mark_results_dir(other, mini_world.world_hash, 20)
    result = smfa("eval", "--model", f"vanilla={model_dir}", "--world", mini_world.root,
                  "--out", other, "--set", f"workdir={tmp_path / 'w'}", *FAST_EVAL,
                  check=False)  # fmt: skip
    assert_one_line_error(result, "interrupted run for another world or forget ratio")
    assert sorted(p.name for p in other.iterdir()) == [RESULTS_MARKER]


def test_a_model_that_is_not_one_fails_before_any_work(
    model_dir: Path, mini_world: World, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = smfa("compare", "--world", mini_world.root, "--vanilla", model_dir,
                  "--oracle", tmp_path / "NOT_A_MODEL", "--out", out,
                  "--set", f"workdir={tmp_path / 'w'}", check=False)  # fmt: skip
    assert_one_line_error(result, "NOT_A_MODEL: no such model directory")
    assert not out.exists() and not (tmp_path / "w").exists()  # nothing evaluated, written
    result = smfa("eval", "--model", f"vanilla={model_dir}", "--model", f"x={tmp_path}",
                  "--world", mini_world.root, "--out", out, check=False)  # fmt: skip
    assert_one_line_error(result, "not a model directory (no config.json)")
    assert not out.exists()
