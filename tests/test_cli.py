"""The command line end to end on a miniature world, and its one-line errors on bad input."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

from smfa.cli import main
from smfa.train import cpu_computes_bf16

from .conftest import MINI_WORLD

QUICK = [
    "--set",
    "train.memory_repeats=1",
    "--set",
    "train.understanding_repeats=1",
    "--set",
    "train.fundus_repeats=1",
    "--set",
    "train.scene_repeats=1",
    "--set",
    "train.refusal_repeats=1",
    "--set",
    "train.batch_size=16",
    "--set",
    "eval.max_new_tokens=12",
    "--set",
    "eval.attacks=prefill,fair_mc",
    "--set",
    "model.vision_steps=2",
    "--set",
    "model.vision_batch=6",
]
WORLD = [
    "--set",
    f"world.people={MINI_WORLD.people}",
    "--set",
    "world.image_size=32",
    "--set",
    "world.train_scenes=12",
    "--set",
    "world.validation_scenes=4",
    "--set",
    "world.heldout_scenes=4",
    "--set",
    "world.unknown_people=3",
    "--set",
    "world.few_shot_retain=9",
]
# Six people, for the runs that train and evaluate: every evaluation asks each person's
# questions. 10% forgets one of them, 34% two (SMALL_PAIR).
SMALL = [
    *WORLD,
    *("--set", "world.people=6"),
    *("--set", "world.forget_ratios=[10, 34]"),
]
SMALL_PAIR = "34"


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def smfa(*args: str | Path, check: bool = True) -> Ran:
    """Run the real entry point in-process (same code path as the installed `smfa` script)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    argv = ["smfa", *map(str, args)]
    with (
        mock.patch.object(sys, "argv", argv),
        mock.patch.dict(os.environ, {"COLUMNS": "80"}),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    result = Ran(code, out.getvalue(), err.getvalue())
    if check and result.returncode != 0:
        raise AssertionError(f"smfa {args} failed:\n{result.stdout}\n{result.stderr}")
    return result


def assert_one_line_error(result: Ran, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:"), result.stderr
    message = " ".join(line.strip() for line in lines)
    for needle in needles:
        assert needle in message, message


@pytest.mark.slow
def test_world_train_eval_end_to_end(tmp_path: Path) -> None:
    world = tmp_path / "world"
    work = tmp_path / "work"
    smfa("world", "build", "--out", world, *SMALL)
    first = (world / "manifest.json").read_bytes()
    smfa("world", "build", "--out", world, *SMALL)  # an identical world is reused as is
    assert (world / "manifest.json").read_bytes() == first
    model_dir = Path(
        smfa("train", "--world", world, "--set", f"workdir={work}", *QUICK).stdout.strip()
    )
    assert (model_dir / "model.safetensors").is_file()
    meta = json.loads((model_dir / "smfa-train.json").read_text())
    assert meta["role"] == "vanilla" and meta["steps"] > 0
    # The precision it trained at, as this CPU computes: bf16 autocast only where it has bf16.
    assert meta["precision"] == ("bf16" if meta["train"]["bf16"] and cpu_computes_bf16() else "no")
    out = tmp_path / "results"
    result = smfa(
        "eval",
        "--model",
        f"vanilla={model_dir}",
        "--world",
        world,
        "--out",
        out,
        "--set",
        f"workdir={work}",
        *QUICK,
    )
    assert "forget · image memory" in result.stdout
    data = json.loads((out / "results.json").read_text())
    assert set(data["models"]) == {"vanilla"}
    attacks = [r for r in data["rows"] if r["probe"] != "plain"]
    attacked = {(r["probe"], r["split"], r["metric"]) for r in attacks if r["kind"] == "all"}
    assert attacked == {
        ("prefill", "forget", "leak_rate"), ("prefill", "retain", "recall"),
        ("fair_mc", "forget", "mc_accuracy"), ("fair_mc", "forget", "chance"),
        ("fair_mc", "retain", "mc_accuracy"), ("fair_mc", "retain", "chance"),
    }  # fmt: skip
    assert {r["model"] for r in attacks} == {"vanilla"}
    required = {"model", "probe", "split", "kind", "phrasing", "metric", "value", "n"}
    assert all(required <= set(row) for row in data["rows"])
    slices = {(r["split"], r["kind"], r["phrasing"]) for r in data["rows"]}
    for split, kind in [
        ("forget", "image_memory"),
        ("forget", "text_memory"),
        ("retain", "image_understanding"),
        ("general", "general_scene"),
        ("unknown", "unknown_person"),
    ]:
        assert (split, kind, "heldout") in slices
    metrics = {r["metric"] for r in data["rows"]}
    assert {
        "leak_rate",
        "recall",
        "answer_probability",
        "mc_accuracy",
        "accuracy",
        "rouge_l",
        "meaningfulness",
        "false_refusal_rate",
        "overall_memory",
    } <= metrics
    assert all(0.0 <= r["value"] <= 1.0 for r in data["rows"])
    header = (out / "results.csv").read_text().splitlines()[0]
    assert header.startswith("model,probe,split,kind,image_type,phrasing,view,metric,value,n")
    generations = (out / "generations-vanilla.jsonl").read_text().splitlines()
    assert len(generations) == sum(
        1
        for line in (world / "questions.jsonl").read_text().splitlines()
        if json.loads(line)["probe"] and json.loads(line)["phrasing"] in ("train", "heldout")
    )
    shown = smfa("show", out / "results.json")
    assert "leak_rate" in shown.stdout

    # Unlearn two people named the way a user names them, with SMFA.
    people = json.loads((world / "splits.json").read_text())["forget"][SMALL_PAIR]
    names = [json.loads(line) for line in (world / "people.jsonl").read_text().splitlines()]
    first = next(p["name"] for p in names if p["id"] == people[0])
    unlearned = tmp_path / "unlearned"
    smfa(
        "unlearn", "--world", world, "--model", model_dir, "--out", unlearned,
        "--method", "smfa", "--forget", first, "--forget", people[1],
        "--set", "unlearn.epochs=1", "--set", "unlearn.retain_budget=6",
        "--set", f"workdir={work}", "--set", "erasure.measure=false",  # tests/test_erasure.py
    )  # fmt: skip
    run = json.loads((unlearned / "run.json").read_text())
    record = json.loads((unlearned / "erasure.json").read_text())
    assert record["verdict"] == "not measured" and record["forgotten"] == sorted(people[:2])
    assert run["request"]["people"] == sorted(people[:2]) and run["default"] == "k=3"
    assert run["precision"] == ("bf16" if cpu_computes_bf16() else "no")  # unlearn.bf16 is on
    assert (unlearned / "model" / "model.safetensors").is_file()
    assert (unlearned / "delta.safetensors").is_file()
    assert (unlearned / "adapters" / "anchor" / "adapter_config.json").is_file()
    smfa("export-lora", "--run", unlearned, "--rank", "2")
    exported = json.loads((unlearned / "lora-r2" / "export.json").read_text())
    assert exported["rank"] == 2 and 0.0 < exported["kept_energy"] <= 1.0


@pytest.fixture(scope="module")
def cli_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = tmp_path_factory.mktemp("cli") / "world"
    smfa("world", "build", "--out", world, *WORLD)
    return world


def _copy(world: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(world, target)
    return target


def test_malformed_jsonl_line(cli_world: Path, tmp_path: Path) -> None:
    world = _copy(cli_world, tmp_path)
    lines = (world / "questions.jsonl").read_text().splitlines()
    lines[6] = lines[6][:-5]
    (world / "questions.jsonl").write_text("\n".join(lines) + "\n")
    result = smfa("train", "--world", world, check=False)
    assert_one_line_error(result, "questions.jsonl line 7")


def test_missing_image(cli_world: Path, tmp_path: Path) -> None:
    world = _copy(cli_world, tmp_path)
    (world / "images" / "portraits" / "p0003_heldout.png").unlink()
    result = smfa(
        "eval", "--model", tmp_path, "--world", world, "--out", tmp_path / "o", check=False
    )
    assert_one_line_error(result, "p0003_heldout.png")


def test_unknown_config_key(cli_world: Path) -> None:
    result = smfa("train", "--world", cli_world, "--set", "train.batchsize=1", check=False)
    assert_one_line_error(
        result, "unknown config key 'train.batchsize'", "did you mean 'train.batch_size'"
    )


def test_compare_max_leak_out_of_range(cli_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = smfa(
        "compare", "--world", cli_world, "--vanilla", tmp_path, "--out", out,
        "--set", "compare.max_leak=2", check=False,
    )  # fmt: skip
    assert_one_line_error(result, "compare.max_leak", "between 0 and 1")
    assert not out.exists()


def test_person_in_forget_and_retain(cli_world: Path, tmp_path: Path) -> None:
    world = _copy(cli_world, tmp_path)
    splits = json.loads((world / "splits.json").read_text())
    splits["retain"]["10"].append(splits["forget"]["10"][0])
    (world / "splits.json").write_text(json.dumps(splits))
    result = smfa("train", "--world", world, check=False)
    assert_one_line_error(result, splits["forget"]["10"][0], "forget", "retain")


def test_empty_forget_set(cli_world: Path, tmp_path: Path) -> None:
    world = _copy(cli_world, tmp_path)
    splits = json.loads((world / "splits.json").read_text())
    splits["forget"]["10"] = []
    (world / "splits.json").write_text(json.dumps(splits))
    result = smfa("train", "--world", world, check=False)
    assert_one_line_error(result, "forget", "empty")


def test_out_dir_with_a_different_world(cli_world: Path) -> None:
    before = (cli_world / "manifest.json").read_bytes()
    result = smfa("world", "build", "--out", cli_world, *WORLD, "--seed", "99", check=False)
    assert_one_line_error(result, str(cli_world))
    assert (cli_world / "manifest.json").read_bytes() == before
    assert not [p for p in cli_world.parent.iterdir() if p.name.endswith(".partial")]


def test_model_dir_that_is_not_a_model(cli_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = smfa(
        "eval", "--model", f"x={tmp_path}", "--world", cli_world, "--out", out, check=False
    )
    assert_one_line_error(result, "not a model directory")
    assert not out.exists(), "a failed evaluation leaves no output behind"


def test_unknown_forget_ratio(cli_world: Path, tmp_path: Path) -> None:
    result = smfa(
        "eval",
        "--model",
        tmp_path,
        "--world",
        cli_world,
        "--out",
        tmp_path / "o",
        "--forget-ratio",
        "7",
        check=False,
    )
    assert_one_line_error(result, "no forget split for ratio 7")


def test_eval_and_compare_refuse_an_empty_slice(cli_world: Path, tmp_path: Path) -> None:
    from smfa.world.build import write_manifest

    world = _copy(cli_world, tmp_path)
    path = world / "questions.jsonl"
    kept = [line for line in path.read_text().splitlines() if '"validation"' not in line]
    path.write_text("\n".join(kept) + "\n")
    write_manifest(world)
    where = f"world {world}: the validation slice (validation phrasings) has no memory questions"
    out = tmp_path / "o"
    result = smfa(
        "eval", "--model", tmp_path / "no-model", "--world", world, "--out", out,
        "--set", "eval.slice=validation", check=False,
    )  # fmt: skip
    assert_one_line_error(result, where)
    assert not out.exists()
    result = smfa(
        "compare", "--world", world, "--vanilla", tmp_path / "no-model", "--out", out,
        "--set", "compare.slice=validation", check=False,
    )  # fmt: skip
    assert_one_line_error(result, where)
    assert not out.exists()
    # Reported on held-out phrasings, but SMFA's k is chosen on validation: refused up front.
    result = smfa(
        "compare", "--world", world, "--vanilla", tmp_path / "no-model", "--out", out,
        "--set", "compare.methods=smfa", check=False,
    )  # fmt: skip
    assert_one_line_error(result, where)
    assert not out.exists()


def test_report_and_show_refuse_results_without_retain_rows(tmp_path: Path) -> None:
    row = {
        "model": "vanilla", "probe": "plain", "split": "forget", "kind": "text_memory",
        "image_type": "all", "phrasing": "heldout", "view": "none", "metric": "leak_rate",
        "value": 0.5, "n": 4, "higher_is_better": False,
    }  # fmt: skip
    path = tmp_path / "results.json"
    data = {"schema": 3, "world_hash": "w", "forget_ratio": 10, "rows": [row]}
    path.write_text(json.dumps(data | {"models": {"vanilla": {"role": "vanilla"}}}))
    for command in ("report", "show"):
        result = smfa(command, path, check=False)
        assert_one_line_error(result, f"{path}: no retain memory rows on the reported slice")
    assert not (tmp_path / "report.md").exists()


def test_a_misspelt_attack_fails_before_any_model_work(
    mini_world_dir: Path, tmp_path: Path
) -> None:
    result = smfa(
        "eval", "--model", tmp_path / "no-model", "--world", mini_world_dir,
        "--out", tmp_path / "o", "--set", "eval.attacks=prefill,relern", check=False,
    )  # fmt: skip
    assert_one_line_error(result, "unknown attack 'relern'", "did you mean 'relearn'")


def test_demo_trains_both_references_and_compares_in_one_pool(tmp_path: Path) -> None:
    work = tmp_path / "runs"
    ran = smfa(
        "demo", *SMALL, *QUICK, "--set", f"workdir={work}", "--set", "compare.methods=smfa",
        "--set", "methods.smfa.sweep=0,3", "--set", "unlearn.epochs=1",
        "--set", "unlearn.retain_budget=6", "--set", "eval.max_new_tokens=8",
    )  # fmt: skip
    assert "done in" in ran.stdout and "smfa: k=" in ran.stdout
    assert "chosen on the validation slice" in ran.stdout
    report = work / "demo"
    data = json.loads((report / "results.json").read_text())
    roles = {name: info.get("role") for name, info in data["models"].items()}
    assert roles == {
        "vanilla": "vanilla",
        "oracle": "oracle",
        "smfa-k0": "method",
        "smfa-k3": "method",
    }
    trained = {p.name.split("-")[0] for p in (work / "models").iterdir()}
    assert trained == {"base", "vanilla", "oracle"}
    assert data["models"]["vanilla"]["path"] == str(next((work / "models").glob("vanilla-*")))

    # The k sweep: one variant chosen on the validation slice, under the leak criterion.
    assert sum(info.get("selected", False) for info in data["models"].values()) == 1
    selection = data["compare"]["selection"]["smfa"]
    assert selection["variant"] in ("k=3", "k=0")
    assert set(selection["scores"]) == set(selection["leaks"]) == {"k=3", "k=0"}
    assert "at most 2%" in selection["criterion"]
    # The selected variant alone was evaluated on the reported slice and attacked
    # (compare.report_variants=selected); every variant and vanilla keep their validation
    # rows, the oracle is only reported.
    chosen = "smfa-" + selection["variant"].replace("=", "")
    unchosen = ({"smfa-k3", "smfa-k0"} - {chosen}).pop()
    phrasings = {
        m: {r["phrasing"] for r in data["rows"] if r["model"] == m} for m in data["models"]
    }
    assert phrasings == {
        "vanilla": {"heldout", "validation"},
        "oracle": {"heldout"},
        chosen: {"heldout", "validation"},
        unchosen: {"validation"},
    }
    assert data["models"][chosen]["reported"] and not data["models"][unchosen]["reported"]
    attacked = {r["model"] for r in data["rows"] if r["probe"] != "plain"}
    assert attacked == {"vanilla", "oracle", chosen}
    assert not (report / f"generations-{unchosen}.jsonl").exists()
    text = (report / "report.md").read_text()
    assert f"Scored on the validation slice only: {unchosen}" in text
    assert f"| {unchosen} |" not in text.split("## Hyper-parameter selection")[0]
    assert (report / "report-sweep_smfa.png").is_file()  # drawn from the validation rows
    html = (report / "report.html").read_text()
    assert "data:image/png;base64," in html and "smfa" in html
