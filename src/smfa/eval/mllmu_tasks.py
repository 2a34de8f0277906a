"""MLLMU-Bench's own metrics, on a world that holds its evaluation tasks (`World.tasks`).

One probe of the one evaluation (`mllmu_tasks`), asked beside the plain probe whenever the
world has tasks (imported MLLMU-Bench worlds with their task lists; `smfa.eval.evaluate`), so
its rows are cached per model like every probe's. Per task (docs/data-format.md, tasks.jsonl):

- classification: the prompt is the question followed by its options ("A. ...", one a line);
  each option's text is teacher-forced as the whole answer and scored by its mean token
  log-probability (as fair multiple choice scores options); the task is right when the correct
  option's score is strictly the highest (a tie is wrong). Accuracy per form: image + question
  (`image_memory`) and question alone (`text_memory`).
- cloze: the question (with its "__" blank) is answered greedily; right when the normalized
  ground truth (`smfa.eval.text_checks.normalize`) occurs in the normalized answer as whole words.
- generation: the greedy answer's ROUGE-L F against the ground truth (`metrics.rouge_l`, the
  rouge-score library's rougeL with Porter stemming).

Rows: per split (`forget` and `retain`: the world's forget and retain people, on any portrait;
`test`: the real celebrities, source "celebrity", when the world has them), kind (the task's
form) and pooled over kinds (`all`); metrics `mllmu_classification`, `mllmu_cloze`,
`mllmu_generation_rouge_l`. On forget people lower means more forgotten; elsewhere higher is
better (the metrics declare the retain direction, as `recall` does).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import ClassVar

from smfa.data.batches import Sample
from smfa.data.records import Task
from smfa.eval import metrics, text_checks
from smfa.eval.decode import answer_logprobs, generate
from smfa.eval.forcing import mean_logprob, option_sample
from smfa.eval.probe import Answer, Probe, Session
from smfa.eval.rows import ALL, Row
from smfa.eval.scoring import Scored
from smfa.vocab import Kind, Split, View

NAME = "mllmu_tasks"
TEST = "test"  # results.json split of the real celebrities' tasks
PUBLISHED = "published"  # results.json phrasing of the tasks' rows: the benchmark's own words
METRIC_OF = {
    "classification": "mllmu_classification",
    "cloze": "mllmu_cloze",
    "generation": "mllmu_generation_rouge_l",
}
KIND_OF = {"image": Kind.IMAGE_MEMORY, "text": Kind.TEXT_MEMORY}


@dataclass(frozen=True)
class TaskScore:
    """One task's score: whom it is about, its form, its metric and value."""

    split: str
    kind: str
    metric: str
    value: float


def task_split(task: Task, forget_people: tuple[str, ...]) -> str:
    """forget / retain for the world's people, test for a real celebrity (never trained on)."""
    if task.source == "celebrity":
        return TEST
    return Split.FORGET if task.subject in forget_people else Split.RETAIN


def choice_prompt(task: Task) -> str:
    """The classification prompt: the question, then each option on its own line."""
    return "\n".join([task.question, *(f"{k}. {v}" for k, v in sorted(task.options.items()))])


def cloze_right(answer: str, ground_truth: str) -> bool:
    """The normalized ground truth occurs in the normalized answer as whole words."""
    truth = text_checks.normalize(ground_truth)
    return bool(truth) and f" {truth} " in f" {text_checks.normalize(answer)} "


class MllmuTasks(Probe):
    name = NAME
    family = "benchmark"
    summary = "MLLMU-Bench's own tasks: classification, cloze, generation ROUGE-L"
    metrics: ClassVar[frozenset[str] | None] = frozenset()

    def __init__(self) -> None:
        self.scores: list[TaskScore] = []

    def ask(self, session: Session) -> list[Answer]:
        forget = tuple(session.ask.forget_people)
        tasks = list(session.world.tasks)
        choices = [
            t
            for t in tasks
            if t.task == "classification" and t.correct in t.options and len(t.options) > 1
        ]
        free = [t for t in tasks if t.task in ("cloze", "generation")]
        right = self._classify(session, choices)
        answers = self._generate(session, free)
        self.scores = [
            TaskScore(task_split(t, forget), KIND_OF[t.form], METRIC_OF[t.task], float(ok))
            for t, ok in zip(choices, right, strict=True)
        ]
        for t, answer in zip(free, answers, strict=True):
            value = (
                float(cloze_right(answer, t.ground_truth))
                if t.task == "cloze"
                else metrics.rouge_l(answer, t.ground_truth)
            )
            split = task_split(t, forget)
            self.scores.append(TaskScore(split, KIND_OF[t.form], METRIC_OF[t.task], value))
        return []

    def _classify(self, session: Session, tasks: list[Task]) -> list[bool]:
        """Per task: the correct option's mean log-probability is strictly the highest."""
        encoder = session.encoder
        samples, spans, owners = [], [], []
        for i, t in enumerate(tasks):
            image = session.world.image_path(t.image) if t.image else None
            prompt = encoder.prompt_ids(choice_prompt(t), image)
            letters = [t.correct, *sorted(k for k in t.options if k != t.correct)]
            for letter in letters:  # the correct option first
                option = t.options[str(letter)]
                sample, span = option_sample(encoder, t.id, prompt, ("", option, ""), image)
                samples.append(sample)
                spans.append(span)
                owners.append(i)
        scores = answer_logprobs(
            session.model, encoder, samples, session.settings.batch_size,
            tick=session.progress("mllmu classification", len(samples)),
        )  # fmt: skip
        options: dict[int, list[float]] = defaultdict(list)
        for i, logprobs, span in zip(owners, scores, spans, strict=True):
            options[i].append(mean_logprob(logprobs, span))
        return [metrics.multiple_choice_correct(options[i]) for i in range(len(tasks))]

    def _generate(self, session: Session, tasks: list[Task]) -> list[str]:
        """Greedy answers to cloze and generation tasks."""
        encoder = session.encoder
        samples: list[Sample] = []
        for t in tasks:
            image = session.world.image_path(t.image) if t.image else None
            samples.append(encoder.encode(t.id, t.question, t.ground_truth, image))
        settings = session.settings
        return generate(
            session.model, encoder, samples, settings.batch_size, settings.max_new_tokens,
            tick=session.progress("mllmu generation", len(samples)),
        )  # fmt: skip

    def rows(self, scored: list[Scored]) -> list[Row]:
        """Mean per split x kind x metric, and pooled over kinds ("all")."""
        groups: dict[tuple[str, str, str], list[float]] = defaultdict(list)
        for s in self.scores:
            groups[(s.split, s.kind, s.metric)].append(s.value)
            groups[(s.split, ALL, s.metric)].append(s.value)
        rows = []
        for (split, kind, metric), values in sorted(groups.items()):
            view = View.NONE if kind == Kind.TEXT_MEMORY else ALL
            direction = metrics.METRICS[metric].higher_is_better
            row = Row(model="model", probe=self.name, split=split, kind=kind, image_type=ALL,
                      phrasing=PUBLISHED, view=view, metric=metric, value=metrics.mean(values),
                      n=len(values), higher_is_better=direction)  # fmt: skip
            rows.append(row)
        return rows
