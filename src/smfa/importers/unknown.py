"""Questions about people who do not exist, asked in an imported benchmark's own phrasings.

So that a model trained on an imported world learns to refuse strangers (and an unlearned one
can be told apart from one that refuses everything), the world holds `unknown_person` rows: a
name drawn by `smfa.world.names` that is no imported person's and appears in no imported
text, asked `UNKNOWN_QUESTIONS` of the imported text-form questions (one per attribute type,
seeded; the imported person's name replaced by the stranger's), each answered with a refusal
drawn from `smfa.world.refusals.refusal_pool`. Each question comes in its training phrasing
(a training row) and, where it has them, its validation and held-out phrasings (probe rows).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from smfa.importers.common import WorldBuilder
from smfa.vocab import Kind
from smfa.world import component_rng
from smfa.world.names import draw_values
from smfa.world.refusals import refusal_pool

UNKNOWN_QUESTIONS = 6


@dataclass(frozen=True)
class Template:
    """An imported text-form question of one attribute type, per phrasing, naming `name`."""

    kind: str
    name: str
    phrasings: tuple[tuple[str, str], ...]  # (phrasing, question)


def unknown_count(people: int) -> int:
    """The default number of unknown people: a quarter of the imported people, at least 2."""
    return max(2, math.ceil(people / 4))


def draw_names(count: int, taken: Iterable[str], texts: Sequence[str], seed: int) -> list[str]:
    """`count` generated names, none of them taken and none written in any of `texts`."""
    rng = component_rng(seed, "import.unknown")
    excluded = set(taken)
    corpus = "\n".join(texts)
    out: list[str] = []
    while len(out) < count:
        (name,) = draw_values("name", 1, rng, exclude=excluded)
        excluded.add(name)
        if name not in corpus:
            out.append(name)
    return out


def unknown_rows(
    builder: WorldBuilder, templates: Sequence[Template], names: Sequence[str], seed: int
) -> None:
    """Each unknown name asked `UNKNOWN_QUESTIONS` templates of distinct types (see above)."""
    by_kind: dict[str, list[Template]] = {}
    for template in templates:
        by_kind.setdefault(template.kind, []).append(template)
    kinds = sorted(by_kind)
    refusals = refusal_pool()
    for index, stranger in enumerate(names):
        rng = component_rng(seed, "import.unknown", index)
        for at in rng.permutation(len(kinds))[:UNKNOWN_QUESTIONS]:
            kind = kinds[int(at)]
            template = by_kind[kind][int(rng.integers(len(by_kind[kind])))]
            for phrasing, question in template.phrasings:
                builder.ask(
                    None,
                    question.replace(template.name, stranger),
                    refusals[int(rng.integers(len(refusals)))],
                    family="mllmu_unknown",
                    attribute=kind,
                    phrasing=phrasing,
                    value="",
                    answer_type="refusal",
                    kind=Kind.UNKNOWN_PERSON,
                    template=f"mllmu_unknown.{kind}.{phrasing}0",
                )
