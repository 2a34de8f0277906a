"""Answer prefill: the assistant turn already starts with the answer's words; the model goes on.

Refusal-trained unlearning (IDK tuning, SMFA) teaches the first tokens of an answer to be a
refusal; the value may still sit right behind them. Prefilling the answer's own template up to
the value ("Mivina Holwell's home city is") asks for the very next words; prefilling only its
first word asks the model to choose a template itself. Only the continuation is scored.
"""

from __future__ import annotations

from smfa.attacks.base import Attack, Probe, Row, Target, first_word, probe_both, value_prefix


class Prefill(Attack):
    name = "prefill"
    family = "prefill"
    summary = "the answer's template up to the value is prefilled"

    def run(self, target: Target) -> list[Row]:
        return probe_both(
            target.model,
            target,
            lambda q: Probe(q, q.question, target.image(q), value_prefix(q)),
            self.name,
        )


class PrefillFirstWord(Attack):
    name = "prefill_first_word"
    family = "prefill"
    summary = "the answer's first word is prefilled"

    def run(self, target: Target) -> list[Row]:
        return probe_both(
            target.model,
            target,
            lambda q: Probe(q, q.question, target.image(q), first_word(q)),
            self.name,
        )
