"""What an imported question asks and what its free-text answer states (docs/data-format.md).

`attribute_type` names the kind of fact a question asks from its phrasing alone, by the first
rule of `TYPE_RULES` whose pattern the question matches (never from its position in a profile);
a question no rule matches is `unknown`. `value_span` finds the part of a free-text answer that
the question does not already give: the answer is read as [a prefix restating the question]
[the value] [a suffix restating it], where a restating word is a word of the question (Porter
stems compared), a function word or one of the verbs answers use to introduce a value ("earns",
"resides", "named", "tall", ...). The value is what lies between; the whole answer when no
content word lies between, or when a negation comes before the first one ("This person does
not have any medical conditions.", "There is no information on ...").
"""

from __future__ import annotations

import functools
import re

UNKNOWN = "unknown"

# (type, pattern), the first match wins: relatives and pets before the facts they share words
# with ("the occupation of this person's father" is family, not occupation).
TYPE_RULES: tuple[tuple[str, str], ...] = (
    ("pet", r"\b(pets?|dogs?|cats?|companion|animals?)\b"),
    (
        "family",
        r"\b(father|mother|parents?|siblings?|brothers?|sisters?|husband|wife|spouse|"
        r"children|child|sons?|daughters?)\b",
    ),
    ("birth_place", r"\bwhere\b.*\bborn\b|\bplace of birth\b|\bbirth ?place\b|\bhometown\b"),
    ("birth_date", r"\bdate of birth\b|\bwhen\b.*\bborn\b|\bbirthday\b|\bhow old\b|\bage\b"),
    ("gender", r"\bgender\b|\bsex\b"),
    ("height", r"\bheight\b|\btall\b"),
    ("salary", r"\bsalary\b|\bincome\b|\bearns?\b|\bwages?\b|\bpaid\b"),
    (
        "education",
        r"\beducat\w*|\buniversity\b|\bcollege\b|\bschool\b|\bstud(y|ied)\b|\bdegree\b|"
        r"\bgraduat\w*",
    ),
    ("address", r"\baddress\b|\bstreet\b"),
    ("residence", r"\bresid\w*|\blives?\b|\bliving in\b|\bhome\b|\bwhere\b.*\bbased\b"),
    (
        "medical_condition",
        r"\bmedical\b|\bhealth\b|\bconditions?\b|\billness\w*|\bdiseases?\b|\bdiagnos\w*",
    ),
    ("nationality", r"\bnationality\b|\bcitizen\w*"),
    (
        "occupation",
        r"\bprofession\b|\boccupation\b|\bjob\b|\bemploy\w*|\bcareer\b|\bfor a living\b|"
        r"\bwork(s)?\b",
    ),
    ("food", r"\bfood\b|\bcuisines?\b|\bdish(es)?\b|\beat(ing)?\b|\bcook\w*|\bdrink\b|\bmeal\b"),
    ("language", r"\blanguages?\b"),
    (
        "hobby",
        r"\bhobb(y|ies)\b|\benjoys?\b|\bactivit(y|ies)\b|\bweekends?\b|\bfree time\b|"
        r"\bleisure\b|\bpassion\b|\bcollect\w*|\bmusic\w*|\binstrument\b|\bplays?\b|\bread\w*|"
        r"\bsports?\b|\btravel\w*|\bpaint\w*|\bcraft\b|\bphotograph\w*",
    ),
)
_RULES = tuple((kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in TYPE_RULES)


def attribute_type(question: str, asks_name: bool = False) -> str:
    """The kind of fact `question` asks: `name` for the person's own name, a rule's type, or
    `unknown`. Curly apostrophes count as straight ones."""
    if asks_name:
        return "name"
    text = question.replace("\u2019", "'")
    return next((kind for kind, pattern in _RULES if pattern.search(text)), UNKNOWN)


def _words(text: str) -> frozenset[str]:
    """Word lists are written as one string: long lists stay readable."""
    return frozenset(text.split())


# Words that never carry a value by themselves, and the verbs answers use to introduce one.
_FUNCTION_WORDS = _words(
    "a an the this that these those is are was were be been being am do does did of in on "
    "at to for from with by as during into through across after before since until within "
    "per each and or but about over he she him her hers his they them their its it there "
    "here yes person individual people who whom which whose what where when how also "
    "currently any some one"
)
_INTRODUCING = _words(
    "has have had earns earn earning works work worked working resides reside residing "
    "lives live living born named called known located based employed studied educated "
    "graduated attended loves love likes like enjoys enjoy prefers prefer speaks owns own "
    "suffers tall serves holds goes"
)
_NEGATIONS = _words(
    "no not never none nobody nothing neither nor cannot without unknown unavailable"
)
_EDGE = "\"'()[]{}.,;:!?\u2018\u2019\u201c\u201d"
_TRAILING = ".,;:!? "


@functools.cache
def _stemmer() -> object:
    from nltk.stem import porter  # the stemmer of the free-text leak rule (eval/leak.py)

    return porter.PorterStemmer()


def _normal(word: str) -> str:
    """A word as compared: lower case, edge punctuation and a possessive 's removed."""
    word = word.lower().replace("\u2019", "'").strip(_EDGE)
    return word[:-2] if word.endswith("'s") else word


def _stem(word: str) -> str:
    return _stemmer().stem(word) if len(word) > 3 else word  # type: ignore[attr-defined]


def _negation(word: str) -> bool:
    return word in _NEGATIONS or word.endswith("n't")


def value_span(question: str, answer: str) -> str:
    """The part of `answer` that `question` does not give, or the whole answer (see above)."""
    asked = {_stem(_normal(w)) for w in question.split()}
    tokens = list(re.finditer(r"\S+", answer))

    def restates(word: str) -> bool:
        return not word or word in _FUNCTION_WORDS or word in _INTRODUCING or _stem(word) in asked

    words = [_normal(t.group()) for t in tokens]
    content = [i for i, word in enumerate(words) if not restates(word) and not _negation(word)]
    if not content or any(_negation(w) for w in words[: content[0]]):
        return answer
    start, end = tokens[content[0]].start(), tokens[content[-1]].end()
    span = answer[start:end].rstrip(_TRAILING)
    return span or answer
