"""fair_mc's free-text distractors on an imported world: the rule before issue 32 against now.

For every forget ratio of `WORLD`, the questions fair_mc asks on the reported slice (the forget
people's and a 32-question retain sample) whose attribute has no value generator are given
distractors by the old rule (the question's attribute, the forget questions pooled across image
and text forms, the first 3 other values) and by `smfa.attacks.fair_mc.free_text_options`; it
counts the questions offered one of the person's own values, or a value overlapping theirs, and
prints the chance level per kind (1 / options offered, averaged).

    .venv/bin/smfa import mllmu /work/shared/data/mllmu-sample /tmp/mllmu-world
    .venv/bin/python benchmarks/fair_mc_imported.py /tmp/mllmu-world
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from smfa.attacks.fair_mc import _overlaps, fair_options, forget_pool
from smfa.data.format import load_world
from smfa.data.records import Question
from smfa.protocol.questions import REPORTED, attack_questions
from smfa.world.names import GENERATORS


def old_rule(question: Question, forget: list[Question]) -> list[str]:
    """The distractors before issue 32: the attribute's other forget values, forms pooled."""
    values = [q.value for q in forget if q.attribute == question.attribute]
    return [v for v in dict.fromkeys(values) if v != question.value][:3]


def main(root: Path) -> None:
    world = load_world(root)
    own: dict[str | None, set[str]] = defaultdict(set)
    for q in world.questions:
        own[q.subject].add(q.value)
    for ratio in world.ratios:
        people = tuple(sorted(world.splits.forget[ratio]))
        forget, retain = attack_questions(world, REPORTED, set(people), 32)
        pool = forget_pool(world.questions, people)
        asked = [
            q for q in forget + retain
            if q.value in q.answer and not (q.attribute in GENERATORS and q.answer_type != "text")
        ]  # fmt: skip

        def bad(q: Question, values: list[str]) -> bool:
            return any(v in own[q.subject] or _overlaps(v, q.value) for v in values)

        before = sum(bad(q, old_rule(q, forget)) for q in asked)
        now = [(q, fair_options(q, {}, pool)[1:]) for q in asked]
        offered: dict[str, list[int]] = defaultdict(list)
        for q, values in now:
            if values:
                offered[q.kind].append(1 + len(values))
        chance = {k: round(sum(1 / c for c in v) / len(v), 3) for k, v in offered.items()}
        print(
            f"ratio {ratio}: {len(people)} forget people, {len(asked)} free-text questions; "
            f"offered the person's own or an overlapping value: before {before}, now "
            f"{sum(bad(q, v) for q, v in now)}; chance per kind {chance}"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
