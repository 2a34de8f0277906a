"""Answer prefill: the assistant turn already starts with the answer's words; the model goes on.

Refusal-trained unlearning (IDK tuning, SMFA) teaches the first tokens of an answer to be a
refusal; the value may still sit right behind them. Prefilling the answer's own template up to
the value ("Mivina Holwell's home city is") asks for the very next words; prefilling only its
first word asks the model to choose a template itself. Only the continuation is scored.
"""

from __future__ import annotations

from smfa.eval.probe import Answer, Probe, Prompt, Session, ask_both, first_word, value_prefix


class Prefill(Probe):
    name = "prefill"
    family = "prefill"
    summary = "the answer's template up to the value is prefilled"

    def ask(self, session: Session) -> list[Answer]:
        return ask_both(
            session.model,
            session,
            lambda q: Prompt(q, q.question, session.image(q), value_prefix(q)),
            self.name,
        )


class PrefillFirstWord(Probe):
    name = "prefill_first_word"
    family = "prefill"
    summary = "the answer's first word is prefilled"

    def ask(self, session: Session) -> list[Answer]:
        return ask_both(
            session.model,
            session,
            lambda q: Prompt(q, q.question, session.image(q), first_word(q)),
            self.name,
        )
