"""Data-parallel runs: `accelerate launch` with 2 CPU processes (gloo) against one process.

Unlearning (idk, fp32, no dropout, no augmentation) must give the single-process merged
weights within float32 reduction noise: the 2 processes see the same global batches, each loss
is weighted by its share of the examples and the model's token-mean loss is normalised by the
global batch's token count, so only the summation order differs. Evaluation runs whole batches
per process, so results.json and the generations must be identical. The helpers are also
checked alone (not launched they are the identity) and against a stand-in for rank 0 of 2.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from smfa import distributed as dist
from smfa import launch
from smfa.data.format import load_world
from smfa.models.io import save_model
from smfa.models.tiny import build_tiny_model
from smfa.reference import world_corpus
from smfa.world.build import build_world

from .conftest import MINI_WORLD
from .test_cli import smfa

# Relative tolerance on the merged weights: the largest |w2 - w1| over the largest |w1 - w0|
# (the size of the update). Measured 0 (bit-identical) here, and <1e-5 for every method
# but kl (docs/scale-out.md); the bound leaves room for float32 summation order under Adam.
WEIGHT_RTOL = 1e-3
LAUNCHED = Path(__file__).with_name("launched.py")
SMALL_WORLD = dataclasses.replace(
    MINI_WORLD, people=6, unknown_people=2, train_scenes=4, validation_scenes=2,
    heldout_scenes=2, few_shot_retain=6, forget_ratios=(20,),
)  # fmt: skip
FORGET_QUESTIONS = 19  # + 6 retain = 25 items: batches of 8, 8, 8 and 1 (one process idles)
UNLEARN = [
    "--method", "idk", "--set", "unlearn.epochs=1", "--set", "unlearn.retain_budget=6",
    "--set", "unlearn.batch_size=8", "--set", "unlearn.bf16=false",
    "--set", "unlearn.lora_dropout=0", "--set", "unlearn.augment=false",
]  # fmt: skip
EVAL = [
    "--set", "eval.slice=reported",
    "--set", "eval.max_new_tokens=8", "--set", "eval.batch_size=32",
    "--set", "eval.attacks=prefill",  # its rows, too, must be the same from two processes
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _launch(commands: list[list[str]], processes: int, root: Path) -> float:
    """Run every `smfa` command of `commands`, in order, in each of `processes` processes of
    one `accelerate launch` (tests/launched.py); returns seconds."""
    started = time.perf_counter()
    listed = root / f"commands-{processes}.json"
    listed.write_text(json.dumps(commands))
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
        "--num_processes", str(processes), "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(_free_port()), str(LAUNCHED), str(listed),
    ]  # fmt: skip
    # accelerate's --cpu launches multi-CPU runs through mpirun; torchrun (its multi-GPU
    # launcher) with ACCELERATE_USE_CPU=1 gives the same gloo group without MPI.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80", "ACCELERATE_USE_CPU": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr[-12000:]}"
    return time.perf_counter() - started


def _alone(args: list[str]) -> float:
    """Run `smfa ARGS` in this process, as test_cli.py's runs do; returns seconds."""
    started = time.perf_counter()
    smfa(*args)
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A world of 6 people (~300 held-out probes) and a random tiny model for it."""
    root = tmp_path_factory.mktemp("distributed")
    world = load_world(build_world(root / "world", SMALL_WORLD))
    model, processor = build_tiny_model(world_corpus(world), "tiny", image_size=32, seed=0)
    save_model(model, processor, root / "vanilla")
    people = set(world.splits.forget[20])
    lines = (world.root / "questions.jsonl").read_text().splitlines()
    chosen = [
        line
        for line in lines
        if (q := json.loads(line))["subject"] in people
        and q["kind"] in ("image_memory", "text_memory")
        and q["phrasing"] == "train"
        and q["view"] in (None, "train")
    ][:FORGET_QUESTIONS]
    (root / "forget.jsonl").write_text("\n".join(chosen) + "\n")
    return {"root": root, "world": world.root}


# VERA's rehearsal draws its own batch at every step: each process must draw the same one (the
# global batch's size, not its share), or the averaged gradient is not one process's. Unmasked
# (k=-1): the sculpting mask is a threshold, and an entry at its edge may flip on float
# summation order alone, which would hide what this compares.
VERA = [
    *("--method", "vera", "--set", "methods.vera.rank=4", "--set", "methods.vera.epochs=1"),
    *("--set", "methods.vera.rehearse=1", "--set", "methods.vera.k=-1"),
    *UNLEARN[2:],
]


@pytest.fixture(scope="module")
def launched(setup: dict) -> dict:
    """Each run twice, in this process and as 2 launched processes: idk's unlearning, the
    evaluation of its 1-process model, and VERA's unlearning with rehearsal. The launch runs
    its three commands in one `accelerate launch` (tests/launched.py)."""
    root, world = setup["root"], str(setup["world"])
    common = ["--world", world, "--model", str(root / "vanilla")]
    record = ["--set", "erasure.measure=false"]  # evaluation across processes: its own run

    def unlearn(n: int, method: list[str], name: str) -> list[str]:
        forget = ["--forget-file", str(root / "forget.jsonl")]
        return ["unlearn", *common, *forget, "--out", str(root / f"{name}-{n}"), *method, *record]

    def evaluate(n: int) -> list[str]:
        model = root / "unlearn-1" / "model"
        args = ["eval", "--model", f"idk={model}", "--world", world, "--forget-ratio", "20"]
        return [*args, "--out", str(root / f"eval-{n}"), "--set", f"workdir={root / f'work-{n}'}"]

    seconds = {"unlearn-1": _alone(unlearn(1, UNLEARN, "unlearn"))}
    seconds["vera-1"] = _alone(unlearn(1, VERA, "vera"))
    seconds["eval-1"] = _alone([*evaluate(1), *EVAL])
    commands = [unlearn(2, UNLEARN, "unlearn"), [*evaluate(2), *EVAL], unlearn(2, VERA, "vera")]
    seconds["launch-2 (all three)"] = _launch(commands, 2, root)
    print("seconds:", seconds)
    return setup


@pytest.mark.slow
@pytest.mark.distributed
def test_two_processes_match_one(launched: dict) -> None:
    root = launched["root"]
    one, two = (load_file(str(root / f"unlearn-{n}/model/model.safetensors")) for n in (1, 2))
    base = load_file(str(root / "vanilla/model.safetensors"))
    assert one.keys() == two.keys() == base.keys()
    update = max(float((one[k] - base[k]).abs().max()) for k in one)
    gap = max(float((one[k] - two[k]).abs().max()) for k in one)
    assert update > 1e-4, "the run changed the model"
    assert gap <= WEIGHT_RTOL * update, f"2 processes differ by {gap:.3g} (update {update:.3g})"
    runs = [json.loads((root / f"unlearn-{n}/run.json").read_text()) for n in (1, 2)]
    assert "processes" not in runs[0] and runs[1]["processes"] == 2  # really launched as two
    assert runs[0]["key"] == runs[1]["key"] and runs[0]["stats"]["steps"] == 4
    assert runs[1]["stats"]["steps"] == 4
    loss_gap = abs(runs[0]["stats"]["final_loss"] - runs[1]["stats"]["final_loss"])
    assert loss_gap < 1e-4 * abs(runs[0]["stats"]["final_loss"])
    assert not [p.name for p in root.iterdir() if p.name.startswith(".")], "no scratch left"
    # The erasure record is written once, by the main process, naming the same people.
    records = [json.loads((root / f"unlearn-{n}/erasure.json").read_text()) for n in (1, 2)]
    assert records[0]["forgotten"] == records[1]["forgotten"] == runs[0]["request"]["people"]
    assert records[0]["base_model"] == records[1]["base_model"]

    # Evaluation: whole batches per process, gathered; the main process writes one results.json.
    results = [json.loads((root / f"eval-{n}/results.json").read_text()) for n in (1, 2)]
    assert results[0] == results[1]
    assert len(results[0]["rows"]) > 20
    assert any(r["probe"] == "prefill" for r in results[0]["rows"])
    generations = [(root / f"eval-{n}/generations-idk.jsonl").read_text() for n in (1, 2)]
    assert generations[0] == generations[1] and generations[0].count("\n") > 100
    print(f"weight gap {gap:.3g} of update {update:.3g}")


def test_alone_the_helpers_are_the_identity() -> None:
    batches = [[0, 1], [2, 3], [4]]
    assert not dist.is_distributed() and dist.is_main()
    assert dist.mine_of(batches) == list(enumerate(batches))
    assert dist.share_of([1, 2, 3]) == [1, 2, 3]
    pairs = [(2, "c"), (0, "a")]
    assert dist.gather_pairs(pairs) == pairs
    dist.barrier()
    launch.require_single("compare")  # no error when not launched


def test_answer_tokens_count_the_shifted_labels() -> None:
    labels = torch.tensor([[-100, -100, 5, 6, 2], [-100, 7, 2, -100, -100]])
    assert dist.answer_tokens({"labels": labels}) == 5


def test_output_dir_alone_is_staged(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with dist.output_dir(target) as stage:
        assert stage != target and not target.exists()
        (stage / "file.txt").write_text("x")
    assert (target / "file.txt").read_text() == "x"


def test_processes_accelerate_did_not_join_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchrun without GPUs and without ACCELERATE_USE_CPU=1: N lone runs would collide."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(dist.LaunchError, match="ACCELERATE_USE_CPU=1"):
        dist.is_main()


def test_launched_commands_that_are_not_data_parallel_refuse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Read from the launcher's environment, before torch is imported: torchrun's WORLD_SIZE,
    # or an MPI launcher's own variable.
    for name in launch.SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert launch.launched_processes() == 1
    monkeypatch.setenv("PMI_SIZE", "1")
    launch.require_single("compare")  # one process: not a data-parallel launch
    for name in ("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.setenv(name, "2")
        with pytest.raises(launch.LaunchError, match="smfa compare"):
            launch.require_single("compare")
        monkeypatch.delenv(name)
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(launch.LaunchError, match="WORLD_SIZE='two' in the environment"):
        launch.launched_processes()


class _RankZeroOfTwo:
    """What the weighting asks of an Accelerator, as rank 0 of 2 whose peer holds 3 tokens."""

    num_processes = 2
    device = torch.device("cpu")

    def reduce(self, tensor: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
        assert reduction == "sum"
        return tensor + 3


def test_token_means_count_the_global_batch() -> None:
    seen: dict = {}

    def model(**kwargs: object) -> None:
        seen.update(kwargs)

    labels = torch.tensor([[-100, 4, 2], [-100, -100, 2]])  # 3 answer tokens here, 6 in all
    accelerator = _RankZeroOfTwo()
    dist.ShareModel(model, accelerator, 0.5)(input_ids=labels, labels=labels)  # type: ignore[arg-type]
    assert seen["num_items_in_batch"] == 3.0  # 6 tokens x half the examples: loss x 1 = sum/6
    dist.ShareModel(model, accelerator, 0.0)(labels=labels)  # type: ignore[arg-type]
    assert seen["num_items_in_batch"] == 3.0  # idle process: a finite loss, weighted 0
    seen.clear()
    dist.ShareModel(model, accelerator, 0.5)(input_ids=labels)  # type: ignore[arg-type]
    assert "num_items_in_batch" not in seen  # no labels, no loss: untouched
    batch = {"labels": labels}
    assert dist.step_weight(accelerator, batch, 3, 4, token_mean=False) == 1.5  # type: ignore[arg-type]
    assert dist.step_weight(accelerator, batch, 2, 4, token_mean=True) == 1.0  # type: ignore[arg-type]
    assert dist.step_weight(accelerator, batch, 0, 4, token_mean=True) == 0.0  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.distributed
def test_vera_rehearsal_two_processes_match_one(launched: dict) -> None:
    root = launched["root"]
    one, two = (load_file(str(root / f"vera-{n}/model/model.safetensors")) for n in (1, 2))
    base = load_file(str(root / "vanilla/model.safetensors"))
    update = max(float((one[k] - base[k]).abs().max()) for k in one)
    gap = max(float((one[k] - two[k]).abs().max()) for k in one)
    assert update > 1e-4 and gap <= WEIGHT_RTOL * update, f"gap {gap:.3g}, update {update:.3g}"
    stats = json.loads((root / "vera-2/run.json").read_text())["stats"]
    assert stats["rehearsal_gain"] > 0
