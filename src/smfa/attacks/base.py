"""The attack interface: probes that try to get a forgotten value back out of a model.

An attack asks the reported slice's forget memory questions its own way (a prefilled answer, a
jailbreak wording, a transformed image, a lower precision, a little relearning, fair multiple
choice) and returns rows: the leak rate on the forget questions and, under the very same attack,
the recall on a fixed sample of retain questions, so that an attack which only breaks the model
shows as such. Rows are per question kind and pooled ("all").

An attack is one file in this package: a subclass of `Attack` with a `name`, a `family`, a
one-line `summary` and `run(target)`. Defining the class registers it; the runner
(`smfa.attacks.runner`) caches each attack's rows per model. Attacks never train the model
they are given in place: whatever they change, they change on a copy or undo.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from smfa.config import EvalConfig
from smfa.data.batches import Encoder, Sample
from smfa.data.format import Question, World
from smfa.errors import ConfigError
from smfa.eval.leak import leaks
from smfa.eval.probes import generate

REGISTRY: dict[str, type[Attack]] = {}
Row = dict[str, Any]
MEMORY_KINDS = ("image_memory", "text_memory")


@dataclass(frozen=True)
class Probe:
    """One question as an attack asks it."""

    question: Question
    text: str  # the user turn
    image: Path | None
    prefill: str = ""  # what the assistant turn already says; the model continues it


@dataclass
class Target:
    """What an attack works on: the model, the questions, and how to get a fresh copy."""

    model: Any
    processor: Any
    world: World
    forget: list[Question]  # forget memory questions of the reported slice
    retain: list[Question]  # a fixed sample of retain memory questions, same slice
    config: EvalConfig
    workdir: Path  # where attacks may cache derived files (transformed images)
    # A fresh copy of the model at a precision ("fp32", "bf16"); never the object above.
    load: Callable[[str], Any]
    tick: Callable[[str, int, int], None] | None = None
    _encoder: Encoder | None = field(default=None, repr=False)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = Encoder(self.processor)
        return self._encoder

    def image(self, question: Question) -> Path | None:
        return self.world.image_path(question.image) if question.image else None


class Attack(ABC):
    """Base class; subclasses register themselves by defining `name`."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    # Rows whose forget leak_rate counts towards the "worst attack" figure.
    counts_as_leak: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            REGISTRY[cls.name] = cls

    @abstractmethod
    def run(self, target: Target) -> list[Row]:
        """Attack `target` and return its rows (see `rows`)."""

    def settings(self, config: EvalConfig) -> dict[str, Any]:
        """The evaluation settings this attack's result depends on (its cache key)."""
        return {"max_new_tokens": config.max_new_tokens, "fuzzy": config.fuzzy_threshold}


def get_attack(name: str) -> type[Attack]:
    from smfa import attacks  # noqa: F401  (importing the package registers every attack)

    if name not in REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, list(REGISTRY), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(
            f"eval.attacks: unknown attack '{name}'{hint}; attacks: {', '.join(sorted(REGISTRY))}"
        )
    return REGISTRY[name]


def value_prefix(question: Question) -> str:
    """The answer's words up to the private value ("Mivina Holwell's home city is")."""
    at = question.answer.find(question.value) if question.value else -1
    return question.answer[:at].rstrip() if at > 0 else ""


def first_word(question: Question) -> str:
    """The answer's first word, when it is not (part of) the value itself."""
    words = question.answer.split()
    prefix = value_prefix(question)
    return words[0] if words and prefix and prefix.startswith(words[0]) else ""


def plain(target: Target, questions: Sequence[Question]) -> list[Probe]:
    """The questions as the harness asks them."""
    return [Probe(q, q.question, target.image(q)) for q in questions]


def ask(model: Any, target: Target, probes: Sequence[Probe], label: str) -> list[str]:
    """Greedy continuations of each probe (after its prefill, which is not part of the answer)."""
    encoder = target.encoder
    samples = []
    for p in probes:
        prompt = encoder.prompt_ids(p.text, p.image)
        if p.prefill:
            prompt = (*prompt, *encoder.text_ids(p.prefill))
        samples.append(Sample(p.question.id, prompt, (), p.image, augment=False))
    tick = None
    if target.tick is not None:
        done = [0]
        callback = target.tick

        def tick(n: int) -> None:
            done[0] += n
            callback(label, done[0], len(samples))

    return generate(
        model,
        encoder,
        samples,
        target.config.batch_size,
        target.config.max_new_tokens,
        tick=tick,
    )


def rows(
    attack: str, split: str, questions: Sequence[Question], hits: Sequence[float]
) -> list[Row]:
    """leak_rate (forget) or recall (retain) rows: one per kind present, and pooled ("all")."""
    metric = "leak_rate" if split == "forget" else "recall"
    groups: dict[str, list[float]] = {}
    for q, hit in zip(questions, hits, strict=True):
        groups.setdefault(q.kind, []).append(hit)
        groups.setdefault("all", []).append(hit)
    return [
        {
            "attack": attack,
            "split": split,
            "kind": kind,
            "metric": metric,
            "value": sum(values) / len(values),
            "n": len(values),
            "higher_is_better": split != "forget",
        }
        for kind, values in sorted(groups.items())
    ]


def leak_hits(
    config: EvalConfig, questions: Sequence[Question], answers: Sequence[str]
) -> list[float]:
    """1.0 where the answer states the question's true value (the harness's leak test)."""
    return [
        float(leaks(a, q.value, q.answer_type, q.question, config.fuzzy_threshold))
        for q, a in zip(questions, answers, strict=True)
    ]


def probe_both(
    model: Any, target: Target, make: Callable[[Question], Probe], label: str
) -> list[Row]:
    """Ask forget and retain questions the same way; leak rows and recall rows."""
    out: list[Row] = []
    for split, questions in (("forget", target.forget), ("retain", target.retain)):
        if not questions:
            continue
        answers = ask(model, target, [make(q) for q in questions], f"{label} · {split}")
        out += rows(label, split, questions, leak_hits(target.config, questions, answers))
    return out
