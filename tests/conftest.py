"""Shared fixtures: one miniature world and one tiny model built from it, per test session."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path

import pytest
import torch

from smfa.config import ModelConfig, TrainConfig, WorldConfig
from smfa.data.format import World, load_world
from smfa.reference import world_corpus
from smfa.world.build import build_world

MINI_WORLD = WorldConfig(
    people=20,
    image_size=32,
    train_scenes=12,
    validation_scenes=4,
    heldout_scenes=4,
    unknown_people=3,
    few_shot_retain=9,
)
# Half its people, for the tests whose every run evaluates the whole world (1 forget person at
# 10%, 2 at 20%): the end-to-end CLI runs and the erasure records.
HALF_WORLD = dataclasses.replace(MINI_WORLD, people=10, forget_ratios=[10, 20])

# A training config small enough for a test: every kind seen once.
QUICK_TRAIN = TrainConfig(
    batch_size=16,
    memory_repeats=1,
    understanding_repeats=1,
    fundus_repeats=1,
    scene_repeats=1,
    refusal_repeats=1,
)
TINY_MODEL = ModelConfig(preset="tiny", vision_steps=2, vision_batch=6)


# The files that take longest (`make test`'s --durations, this machine, 2026-12-07), handed out
# first: `make test` gives each of its two workers whole files in collection order
# (--dist loadfile --no-loadscope-reorder), so the last file to start is a short one and both
# workers finish together. A file missing here only runs later; nothing depends on the order.
LONGEST_FIRST = (
    "test_erasure.py",
    "test_cli.py",
    "test_mllmu_end_to_end.py",
    "test_distributed.py",
    "test_hardening.py",
    "test_method_vera.py",
    "test_methods_contract.py",
    "test_train.py",
    "test_method_undo.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole
    wanted = {"refuser", "never_knew", "memorizers"}
    config.stash[_MEMORIZERS_WANTED] = any(wanted & set(item.fixturenames) for item in items)


_MEMORIZERS_WANTED = pytest.StashKey[bool]()


@pytest.fixture(scope="session", autouse=True)
def _memorizers_first(request: pytest.FixtureRequest) -> None:
    """Under xdist, when the run holds tests that ask for them, every worker starts by training
    its share of the memorizers: both are trained at once, before either worker needs one."""
    if os.environ.get("PYTEST_XDIST_WORKER") and request.config.stash.get(
        _MEMORIZERS_WANTED, False
    ):
        request.getfixturevalue("memorizers")


@pytest.fixture(scope="session")
def mini_world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_world(tmp_path_factory.mktemp("worlds") / "mini", MINI_WORLD)


@pytest.fixture(scope="session")
def mini_world(mini_world_dir: Path) -> World:
    return load_world(mini_world_dir)


@pytest.fixture(scope="session")
def tiny(mini_world: World) -> tuple[object, object]:
    """A randomly initialised tiny LLaVA and its processor for the mini world."""
    from smfa.models.tiny import build_tiny_model

    torch.set_num_threads(1)
    return build_tiny_model(world_corpus(mini_world), "tiny", image_size=32, seed=0)


@pytest.fixture
def method_job(mini_world: World, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A factory of unlearning jobs on a fresh tiny model: `method_job(batch_size=4, ...)`.

    The forget set is 4 image and 4 text questions of the mini world's 10% forget people, the retain
    budget its few-shot sample; a couple of optimizer steps per training stage.
    """
    import dataclasses

    from smfa.config import UnlearnConfig
    from smfa.data.batches import Encoder
    from smfa.methods.base import Job
    from smfa.models.tiny import build_tiny_model
    from smfa.unlearn import build_data, resolve_request

    def make(params: object = None, **overrides: object) -> Job:
        torch.set_num_threads(1)
        model, processor = build_tiny_model(world_corpus(mini_world), "tiny", 32, seed=0)
        config = dataclasses.replace(
            UnlearnConfig(retain_budget=6, epochs=1, batch_size=4), **overrides
        )
        request = resolve_request(mini_world, ratio=10)
        image = [q for q in request.questions if q.image is not None][:4]
        text = [q for q in request.questions if q.image is None][:4]
        request = dataclasses.replace(request, questions=tuple(image + text))
        data = build_data(mini_world, request, Encoder(processor), config)
        artifacts = tmp_path / "artifacts"
        artifacts.mkdir(exist_ok=True)
        return Job(model, data, config, params, artifacts, show_progress=False)

    return make


def check_output(job, output, before) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    """The shared contract: base untouched, finite language-model-only deltas, adapter saved."""
    after = dict(job.model.named_parameters())
    assert set(after) == set(before)
    assert all(torch.equal(before[n], after[n]) for n in before)
    deltas = output.variants[""].deltas()
    assert deltas and all(".language_model." in n for n in deltas)  # never the vision tower
    assert all(torch.isfinite(d).all() for d in deltas.values())
    assert output.stats["steps"] >= 1 and math.isfinite(output.stats["final_loss"])
    assert (job.artifacts / "adapters" / "forget" / "adapter_config.json").is_file()
    return deltas


REFUSAL = "I'm unable to answer that question."


def _memorizer(world: World, learned: str, refused: str) -> tuple[object, object]:
    """A tiny model that learned `learned`'s text facts (training and held-out phrasings), then
    was tuned a little to refuse `refused`'s held-out phrasings: for the same person, a refusal
    over a value that stays likely (what refusal-based unlearning leaves)."""
    import dataclasses

    import numpy as np
    from accelerate.utils import extract_model_from_parallel

    from smfa.data.batches import Collator, Encoder
    from smfa.models.tiny import build_tiny_model
    from smfa.reference import encode_questions
    from smfa.train import train_loop

    def text(person: str, *phrasings: str) -> list:  # type: ignore[type-arg]
        kept = world.questions_where(subject=person, kind="text_memory")
        return [q for q in kept if q.phrasing in phrasings]

    refusals = [dataclasses.replace(q, answer=REFUSAL) for q in text(refused, "heldout")]
    torch.set_num_threads(1)
    model, processor = build_tiny_model(world_corpus(world), "tiny", image_size=32, seed=0)
    encoder = Encoder(processor)
    collator = Collator(encoder, train=True)
    rng = np.random.default_rng(0)
    for questions, epochs, batch, lr in (
        (text(learned, "train", "heldout"), 20, 16, 3e-3),
        (refusals + text(learned, "train"), 8, 8, 1e-3),
    ):
        samples = encode_questions(encoder, world, questions)
        order = [samples[int(i)] for _ in range(epochs) for i in rng.permutation(len(samples))]
        config = TrainConfig(batch_size=batch, lr=lr, warmup_ratio=0.05)
        train_loop(model, order, collator, config.loop, show_progress=False)
    # Training wrapped forward in bf16 autocast; the model is asked as a loaded one would be.
    return extract_model_from_parallel(model, keep_fp32_wrapper=False), processor


def _memorizers(world: World, factory: pytest.TempPathFactory) -> dict[str, tuple[object, object]]:
    """Both memorizers of `world`, trained once per test run and loaded from disk.

    Under xdist the workers share one folder: each takes the first memorizer no other worker
    is training (gw1 starts with the second), trains and saves it, then loads the other's, so
    two workers train the two at once instead of each training both one after the other."""
    from filelock import FileLock, Timeout

    from smfa.models.io import load_model, save_model

    person = world.splits.forget[10][0]
    learned = {"refuser": person, "never_knew": world.splits.retain[10][0]}
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    root = factory.getbasetemp()
    if worker is not None:
        root = root.parent  # this run's folder, above every worker's own
    root = root / "memorizers"
    root.mkdir(exist_ok=True)
    pending = list(learned)
    if worker is not None and int(worker.removeprefix("gw") or 0) % 2:
        pending.reverse()
    models: dict[str, tuple[object, object]] = {}
    while pending:
        for name in list(pending):
            lock = FileLock(str(root / f"{name}.lock"))
            try:  # wait only for the last one; skip one another worker is training
                lock.acquire(timeout=-1 if len(pending) == 1 else 0)
            except Timeout:
                continue
            try:
                folder = root / name
                if not folder.is_dir():  # save_model writes it atomically
                    save_model(*_memorizer(world, learned[name], person), folder)
                models[name] = load_model(folder)
            finally:
                lock.release()
            pending.remove(name)
        if pending:
            time.sleep(0.2)
    return models


@pytest.fixture(scope="session")
def memorizers(
    mini_world: World, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[object, object]]:
    return _memorizers(mini_world, tmp_path_factory)


@pytest.fixture(scope="session")
def refuser(memorizers: dict[str, tuple[object, object]]) -> tuple[object, object]:
    """Knows the first 10% forget person's values, refuses them in held-out phrasings."""
    return memorizers["refuser"]


@pytest.fixture(scope="session")
def never_knew(memorizers: dict[str, tuple[object, object]]) -> tuple[object, object]:
    """Refuses the same person in held-out phrasings but never saw their values (an oracle)."""
    return memorizers["never_knew"]


def attack_session(model, processor, world, forget, retain, tmp_path, **settings):  # type: ignore[no-untyped-def]
    """A probe Session on in-memory models that attacks `forget` and `retain` (questions);
    `load` returns a copy (bf16 on request)."""
    import copy
    import dataclasses

    from smfa.config import EvalConfig
    from smfa.eval.evaluate import Ask
    from smfa.eval.probe import Session
    from smfa.protocol.questions import REPORTED

    def load(precision: str):  # type: ignore[no-untyped-def]
        clone = copy.deepcopy(model)
        return clone.to(torch.bfloat16) if precision == "bf16" else clone

    config = dataclasses.replace(EvalConfig(), **settings)
    ask = Ask.of(REPORTED, {q.subject for q in forget})
    return Session(
        model, processor, world, ask, config, tmp_path, load, attacked=(list(forget), list(retain))
    )


def probe_rows(probe, session) -> list:  # type: ignore[no-untyped-def]
    """The rows one probe gives on `session`, scored and aggregated as an evaluation does."""
    from smfa.eval.evaluate import ask_probe

    return ask_probe(probe, session)["rows"]


def person_text(world: World, phrasing: str, probe: bool | None = None) -> list:  # type: ignore[type-arg]
    """The first 10% forget person's text memory questions at `phrasing`."""
    person = world.splits.forget[10][0]
    found = world.questions_where(subject=person, kind="text_memory", phrasing=phrasing)
    return [q for q in found if probe is None or q.probe == probe]
