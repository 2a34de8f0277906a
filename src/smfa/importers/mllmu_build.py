"""An MLLMU-Bench source, read and checked, assembled as a world: people, rows and tasks.

Held-out portraits: a person's first `Test_Set` re-render when there is one (and it differs
from the training portrait), else the training portrait re-rendered by the generated world's
held-out jitter (`smfa.world.draw.Jitter.draw`, seeded per person id, applied to the pixels
by `jitter_image`). `Retain_Set` celebrities get the jittered view too. Tasks (tasks.jsonl) are
every evaluation item of the source, each once: a `Test_Set` image task shows the held-out
portrait, a `forget_`/`retain_`/`Full_Set` one its row's image, a celebrity's its own.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from smfa.importers.common import WorldBuilder
from smfa.importers.mllmu_names import names_person, text_form
from smfa.importers.mllmu_records import Evaluation, Sources
from smfa.importers.mllmu_world import (
    Fact,
    add_distractors,
    assign_slices,
    fact_rows,
    profile_facts,
    published_probe_rows,
)
from smfa.importers.subset import id_key
from smfa.importers.unknown import Template, draw_names, unknown_count, unknown_rows
from smfa.world import component_rng
from smfa.world.draw import Jitter, jitter_image, png_bytes

Row = dict[str, Any]


def heldout_render(builder: WorldBuilder, pid: str, train: str, seed: int) -> str:
    """The training portrait re-rendered by the held-out jitter, filed as `PID_heldout`."""
    with Image.open(io.BytesIO(builder.image_bytes(train))) as picture:
        fmt = picture.format or "PNG"
        rng = component_rng(seed, f"import.heldout.{pid}")
        moved = jitter_image(picture, Jitter.draw(rng), rng)
    if fmt == "JPEG":  # a photo stays a photo: a PNG of it would be several times larger
        buffer = io.BytesIO()
        moved.save(buffer, format="JPEG", quality=95)
        return builder.add_bytes(f"{pid}_heldout", buffer.getvalue(), ".jpg")
    return builder.add_bytes(f"{pid}_heldout", png_bytes(moved))


def _templates(facts: list[Fact]) -> list[Template]:
    """The text-form phrasings of every fact that names its person once and nowhere else."""
    out: dict[tuple[str, ...], Template] = {}
    for fact in facts:
        if fact.text is None or fact.kind == "name":
            continue
        phrasings = [("train", fact.text.question)]
        if fact.phrasings is not None:
            for phrasing, frame in (("validation", 0), ("heldout", fact.frame)):
                phrasings.append((phrasing, text_form(fact.phrasings.phrasing(phrasing, frame),
                                                     fact.name)))  # fmt: skip
        if not all(fact.name in q and not names_person(q.replace(fact.name, ""), fact.name)
                   for _, q in phrasings):  # fmt: skip
            continue
        key = tuple(q.replace(fact.name, "\0") for _, q in phrasings)
        out.setdefault(key, Template(fact.kind, fact.name, tuple(phrasings)))
    return list(out.values())


def _tests(found: Sources) -> dict[str, Evaluation]:
    tests: dict[str, Evaluation] = {}
    for ev in found.evaluations:
        if ev.source == "test":
            tests.setdefault(id_key(ev.raw_id), ev)
    return tests


def _people(builder: WorldBuilder, found: Sources, seed: int) -> list[Fact]:
    """Every person, their facts' rows and probes; the facts returned."""
    tests = _tests(found)
    planned = []
    for person in found.profiles:
        test = tests.get(id_key(person.pid))
        if test is not None and test.image is not None and test.image != person.image:
            heldout = test.image
        else:
            heldout = heldout_render(builder, person.pid, person.image, seed)
        builder.add_person(person.record, person.pid, person.name, person.image, heldout)
        facts = profile_facts(person)
        generations = [i for i in test.items if i.task == "generation"] if test else []
        if not generations:
            assign_slices(facts, seed)
        planned.append((person, facts, generations, (person.image, heldout)))
    everything = [fact for _, facts, _, _ in planned for fact in facts]
    add_distractors(everything, seed)
    for person, facts, generations, images in planned:
        for fact in facts:
            fact_rows(builder, fact, images, probes=not generations)
        if generations:
            published_probe_rows(builder, person, generations, images, seed)
    for celebrity in found.celebrities:
        heldout = heldout_render(builder, celebrity.pid, celebrity.image, seed)
        builder.add_person(celebrity.record, celebrity.pid, celebrity.name, celebrity.image,
                           heldout)  # fmt: skip
    return everything


def _task_rows(builder: WorldBuilder, found: Sources) -> list[Row]:
    portraits = {p["id"]: p["portrait"] for p in builder.people}
    rows: list[Row] = []
    seen: set[tuple[Any, ...]] = set()
    for ev in found.evaluations:
        pid = builder.find(ev.raw_id)
        if pid is None:
            continue
        shown = portraits[pid]["heldout"] if ev.source == "test" else ev.image
        for item in ev.items:
            options = item.options or {}
            key = (pid, ev.source, item.task, item.form, item.question, item.ground_truth,
                   tuple(options.items()))  # fmt: skip
            if key in seen:
                continue
            seen.add(key)
            rows.append({
                "id": f"t{len(rows) + 1:06d}", "subject": pid, "source": ev.source,
                "task": item.task, "form": item.form, "question": item.question,
                "options": options or None, "correct": item.correct,
                "ground_truth": item.ground_truth,
                "image": (shown or portraits[pid]["train"]) if item.form == "image" else None,
            })  # fmt: skip
            builder.sources.tasks.append(item.where)
    return rows


def assemble(
    builder: WorldBuilder, found: Sources, seed: int, unknown_people: int | None
) -> tuple[list[Row], int]:
    """Add every person and row of `found` to `builder`; return (tasks rows, unknown people)."""
    facts = _people(builder, found, seed)
    count = unknown_count(len(found.profiles)) if unknown_people is None else unknown_people
    texts = [f"{f.image.question}\n{f.image.answer}" for f in facts]
    names = draw_names(count, list(builder.names.values()), texts, seed)
    unknown_rows(builder, _templates(facts), names, seed)
    return _task_rows(builder, found), count
