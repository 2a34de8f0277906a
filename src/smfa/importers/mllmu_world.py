"""MLLMU-Bench records as world rows: facts, the validation and held-out slices, tasks.

Each question-answer pair of a profile is a fact with an attribute type from its phrasing
(`facts.attribute_type`; a person's second fact of a type is `TYPE#2`), the value its answer
states (`facts.value_span`; the name itself for a name question) and two forms: the image form
(portrait + question) and the text form (the person named, `mllmu_names.text_form`; a name
question has none). Every fact is trained on in both forms (phrasing and view "train"), in its
published wording and, where it has a paraphrase, in one training frame too (`FRAMES["train"]`,
alternating by fact), as the generated world trains each fact in several wordings.

The probes: where `Test_Set` gives the person generation items, those are the probes, split
(seeded, `VALIDATION_SHARE`) into a validation and a held-out part. Otherwise the person's
facts that have a paraphrase (`paraphrase.paraphrases`) are split the same way, the name
always held out: a validation fact is asked in the validation frame (train image; and by
name), a held-out fact in the two held-out frames (re-rendered image and train image; and by
name) and in its training phrasing on the re-rendered image. So the validation slice never asks
a reported fact, and no probe repeats a training sentence. Distractors of a fact are up to
three other people's values of the same type and form, never one of the person's own.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from smfa.importers.common import WorldBuilder
from smfa.importers.facts import attribute_type, value_span
from smfa.importers.mllmu_names import answer_form, is_name_question, text_form
from smfa.importers.mllmu_records import Profile, TaskItem
from smfa.importers.paraphrase import Paraphrases, paraphrases
from smfa.world import component_rng

VALIDATION_SHARE = 1 / 3
DISTRACTORS = 3


@dataclass
class Form:
    """One form of a fact: what is asked and answered, and what the answer states."""

    question: str
    answer: str
    value: str
    answer_type: str
    distractors: list[str] = field(default_factory=list)


@dataclass
class Fact:
    """One question-answer pair of a person, in its forms, and the slice that probes it."""

    pid: str
    name: str
    kind: str
    attribute: str
    image: Form
    text: Form | None
    phrasings: Paraphrases | None
    where: str
    slice: str = "heldout"
    frame: int = 0  # which held-out frame the re-rendered image gets (the train image the other)


def _numbered(counts: Counter[str], kind: str) -> str:
    counts[kind] += 1
    return kind if counts[kind] == 1 else f"{kind}#{counts[kind]}"


def stated(question: str, answer: str, name: str, asks_name: bool) -> tuple[str, str]:
    """(value, answer_type): the name as the answer writes it for a name question that
    states it, else the answer's value span as free text."""
    at = answer.lower().find(name.lower())
    if asks_name and at >= 0:
        return answer[at : at + len(name)], "name"
    return value_span(question, answer), "text"


def profile_facts(person: Profile) -> list[Fact]:
    counts: Counter[str] = Counter()
    facts = []
    for k, item in enumerate(person.items):
        asks_name = k in person.name_items
        kind = attribute_type(item.question, asks_name)
        value, answer_type = stated(item.question, item.answer, person.name, asks_name)
        text = None
        if not asks_name:  # naming the person would give a name question's answer away
            question = text_form(item.question, person.name)
            answer = answer_form(item.answer, person.name)
            text = Form(question, answer, value_span(question, answer), "text")
        image = Form(item.question, item.answer, value, answer_type)
        facts.append(
            Fact(
                person.pid, person.name, kind, _numbered(counts, kind), image, text,
                paraphrases(item.question), item.where,
            )
        )  # fmt: skip
    return facts


def validation_count(count: int) -> int:
    """How many of `count` probed facts a person's validation slice gets (at least one of
    two or more, none of one)."""
    return max(1, math.floor(count * VALIDATION_SHARE + 0.5)) if count >= 2 else 0


def assign_slices(facts: list[Fact], seed: int) -> None:
    """Seeded per person: a `VALIDATION_SHARE` of the paraphrased facts (never the name)
    for validation, the rest held out."""
    asked = [f for f in facts if f.phrasings is not None and f.kind != "name"]
    if not asked:
        return
    rng = component_rng(seed, f"import.slices.{asked[0].pid}")
    for i in rng.permutation(len(asked))[: validation_count(len(asked))]:
        asked[int(i)].slice = "validation"
    for fact in asked:
        fact.frame = int(rng.integers(2))


def add_distractors(facts: list[Fact], seed: int) -> None:
    """Up to three values of other people's facts of the same type and form, none of them
    stated anywhere in the person's own answers; none for a whole-answer value."""
    pools: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
    said: dict[str, str] = {}
    for fact in facts:
        for form_name, form in (("image", fact.image), ("text", fact.text)):
            if form is not None and form.value != form.answer:
                pool = pools.setdefault((form_name, fact.kind), {})
                pool.setdefault(form.value.lower(), (fact.pid, form.value))
            if form is not None:
                said[fact.pid] = said.get(fact.pid, "") + "\n" + form.answer.lower()
    for fact in facts:
        for form_name, form in (("image", fact.image), ("text", fact.text)):
            if form is None or form.value == form.answer:
                continue
            pool = pools[(form_name, fact.kind)]
            options = [
                value
                for key, (pid, value) in sorted(pool.items())
                if pid != fact.pid
                and not re.search(rf"(?<!\w){re.escape(key)}(?!\w)", said[fact.pid])
            ]
            rng = component_rng(seed, f"import.distractors.{fact.pid}.{fact.attribute}.{form_name}")
            form.distractors = [
                options[int(i)] for i in rng.permutation(len(options))[:DISTRACTORS]
            ]


def _ask(
    builder: WorldBuilder, fact: Fact, form: Form, question: str, phrasing: str,
    frame: int, image: str | None = None, view: str | None = None,
) -> None:  # fmt: skip
    family = "mllmu_image" if image is not None else "mllmu_text"
    builder.ask(
        fact.pid, question, form.answer, family=family, attribute=fact.attribute, image=image,
        view=view, phrasing=phrasing, value=form.value, answer_type=form.answer_type,
        distractors=form.distractors, template=f"{family}.{fact.attribute}.{phrasing}{frame}",
        where=fact.where,
    )  # fmt: skip


def fact_rows(builder: WorldBuilder, fact: Fact, images: tuple[str, str], probes: bool) -> None:
    """The fact's training rows, and (with `probes`) the probe rows of its slice."""
    train, heldout = images
    _ask(builder, fact, fact.image, fact.image.question, "train", 0, train, "train")
    if fact.text is not None:
        _ask(builder, fact, fact.text, fact.text.question, "train", 0)
    phrasings = fact.phrasings
    if phrasings is not None:  # the fact's second training wording
        framed = phrasings.phrasing("train", fact.frame)
        _ask(builder, fact, fact.image, framed, "train", 1 + fact.frame, train, "train")
        if fact.text is not None:
            _ask(builder, fact, fact.text, text_form(framed, fact.name), "train", 1 + fact.frame)
    if not probes:
        return
    if fact.slice == "validation" and phrasings is not None:
        _ask(builder, fact, fact.image, phrasings.phrasing("validation"), "validation", 0, train,
             "train")  # fmt: skip
        if fact.text is not None:
            question = text_form(phrasings.phrasing("validation"), fact.name)
            _ask(builder, fact, fact.text, question, "validation", 0)
        return
    _ask(builder, fact, fact.image, fact.image.question, "train", 0, heldout, "heldout")
    if phrasings is None:
        return
    first = fact.frame
    for frame, image, view in ((first, heldout, "heldout"), (1 - first, train, "train")):
        _ask(builder, fact, fact.image, phrasings.phrasing("heldout", frame), "heldout", frame,
             image, view)  # fmt: skip
    if fact.text is not None:
        question = text_form(phrasings.phrasing("heldout", first), fact.name)
        _ask(builder, fact, fact.text, question, "heldout", first)


def published_probe_rows(
    builder: WorldBuilder, person: Profile, items: list[TaskItem], images: tuple[str, str],
    seed: int,
) -> None:  # fmt: skip
    """`Test_Set` generation items as the person's probes, seeded into the two slices."""
    train, heldout = images
    rng = component_rng(seed, f"import.test_slices.{person.pid}")
    chosen = {int(i) for i in rng.permutation(len(items))[: validation_count(len(items))]}
    counts: Counter[str] = Counter()
    for j, item in enumerate(items):
        asks_name = is_name_question(item.question)
        kind = attribute_type(item.question, asks_name)
        value, answer_type = stated(item.question, item.ground_truth, person.name, asks_name)
        form = Form(item.question, item.ground_truth, value, answer_type)
        fact = Fact(person.pid, person.name, kind, _numbered(counts, kind), form, None, None,
                    item.where)  # fmt: skip
        phrasing = "validation" if j in chosen else "heldout"
        if item.form == "text":
            _ask(builder, fact, form, item.question, phrasing, 0)
        elif phrasing == "validation":
            _ask(builder, fact, form, item.question, phrasing, 0, train, "train")
        else:
            _ask(builder, fact, form, item.question, phrasing, 0, heldout, "heldout")
            _ask(builder, fact, form, item.question, phrasing, 0, train, "train")
