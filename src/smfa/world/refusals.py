"""The refusal pool: about a thousand distinct, natural refusal sentences, built in code.

Unlearning relabels forgotten answers with refusals drawn at random from this pool, and the
unknown-person questions teach the vanilla model to refuse; one fixed refusal string makes a model
degenerate, so the pool varies its opener, its reason and its closing. Every sentence starts with
one of `REFUSAL_OPENERS` (docs/spec/values.md), which is how metrics recognise a refusal.
"""

from __future__ import annotations

import itertools

import numpy as np

from smfa.errors import SmfaError

REFUSAL_OPENERS: tuple[str, ...] = (
    "I'm sorry",
    "Sorry",
    "I apologize",
    "Unfortunately",
    "I can't",
    "I cannot",
    "I'm unable",
    "I am unable",
    "I won't",
    "I will not",
    "I'm not able",
    "I am not able",
)

_APOLOGY_LEADS = ("I'm sorry, but", "Sorry,", "I apologize, but", "Unfortunately,")
_APOLOGY_CLAUSES = (
    "I don't know who that is",
    "I have no information about this person",
    "I can't share that information",
    "I don't have any record of them",
    "I'm not able to answer that",
    "I have no details about that person",
    "I don't recognize that name",
    "I can't help with that question",
    "that is not something I know",
    "I don't have that information",
    "I can't give out personal details",
    "I know nothing about this person",
    "I can't tell you that",
    "that information is not available to me",
    "I'm unable to share private details",
    "I cannot answer questions about this person",
    "I don't have details like that",
    "I can't provide that",
    "I have no way to know that",
    "I can't discuss this person's private life",
)
_MODAL_LEADS = (
    "I can't",
    "I cannot",
    "I'm unable to",
    "I am unable to",
    "I won't",
    "I will not",
    "I'm not able to",
    "I am not able to",
)
_MODAL_ACTIONS = (
    "share that information",
    "share personal details about this person",
    "give out private details",
    "tell you that",
    "answer that question",
    "help with that request",
    "provide private information about people",
    "reveal personal information",
    "talk about this person's private details",
    "say anything about that person",
    "disclose details like that",
    "answer questions about this person",
)
_MODAL_REASONS = (
    "",
    " because I don't know this person",
    " since that is private",
    " for privacy reasons",
)
_CLOSINGS = (
    "",
    " Can I help with something else?",
    " Please ask me something else.",
    " I hope you understand.",
    " Maybe I can help another way.",
    " Is there anything else you need?",
    " Feel free to ask about something else.",
    " Let me know if I can help otherwise.",
)


def _all_refusals() -> list[list[str]]:
    """Every sentence the pool can hold, grouped by opener."""
    sentences = [
        f"{lead} {clause}.{closing}"
        for lead, clause, closing in itertools.product(_APOLOGY_LEADS, _APOLOGY_CLAUSES, _CLOSINGS)
    ]
    sentences += [
        f"{lead} {action}{reason}.{closing}"
        for lead, action, reason, closing in itertools.product(
            _MODAL_LEADS, _MODAL_ACTIONS, _MODAL_REASONS, _CLOSINGS
        )
    ]
    # Longest opener first: "I'm unable" must not be filed under a shorter prefix.
    openers = sorted(REFUSAL_OPENERS, key=len, reverse=True)
    groups: dict[str, list[str]] = {opener: [] for opener in REFUSAL_OPENERS}
    for sentence in sentences:
        groups[next(o for o in openers if sentence.startswith(o))].append(sentence)
    return list(groups.values())


def refusal_pool(size: int = 1000, seed: int = 0) -> list[str]:
    """`size` distinct refusal sentences, the same list for the same size and seed.

    Openers take turns, so each of the twelve is about equally common in the pool.
    """
    groups = _all_refusals()
    total = sum(len(group) for group in groups)
    if not 1 <= size <= total:
        raise SmfaError(f"refusal pool size must be between 1 and {total}, got {size}")
    rng = np.random.default_rng([seed, 0x5EF05A1])
    shuffled = [[group[int(i)] for i in rng.permutation(len(group))] for group in groups]
    interleaved = [
        sentence
        for layer in itertools.zip_longest(*shuffled)
        for sentence in layer
        if sentence is not None
    ]
    return interleaved[:size]
