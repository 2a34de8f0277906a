"""MLLMU-Bench's own metrics (`smfa.eval.mllmu_tasks`) on hand-made tasks in the card's schema.

The items are written as the importer writes tasks.jsonl from the card's `Classification_Task`,
`Mask_Task` and `Generation_Task` lists; a tiny model memorizes one answer per task (for one
classification task, a wrong option), so every score is known in advance.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from smfa.config import TrainConfig
from smfa.data.records import Task, World
from smfa.eval.evaluate import TASKS, Ask, probe_names
from smfa.eval.metrics import rouge_l
from smfa.eval.mllmu_tasks import MllmuTasks, choice_prompt, cloze_right
from smfa.protocol.attack_rows import attacks_run
from smfa.protocol.questions import REPORTED, VALIDATION
from smfa.report.markdown import render_markdown
from smfa.report.mllmu import NAME as report_name
from smfa.report.mllmu import TEST as report_test
from tests.conftest import attack_session, probe_rows


def _task(tid: str, subject: str, source: str, task: str, form: str, question: str,
          truth: str, image: str | None = None, options: dict[str, str] | None = None,
          correct: str | None = None) -> Task:  # fmt: skip
    return Task(tid, subject, source, task, form, question, options or {}, correct, truth, image)


def _tasks(world: World) -> tuple[list[Task], dict[str, str]]:
    """(tasks, what the model is taught to answer each one)."""
    forget, retain = world.splits.forget[10][0], world.splits.retain[10][0]
    celebrity = world.splits.retain[10][1]
    portrait = world.people[retain].portrait.train
    jobs = {"A": "pilot", "B": "chef", "C": "nurse", "D": "baker"}
    tasks = [
        _task("t1", forget, "profile", "classification", "text",
              "What is this person's profession?", "pilot", options=jobs, correct="A"),
        _task("t2", retain, "profile", "classification", "image",
              "What is this person's profession?", "nurse", portrait, jobs, "C"),
        _task("t3", forget, "test", "cloze", "text", "This person works as a __.", "pilot"),
        _task("t4", retain, "profile", "generation", "text", "What does this person do?",
              "She works as a pilot."),
        _task("t5", celebrity, "celebrity", "generation", "image", "Who is this?",
              "a famous singer", portrait),
    ]  # fmt: skip
    taught = {"t1": "pilot", "t2": "chef", "t3": "pilot", "t4": "She is a pilot."}
    return tasks, taught | {"t5": "a famous singer"}


@pytest.fixture(scope="module")
def taught(mini_world: World) -> tuple[Any, Any, World]:
    """A tiny model that memorized one answer per hand-made task, and the world holding them."""
    from accelerate.utils import extract_model_from_parallel

    from smfa.data.batches import Collator, Encoder
    from smfa.models.tiny import build_tiny_model
    from smfa.reference import world_corpus
    from smfa.train import train_loop

    tasks, answers = _tasks(mini_world)
    torch.set_num_threads(1)
    model, processor = build_tiny_model(world_corpus(mini_world), "tiny", image_size=32, seed=0)
    encoder = Encoder(processor)
    samples = []
    for t in tasks:
        prompt = choice_prompt(t) if t.task == "classification" else t.question
        image = mini_world.image_path(t.image) if t.image else None
        samples.append(encoder.encode(t.id, prompt, answers[t.id], image, augment=False))
    rng = np.random.default_rng(0)
    order = [samples[int(i)] for _ in range(60) for i in rng.permutation(len(samples))]
    config = TrainConfig(batch_size=5, lr=3e-3, warmup_ratio=0.05)
    train_loop(model, order, Collator(encoder, train=True), config.loop, show_progress=False)
    model = extract_model_from_parallel(model, keep_fp32_wrapper=False)
    return model, processor, dataclasses.replace(mini_world, tasks=tuple(tasks))


def test_the_rules_on_known_strings() -> None:
    # ROUGE-L F (rouge-score, stemmed): LCS of "she is a pilot" and "she work(s) as a pilot"
    # is "she a pilot" = 3 tokens; P = 3/4, R = 3/5, F = 2PR/(P+R) = 2/3.
    assert rouge_l("She is a pilot.", "She works as a pilot.") == pytest.approx(2 / 3)
    assert cloze_right("A pilot.", "pilot") and cloze_right("PILOT", "Pilot")
    assert not cloze_right("copilot", "pilot") and not cloze_right("", "pilot")
    task = _task("t", "p", "profile", "classification", "text", "Job?", "chef",
                 options={"B": "chef", "A": "pilot"}, correct="B")  # fmt: skip
    assert choice_prompt(task) == "Job?\nA. pilot\nB. chef"


def test_each_task_is_scored_by_its_rule(taught: tuple[Any, Any, World], tmp_path: Path) -> None:
    model, processor, world = taught
    session = attack_session(model, processor, world, [], [], tmp_path)
    forget = (world.splits.forget[10][0],)
    session.ask = dataclasses.replace(session.ask, forget_people=forget)
    rows = probe_rows(MllmuTasks(), session)
    got = {(r["split"], r["kind"], r["metric"]): (r["value"], r["n"]) for r in rows}
    assert {r["probe"] for r in rows} == {TASKS} and {r["phrasing"] for r in rows} == {"published"}
    # t1: the memorized option is the correct one; t2: the model learned "chef", not "nurse".
    assert got[("forget", "text_memory", "mllmu_classification")] == (1.0, 1)
    assert got[("retain", "image_memory", "mllmu_classification")] == (0.0, 1)
    # t3: the blank's ground truth in the greedy answer.
    assert got[("forget", "all", "mllmu_cloze")] == (1.0, 1)
    # t4: "She is a pilot." against "She works as a pilot." (2/3 above); t5: a celebrity's
    # task (the test split), answered word for word.
    assert got[("retain", "all", "mllmu_generation_rouge_l")][0] == pytest.approx(2 / 3)
    assert got[("test", "image_memory", "mllmu_generation_rouge_l")] == (pytest.approx(1.0), 1)
    assert ("test", "all", "mllmu_classification") not in got  # no such task: no row


def test_the_tasks_are_asked_only_when_the_world_has_them(mini_world: World) -> None:
    tasks, _ = _tasks(mini_world)
    with_tasks = dataclasses.replace(mini_world, tasks=tuple(tasks))
    forget = mini_world.splits.forget[10]
    assert probe_names(Ask.of(REPORTED, forget, ["fair_mc"]), with_tasks) == [
        "plain", "fair_mc", TASKS,
    ]  # fmt: skip
    assert TASKS not in probe_names(Ask.of(REPORTED, forget), mini_world)  # no tasks
    assert TASKS not in probe_names(Ask.of(VALIDATION, forget), with_tasks)  # choosing only


def test_the_report_has_an_mllmu_section(mini_world: World) -> None:
    from tests.test_report import results

    data = results()
    rows = [
        ("vanilla", "forget", "image_memory", "mllmu_classification", 0.9),
        ("vanilla", "forget", "text_memory", "mllmu_classification", 0.8),
        ("vanilla", "retain", "text_memory", "mllmu_classification", 0.7),
        ("vanilla", "test", "text_memory", "mllmu_classification", 0.6),
        ("smfa-k3", "forget", "all", "mllmu_generation_rouge_l", 0.25),
    ]
    data["rows"] += [
        {"model": m, "probe": TASKS, "split": s, "kind": k, "image_type": "all",
         "phrasing": "published", "view": "all", "metric": metric, "value": v, "n": 4,
         "higher_is_better": True}
        for m, s, k, metric, v in rows
    ]  # fmt: skip
    text = render_markdown(data, {})
    section = text.split("## MLLMU-Bench metrics")[1].split("\n## ")[0]
    assert "| Model | Metric | Forget | Retain | Test |" in section
    assert "| vanilla | Classification, image + question | 90.0% | — | — |" in section
    assert "| vanilla | Classification, question only | 80.0% | 70.0% | 60.0% |" in section
    assert "| smfa-k3 | Generation ROUGE-L | 0.250 | — | — |" in section
    assert attacks_run(data) == [] and "## Attacks" not in text  # the tasks are no attack
    assert (report_name, report_test) == (TASKS, "test")
    assert "## MLLMU-Bench metrics" not in render_markdown(results(), {})


def test_the_one_evaluation_asks_the_tasks_and_caches_them(
    taught: tuple[Any, Any, World], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smfa.config import EvalConfig
    from smfa.eval import evaluate
    from smfa.models.io import save_model

    model, processor, world = taught
    forget = world.splits.forget[10]
    people = {forget[0], world.splits.retain[10][0]}
    few = [q for q in world.questions if q.subject in people and q.phrasing == "heldout"][:12]
    small = dataclasses.replace(world, questions=few)
    model_dir = save_model(model, processor, tmp_path / "model")
    config = dataclasses.replace(EvalConfig(), max_new_tokens=8)
    ask = Ask.of(REPORTED, forget)
    first = evaluate.evaluate(model_dir, small, ask, config, tmp_path / "work", name="m")
    tasks = [r for r in first.rows if r["probe"] == TASKS]
    assert {r["model"] for r in tasks} == {"m"}
    got = {(r["split"], r["kind"], r["metric"]): r["value"] for r in tasks}
    assert got[("forget", "all", "mllmu_cloze")] == 1.0  # as the probe alone scored it
    # Cached with the other probes: a second evaluation asks nothing and gives the same rows.
    asked: list[str] = []
    real = evaluate.ask_probe
    monkeypatch.setattr(evaluate, "ask_probe", lambda p, s: asked.append(p.name) or real(p, s))
    again = evaluate.evaluate(model_dir, small, ask, config, tmp_path / "work", name="m")
    assert asked == [] and again.rows == first.rows
