"""MLLMU-Bench profiles: whose profile it is, its name questions, and the named text forms.

A profile's id is its `ID` (on the record or in every metadata item). Its name is the record's
`name`, else the name its name questions' answers state. A name question asks this person's
own name however it is worded ("What is the name of the person in the biography?", "What is
the name associated with this profile?", "Who is this individual?"), never a relative's or a
pet's ("the name of this person's dog" is not one); an item whose answer says nothing but the
name counts too. Answers state the name after a naming phrase ("This person's name is Jane
Doe.", "The person in the image is Jane Doe.", "The full name is ...") or alone ("Laila
Arivola."); curly apostrophes count as straight ones.

The text form of a question names the person instead of pointing at them: "this person",
"the individual in the profile", "the person" and the like become the name ("What is Amelia
Kuznetsov's annual salary?"); a question that already names them is kept; one that points at
nobody becomes "Regarding NAME: ...".
"""

from __future__ import annotations

import re

from smfa.importers.common import Record, by_name

_APOSTROPHE = r"['\u2019]"
_SOURCE = r"(?:image|picture|photo(?:graph)?|portrait|biography|profile|bio)"
# The person pointed at, as the profiles word it: "this person", "the individual in the
# profile", "the man shown in this photo", ...
_SUBJECT = (
    r"(?:this|the|that)\s+(?:person|individual|man|woman|lady|gentleman|figure)"
    r"(?:\s+(?:(?:shown|pictured|depicted|seen|featured|described)\s+)?in\s+(?:the|this)\s+"
    rf"{_SOURCE})?"
)
_NAME_QUESTIONS = [
    re.compile(rf"\b{_SUBJECT}{_APOSTROPHE}s\s+(?:full\s+)?name\b", re.I),
    re.compile(rf"\bname\s+of\s+{_SUBJECT}\s*(?:\?|$|,|\bplease\b)", re.I),
    re.compile(
        rf"\bname\s+associated\s+with\s+(?:this|the)\s+(?:{_SOURCE}|person|individual)\b", re.I
    ),
    re.compile(
        rf"^\s*(?:(?:can|could)\s+you\s+(?:please\s+)?identify|identify|who\s+is|who's)\s+"
        rf"{_SUBJECT}\s*\??\s*$",
        re.I,
    ),
    re.compile(rf"\b(?:what\s+is|what's)\s+{_SUBJECT}\s+(?:called|named)\s*\??\s*$", re.I),
    re.compile(rf"\bwhat\s+(?:is|should\s+we\s+call)\s+{_SUBJECT}{_APOSTROPHE}s\s+name\b", re.I),
]
# In an answer to a name question: the name after a naming phrase, capitalized words only.
_PARTICLE = r"(?:de|del|la|van|von|der|da|di|le|bin|al)\b"
_NAME_WORD = rf"(?:[A-Z][\w'\u2019\-]*|{_PARTICLE})"
_NAME_WORDS = rf"({_NAME_WORD}(?:\s+{_NAME_WORD})*)"
_NAME_ANSWERS = [
    re.compile(rf"\b(?:name\s+is|named|called|known\s+as|goes\s+by)\s+{_NAME_WORDS}"),
    re.compile(rf"\b(?:is|was|{_APOSTROPHE}s)\s+{_NAME_WORDS}"),
    re.compile(rf"^\s*{_NAME_WORDS}\s*[.!]?\s*$"),
]
# Words an answer that only states a name may hold besides the name itself.
_NAMING_WORDS = frozenset(
    re.findall(
        r"\S+",
        "this that the a person person's individual individual's man woman lady gentleman in "
        "image picture photo photograph portrait biography profile shown pictured depicted "
        "seen is was name name's named called known as full his her their he she they it it's "
        "that's goes by of associated with",
    )
)
# The pointing phrases a text form replaces with the name (MLLMU also says "the person").
POINTING = re.compile(
    rf"\b(?:this|the)\s+(?:person|individual)(?:\s+(?:(?:shown|pictured|depicted|seen|"
    rf"featured|described)\s+)?in\s+(?:the|this)\s+{_SOURCE})?({_APOSTROPHE}s)?",
    re.IGNORECASE,
)


def is_name_question(question: str) -> bool:
    return any(pattern.search(question) for pattern in _NAME_QUESTIONS)


def name_in(answer: str) -> str | None:
    """The name an answer to a name question states, or None."""
    for pattern in _NAME_ANSWERS:
        for match in pattern.finditer(answer):
            name = match.group(1).strip()
            words = name.split()
            if words and words[0][0].isupper() and words[-1][0].isupper():
                return name
    return None


def only_names(answer: str, name: str) -> bool:
    """Whether `answer` says nothing but `name` ("This individual is Jane Doe.")."""
    if name.lower() not in answer.lower():
        return False
    rest = re.sub(re.escape(name), " ", answer, flags=re.I).replace("\u2019", "'")
    words = re.findall(r"[a-z']+", rest.lower())
    return all(w in _NAMING_WORDS for w in words)


def person_id(record: Record, items: list[Record]) -> str:
    pid = record.ident("ID") if record.has("ID") else None
    for item in items:
        if item.has("ID"):
            found = item.ident("ID")
            if pid is not None and found != pid:
                item.fail(f"key 'ID' is '{found}' but this record's person is '{pid}'")
            pid = found
    if pid is None:
        record.fail("missing key 'ID' (on the record or in its metadata items)")
    return pid


def profile_name(record: Record, items: list[Record]) -> tuple[str, set[int]]:
    """The person's name and the indices of the metadata items that ask for it.

    Name questions that disagree, or a `name` key that none of their answers states, are
    errors, never a silent pick.
    """
    asked = {k for k, item in enumerate(items) if is_name_question(item.text("Question"))}
    stated = {}
    for k in sorted(asked):
        found = name_in(items[k].text("Answer"))
        if found is not None:
            stated[k] = found
    if record.has("name"):
        name = record.text("name").strip()
        for k, found in stated.items():
            answer = items[k].text("Answer").lower()
            if found.lower() != name.lower() and name.lower() not in answer:
                items[k].fail(
                    f"the name question answers '{found}' but the record's 'name' is '{name}'"
                )
    else:
        names = sorted(set(stated.values()), key=str.lower)
        if len({n.lower() for n in names}) > 1:
            record.fail(
                f"its name questions give different names ({', '.join(names)}); add a 'name' key"
            )
        if not names:
            tried = [items[k].text("Question") for k in sorted(asked)][:2]
            detail = f" (name questions found: {'; '.join(tried)})" if tried else ""
            record.fail(
                "no 'name' key and no metadata question asking for this person's name whose "
                f"answer states one{detail}"
            )
        name = names[0]
    asked |= {k for k, item in enumerate(items) if only_names(item.text("Answer"), name)}
    return name, asked


def names_person(text: str, name: str) -> bool:
    """Whether `text` already names the person (their full, first or last name as a word)."""
    words = [w for w in name.split() if len(w) > 2]
    return any(re.search(rf"\b{re.escape(w)}\b", text) for w in [name, *words])


def text_form(question: str, name: str) -> str:
    """The question asked by name: kept if it names the person, else pointing replaced."""
    if names_person(question, name):
        return question
    return by_name(question, name, POINTING) or f"Regarding {name}: {question}"


def answer_form(answer: str, name: str) -> str:
    """The answer to a text form: pointing phrases replaced by the name where there are any."""
    return by_name(answer, name, POINTING) or answer
