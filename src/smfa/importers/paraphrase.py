"""Training, validation and held-out phrasings of an imported question: its indirect form in
fixed frames.

A benchmark gives each fact one question. The imported world asks it again in phrasings that
training never saw, built the way the generated world's frames are ("Tell me what {name}'s
salary is."): the question is turned into an embedded clause and set in a frame of its slice.

- "What is/Which is NP?" gives NP: "What is this person's annual salary?" -> "this person's
  annual salary";
- "WH (does|did|is|was|has|can...) SUBJECT REST?" gives "WH SUBJECT VERB REST", the verb
  inflected ("Where does this person currently reside?" -> "where this person currently
  resides", "Which university did this person attend?" -> "which university this person
  attended", "How tall is this person?" -> "how tall this person is");
- "(Does|Is|Has...) SUBJECT REST?" gives "whether SUBJECT VERB REST".

SUBJECT is the person pointed at ("this person", "the individual in the profile", "this
person's father", "the mother"). A question of any other shape has no paraphrase (None); the
importer then asks it in training phrasing only. `FRAMES` lists the frames of each slice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The frames of each slice; {clause} is the embedded question. Disjoint from each other and
# from every source phrasing, which are direct questions.
FRAMES: dict[str, tuple[str, ...]] = {
    # A second training wording of each fact (one of these, alternating), as the generated
    # world trains each fact in five: a model that saw one wording only learns that string.
    "train": ("I want to know {clause}.", "Let me know {clause}."),
    "validation": ("Tell me {clause}.",),
    "heldout": ("Do you know {clause}?", "Can you tell me {clause}?"),
}


def _words(text: str) -> frozenset[str]:
    """Word lists are written as one string: long lists stay readable."""
    return frozenset(text.split())


_WHERE_SHOWN = (
    r"(?:\s+(?:(?:shown|pictured|depicted|seen|featured|described)\s+)?(?:in|on)\s+"
    r"(?:the|this)\s+(?:image|picture|photo(?:graph)?|portrait|biography|profile))?"
)
_RELATIVE = r"(?:father|mother|parents?|brother|sister|spouse|husband|wife|son|daughter)"
SUBJECT = (
    rf"(?:(?:this|that|the)\s+(?:person|individual|man|woman){_WHERE_SHOWN}"
    rf"(?:['\u2019]s\s+{_RELATIVE})?|the\s+{_RELATIVE})"
)
_AUX = r"(?:does|do|did|is|are|was|were|has|have|had|can|could|would|will)"
_WH = r"(?:(?:in|at|for|from|with|on|to)\s+)?(?:what|where|when|which|who|whom|how|why)"
_NOUN_PHRASE = re.compile(r"^(?:what|which)\s+(?:is|are)\s+(.+?)\s*\?$", re.I)
_WH_CLAUSE = re.compile(
    rf"^({_WH}(?:\s+[\w'\u2019-]+){{0,3}}?)\s+({_AUX})\s+({SUBJECT})\b(.*?)\s*\?$", re.I
)
_YES_NO = re.compile(rf"^({_AUX})\s+({SUBJECT})\b(.*?)\s*\?$", re.I)
_BARE_SUBJECT = re.compile(rf"^{SUBJECT}(?!['\u2019]s)\b", re.I)
_PREPOSITIONS = _words("of in for at on as from with about to")
_LOWER_FIRST = _words(
    "the this that a an what where when which who whom how why whose in at for from with on to"
)
_THIRD_PERSON = {"have": "has", "do": "does", "go": "goes", "be": "is"}
_PAST = {
    "have": "had", "do": "did", "go": "went", "get": "got", "make": "made", "take": "took",
    "grow": "grew", "meet": "met", "buy": "bought", "leave": "left", "win": "won",
    "begin": "began", "become": "became", "come": "came", "give": "gave", "find": "found",
    "teach": "taught", "hold": "held", "spend": "spent", "build": "built", "write": "wrote",
    "speak": "spoke", "see": "saw", "know": "knew", "read": "read", "run": "ran",
    "swim": "swam", "eat": "ate", "drink": "drank", "choose": "chose", "fly": "flew",
}  # fmt: skip
_PARTICIPLE = re.compile(r"^(?:born|known|raised|made|given|taken|seen|called|named|\w+ed)$", re.I)


@dataclass(frozen=True)
class Paraphrases:
    """One question's phrasings per slice: validation and held-out frames around its clause."""

    clause: str

    def phrasing(self, slice_name: str, index: int = 0) -> str:
        frames = FRAMES[slice_name]
        return frames[index % len(frames)].format(clause=self.clause)


def _third_person(verb: str) -> str:
    low = verb.lower()
    if low in _THIRD_PERSON:
        return _THIRD_PERSON[low]
    if re.search(r"(?:s|sh|ch|x|z|o)$", low):
        return verb + "es"
    if re.search(r"[^aeiou]y$", low):
        return verb[:-1] + "ies"
    return verb + "s"


def _past(verb: str) -> str:
    low = verb.lower()
    if low in _PAST:
        return _PAST[low]
    if low.endswith("e"):
        return verb + "d"
    if re.search(r"[^aeiou]y$", low):
        return verb[:-1] + "ied"
    return verb + "ed"


def _lower_first(text: str) -> str:
    first, _, rest = text.partition(" ")
    return (first.lower() if first.lower() in _LOWER_FIRST else first) + (
        " " + rest if rest else ""
    )


def _clause(aux: str, subject: str, rest: str) -> str | None:
    """`subject` + the verb group of a question's `aux` and `rest`, in statement order."""
    aux = aux.lower()
    if aux in ("does", "do", "did"):
        words = rest.split()
        verb_at = next((i for i, w in enumerate(words) if not w.lower().endswith("ly")), None)
        if verb_at is None:
            return None
        verb = words[verb_at]
        inflect = {"did": _past, "does": _third_person}.get(aux)
        words[verb_at] = inflect(verb) if inflect else verb
        return " ".join([subject, *words])
    # Be, have and modals: before a final participle ("where this person was born"), at the
    # end after a possessive or prepositional subject ("when this person's date of birth is"),
    # else right after the subject ("how many countries this person has traveled to").
    words = (subject + rest).split()
    extra = rest.split()
    if extra and _PARTICIPLE.match(words[-1]) and not re.match(r"['\u2019]s\b", extra[-1]):
        return " ".join([*words[:-1], aux, words[-1]])
    if not extra or rest.startswith(("'", "\u2019")) or extra[0].lower() in _PREPOSITIONS:
        return " ".join([*words, aux])
    return " ".join([subject, aux, *extra])


def _embedded(question: str) -> str | None:
    """The question as an embedded clause, or None when its shape is not one of the three."""
    text = " ".join(question.split())
    noun_phrase = _NOUN_PHRASE.match(text)
    if noun_phrase and not _BARE_SUBJECT.match(noun_phrase.group(1)):
        return _lower_first(noun_phrase.group(1))
    wh = _WH_CLAUSE.match(text)
    if wh:
        clause = _clause(wh.group(2), _lower_first(wh.group(3)), wh.group(4))
        return None if clause is None else f"{_lower_first(wh.group(1))} {clause}"
    yes_no = _YES_NO.match(text)
    if yes_no:
        clause = _clause(yes_no.group(1), _lower_first(yes_no.group(2)), yes_no.group(3))
        return None if clause is None else f"whether {clause}"
    return None


def paraphrases(question: str) -> Paraphrases | None:
    """The validation and held-out phrasings of `question`, or None (see the module doc)."""
    clause = _embedded(question)
    return None if clause is None else Paraphrases(clause)
