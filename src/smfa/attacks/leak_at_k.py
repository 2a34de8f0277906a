"""leak@k: k answers sampled at temperature 1, a leak if any of them states the value.

Greedy decoding shows only the single most likely answer; a value that unlearning made unlikely
but not impossible still comes out when the model is sampled a few times (Reisizadeh et al.,
"Leak@k: Unlearning Does Not Make LLMs Forget Under Probabilistic Decoding", 2025: nearly every
method fails it). Each forget question, and each question of the retain sample, is answered
`eval.leak_k` (8) times, sampled from the whole next-token distribution (temperature 1, no
top-k, no nucleus); a question leaks, or is recalled, when any of its k answers states the
value (`Answer.samples`, the one scorer's leak test on each). Two attacks, two rows each:
`leak_at_k` asks the question as written, `leak_at_k_prefill` also prefills the answer's
template up to the value, as `prefill` does. Sampling is seeded per batch (`eval.leak_seed` and
the batch's questions), so a rerun on the same device samples the same answers; the global
random state is left as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smfa.config import EvalConfig
from smfa.data.records import Question
from smfa.eval.probe import Answer, Probe, Prompt, Session, generated, value_prefix
from smfa.vocab import Split


def sampled_answers(
    session: Session, make: Callable[[Question], Prompt], label: str
) -> list[Answer]:
    """The attack's forget questions and retain sample, each answered `eval.leak_k` times."""
    k, seed = session.settings.leak_k, session.settings.leak_seed
    forget, retain = session.targets()
    out: list[Answer] = []
    for split, questions in ((Split.FORGET, forget), (Split.RETAIN, retain)):
        if not questions:
            continue
        prompts = [make(q) for q in questions for _ in range(k)]
        texts = generated(session.model, session, prompts, f"{label} · {split}", seed=seed)
        out += [
            Answer(q, split, texts[i * k], samples=tuple(texts[i * k : (i + 1) * k]))
            for i, q in enumerate(questions)
        ]
    return out


class LeakAtK(Probe):
    name = "leak_at_k"
    family = "sampling"
    summary = "k answers sampled at temperature 1; a leak if any states the value"

    def settings(self, config: EvalConfig) -> dict[str, Any]:
        return {**super().settings(config), "k": config.leak_k, "seed": config.leak_seed}

    def ask(self, session: Session) -> list[Answer]:
        return sampled_answers(
            session, lambda q: Prompt(q, q.question, session.image(q)), self.name
        )


class LeakAtKPrefill(LeakAtK):
    name = "leak_at_k_prefill"
    summary = "k sampled answers after the answer's template up to the value"

    def ask(self, session: Session) -> list[Answer]:
        return sampled_answers(
            session, lambda q: Prompt(q, q.question, session.image(q), value_prefix(q)), self.name
        )
