"""The probe interface: one way of asking a model, and the answers it hands to the one scorer.

A probe asks questions of a model its own way and returns `Answer`s: generated text, or the
teacher-forced likelihoods of a value and its options. The plain probe (`smfa.eval.plain`) asks
a slice's questions as written; every attack (`smfa.attacks`, one file each) is a probe too: a
prefilled answer, a jailbreak phrasing, a transformed image, a lower precision, a little
relearning, fair multiple choice. The one scorer (`smfa.eval.scoring`) scores every answer and
`smfa.eval.rows` turns the scores into rows; `smfa.eval.evaluate` runs the probes an `Ask`
names on one loaded model and caches each probe's rows. A probe never changes the model it is
given in place: whatever it changes, it changes on a copy (`Session.load`) or undoes.

A probe is a subclass of `Probe` with a `name` (defining it registers it), a `family`, a
one-line `summary`, the `metrics` its answers are scored on, and `ask(session)`.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from smfa.config import EvalConfig
from smfa.data.batches import Encoder, Sample
from smfa.data.records import Question, World
from smfa.errors import ConfigError
from smfa.eval.decode import generate
from smfa.protocol.questions import Slice, attack_questions, split_of
from smfa.vocab import Split

if TYPE_CHECKING:
    from smfa.eval.evaluate import Ask
    from smfa.eval.rows import Row
    from smfa.eval.scoring import Scored

REGISTRY: dict[str, type[Probe]] = {}
Tick = Callable[[str, int, int], None]
# What an attack's answers are scored on: the leak on forget people, recall on the retain
# sample asked the same way (an attack that only breaks the model shows as such).
LEAK_AND_RECALL = frozenset({"leak_rate", "recall"})
# Families of probes that are no attack: the plain questions, a benchmark's own tasks.
NOT_ATTACKS = frozenset({"plain", "benchmark"})


@dataclass(frozen=True)
class Prompt:
    """One question as a probe asks it."""

    question: Question
    text: str  # the user turn
    image: Path | None
    prefill: str = ""  # what the assistant turn already says; the model continues it


@dataclass
class Answer:
    """What a probe got back for one question: its answer and likelihood passes."""

    question: Question
    split: Split
    prediction: str = ""  # the generated continuation ("" for a likelihood-only probe)
    value_logprobs: Sequence[float] | None = None  # the true value's tokens, teacher-forced
    options: Sequence[float] = ()  # mean log-probability of the value, then each distractor
    group: str = ""  # a repetition the rows also report on its own (a relearning seed)
    # Several sampled answers to the one question (leak@k): the leak test holds if any states it.
    samples: Sequence[str] = ()
    # Membership scores by name (membership.MIA_SCORES): (the true answer sentence's score, the
    # score of the same sentence with a never-learned value); rows report their AUC.
    membership: Mapping[str, tuple[float, float]] | None = None


@dataclass
class Session:
    """What probes work on: one loaded model, the world, what is asked, and the settings."""

    model: Any
    processor: Any
    world: World
    ask: Ask
    settings: EvalConfig
    workdir: Path  # where probes may cache derived files (transformed images)
    # A fresh copy of the model at a precision ("fp32", "bf16"); never the object above.
    load: Callable[[str], Any]
    tick: Tick | None = None
    # (forget questions, retain sample) attacks ask; None: the slice's (`targets`)
    attacked: tuple[list[Question], list[Question]] | None = None
    _encoder: Encoder | None = field(default=None, repr=False)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = Encoder(self.processor)
        return self._encoder

    @property
    def slice(self) -> Slice:
        return self.ask.slice

    def image(self, question: Question) -> Path | None:
        return self.world.image_path(question.image) if question.image else None

    def split(self, question: Question) -> Split:
        return split_of(question, self.ask.forget_people)

    def targets(self) -> tuple[list[Question], list[Question]]:
        """(forget memory questions, retain sample) an attack asks on this slice."""
        if self.attacked is None:
            self.attacked = attack_questions(
                self.world, self.slice, self.ask.forget_people, self.settings.attack_retain
            )
        return self.attacked

    def progress(self, label: str, total: int) -> Callable[[int], None]:
        """A callback that adds to `label`'s count of `total` done."""
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            if self.tick is not None:
                self.tick(label, done[0], total)

        return advance


class Probe(ABC):
    """Base class; subclasses register themselves by defining `name`."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    # The metrics its answers are scored on (None: every scorer that applies).
    metrics: ClassVar[frozenset[str] | None] = LEAK_AND_RECALL
    # Rows per question kind and pooled over kinds ("all"), as attacks report; False: per kind,
    # image type, phrasing and view, with the paper's composites (the plain probe).
    pooled: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            REGISTRY[cls.name] = cls

    @abstractmethod
    def ask(self, session: Session) -> list[Answer]:
        """Ask `session.model` this probe's questions; one answer per question asked."""

    def finish(self, session: Session, scored: list[Scored]) -> None:
        """Add scores that need every answer at once (the plain probe's optional judge)."""
        return None

    def rows(self, scored: list[Scored]) -> list[Row]:
        """The probe's rows from every scored answer (`smfa.eval.rows`): pooled per kind, or in
        detail for the plain probe. A probe whose figure is not a mean over its answers (the
        worst case over a grid of relearning settings) overrides it, in the same row shape."""
        from smfa.eval.rows import detail_rows, pooled_rows  # rows -> scoring -> this module

        if self.pooled:
            return pooled_rows("model", self.name, scored)
        return detail_rows("model", self.name, scored)

    def settings(self, config: EvalConfig) -> dict[str, Any]:
        """The evaluation settings this probe's answers depend on (its part of the cache key)."""
        return {
            "max_new_tokens": config.max_new_tokens,
            "fuzzy": config.fuzzy_threshold,
            "retain": config.attack_retain,
            "batch": config.batch_size,
        }


def get_probe(name: str) -> type[Probe]:
    """The probe registered as `name` (a ConfigError with a did-you-mean hint otherwise)."""
    from smfa import attacks  # noqa: F401  (importing the package registers every attack)
    from smfa.eval import mllmu_tasks, plain  # noqa: F401

    if name not in REGISTRY:
        close = difflib.get_close_matches(name, list(REGISTRY), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(
            f"eval.attacks: unknown attack '{name}'{hint}; attacks: "
            f"{', '.join(sorted(n for n, p in REGISTRY.items() if p.family not in NOT_ATTACKS))}"
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


def generated(
    model: Any, session: Session, prompts: Sequence[Prompt], label: str, seed: int | None = None
) -> list[str]:
    """Greedy continuations of each prompt (after its prefill, which is not part of them); with a
    `seed`, continuations sampled at temperature 1 (`smfa.eval.decode.generate`)."""
    encoder = session.encoder
    samples = []
    for p in prompts:
        ids = encoder.prompt_ids(p.text, p.image)
        if p.prefill:
            ids = (*ids, *encoder.text_ids(p.prefill))
        samples.append(Sample(p.question.id, ids, (), p.image, augment=False))
    settings = session.settings
    return generate(
        model,
        encoder,
        samples,
        settings.batch_size,
        settings.max_new_tokens,
        tick=session.progress(label, len(samples)),
        seed=seed,
    )


def ask_both(
    model: Any,
    session: Session,
    make: Callable[[Question], Prompt],
    label: str,
    keep: Callable[[Question], bool] = lambda q: True,
    group: str = "",
) -> list[Answer]:
    """The attack's forget questions and retain sample asked the same way (`make`)."""
    forget, retain = session.targets()
    out: list[Answer] = []
    for split, questions in ((Split.FORGET, forget), (Split.RETAIN, retain)):
        questions = [q for q in questions if keep(q)]
        if not questions:
            continue
        answers = generated(model, session, [make(q) for q in questions], f"{label} · {split}")
        out += [Answer(q, split, a, group=group) for q, a in zip(questions, answers, strict=True)]
    return out
