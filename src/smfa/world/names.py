"""People's names and private attribute values, drawn from large combinatorial spaces.

Every value follows docs/spec/values.md and is unique across the people of a world. The spaces are
large (thousands to millions of values per attribute) so that a model that never saw a person
cannot hit the value by guessing a common one: a leak is a leak, not luck.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

from smfa.errors import SmfaError

ATTRIBUTES: tuple[str, ...] = (
    "home_city",
    "street_address",
    "phone_number",
    "salary",
    "birth_date",
    "occupation",
    "medical_condition",
    "email",
)

ANSWER_TYPES: dict[str, str] = {
    "name": "name",
    "home_city": "city",
    "street_address": "address",
    "phone_number": "phone",
    "salary": "money",
    "birth_date": "date",
    "occupation": "occupation",
    "medical_condition": "condition",
    "email": "email",
}


def _words(text: str) -> tuple[str, ...]:
    """Word lists are written as one string: long lists stay readable."""
    return tuple(text.split())


FIRST_START = _words("Ma Ka Lo Be Da El Ri Ta No Si Ve Jo Ha Mi Fe Ga Lu Ar Or Ce Pa Wy Ys Ze")
FIRST_MID = ("", *_words("r l n m s v d th"))
FIRST_END = _words("en a on ia el ie o an is ette ina us er ley ric dan mir wen")
LAST_START = _words(
    "Hol Brad Cor Dun Fair Gar Hart Kel Lang Mar Nor Pem Quil Ros Stan Tam Wes Ash Bel Cal Dray Elm"
)
LAST_END = _words(
    "loway ford ton ley wick more dale stead ridge worth field by well man son hurst "
    "croft berg gate mond"
)
PLACE_START = _words(
    "Vel Ar Bram Cor Dra Es Fal Gil Hav Isl Kor Lum Mer Nor Ost Pel Quor Ral Sel Tor Ul Var Wen Yor"
)
PLACE_MID = ("", *_words("a e i o an en"))
PLACE_END = _words(
    "mora dell haven ford ria stead mouth ton vale wick bury more port shire gard holm ling rest"
)
STREET_WORDS = _words(
    "Maple Cedar Willow Harbor Mill Orchard Chapel Meadow Quarry Bridge Garden Station "
    "Spring Aspen Birch Copper Falcon Heron Juniper Lantern Marble Oak Pine Raven Silver "
    "Thistle Violet Walnut Acorn Beacon Clover Elder"
)
STREET_KINDS = _words("Street Road Lane Avenue Court Way Drive Place")
MONTHS = _words(
    "January February March April May June July August September October November December"
)
MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
JOB_LEVELS = ("", *_words("senior junior assistant chief lead"))
JOB_FIELDS = _words(
    "marine museum software hotel forest bridge textile harbor wind glass radio print "
    "coffee solar railway water stage garden cargo film"
)
JOB_ROLES = _words(
    "surveyor engineer curator inspector designer technician planner keeper analyst buyer "
    "mechanic clerk archivist pilot chemist"
)
CONDITION_GRADES = _words(
    "chronic mild acute recurrent seasonal severe persistent early moderate intermittent"
)
CONDITION_SITES = _words(
    "knee ankle wrist shoulder hip elbow sinus throat lung kidney skin neck spine jaw foot eye"
)
CONDITION_KINDS = _words(
    "inflammation pain infection weakness stiffness strain swelling tendinitis "
    "instability irritation"
)
CONDITION_SINGLE = _words(
    "migraine asthma eczema anemia insomnia tinnitus vertigo hypertension gastritis "
    "bronchitis arthritis dermatitis"
)
MAIL_HOSTS = _words("mail post box net link wire")
TLDS = _words("com net org io")


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _first(rng: np.random.Generator) -> str:
    return _pick(rng, FIRST_START) + _pick(rng, FIRST_MID) + _pick(rng, FIRST_END)


def _last(rng: np.random.Generator) -> str:
    return _pick(rng, LAST_START) + _pick(rng, LAST_END)


def _place(rng: np.random.Generator) -> str:
    return _pick(rng, PLACE_START) + _pick(rng, PLACE_MID) + _pick(rng, PLACE_END)


def name(rng: np.random.Generator) -> str:
    return f"{_first(rng)} {_last(rng)}"


def _address(rng: np.random.Generator) -> str:
    number = int(rng.integers(1, 10000))
    return f"{number} {_pick(rng, STREET_WORDS)} {_pick(rng, STREET_KINDS)}"


def _phone(rng: np.random.Generator) -> str:
    return f"{int(rng.integers(200, 1000)):03d}-{int(rng.integers(0, 10000)):04d}"


def _salary(rng: np.random.Generator) -> str:
    return f"${int(rng.integers(2800, 24001)) * 10:,}"


def _birth_date(rng: np.random.Generator) -> str:
    year = int(rng.integers(1950, 2005))
    month = int(rng.integers(12))
    leap = month == 1 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    day = int(rng.integers(1, MONTH_DAYS[month] + (2 if leap else 1)))
    return f"{day} {MONTHS[month]} {year}"


def _occupation(rng: np.random.Generator) -> str:
    words = (_pick(rng, JOB_LEVELS), _pick(rng, JOB_FIELDS), _pick(rng, JOB_ROLES))
    return " ".join(word for word in words if word)


def _condition(rng: np.random.Generator) -> str:
    if rng.uniform() < 0.1:
        return f"{_pick(rng, CONDITION_GRADES)} {_pick(rng, CONDITION_SINGLE)}"
    return (
        f"{_pick(rng, CONDITION_GRADES)} {_pick(rng, CONDITION_SITES)} "
        f"{_pick(rng, CONDITION_KINDS)}"
    )


def _email(rng: np.random.Generator) -> str:
    local = (_pick(rng, FIRST_START) + _pick(rng, FIRST_END)).lower()
    digits = int(rng.integers(10, 1000))
    host = (_pick(rng, PLACE_START) + _pick(rng, PLACE_MID)).lower() + _pick(rng, MAIL_HOSTS)
    return f"{local}{digits}@{host}.{_pick(rng, TLDS)}"


GENERATORS: dict[str, Callable[[np.random.Generator], str]] = {
    "name": name,
    "home_city": _place,
    "street_address": _address,
    "phone_number": _phone,
    "salary": _salary,
    "birth_date": _birth_date,
    "occupation": _occupation,
    "medical_condition": _condition,
    "email": _email,
}


def draw_values(
    attribute: str,
    count: int,
    rng: np.random.Generator,
    exclude: Collection[str] = (),
) -> list[str]:
    """`count` distinct values of one attribute, none of them in `exclude`."""
    generate = GENERATORS[attribute]
    taken = set(exclude)
    values: list[str] = []
    attempts = 0
    while len(values) < count:
        attempts += 1
        if attempts > 200 * (count + 10):
            raise SmfaError(
                f"ran out of distinct {attribute} values after {len(values)}; "
                "lower the number of people"
            )
        value = generate(rng)
        if value not in taken:
            taken.add(value)
            values.append(value)
    return values


def draw_people(count: int, rng: np.random.Generator) -> list[tuple[str, dict[str, str]]]:
    """Names and private attributes for `count` people, every value unique per attribute."""
    names = draw_values("name", count, rng)
    columns = {attribute: draw_values(attribute, count, rng) for attribute in ATTRIBUTES}
    return [
        (names[i], {attribute: columns[attribute][i] for attribute in ATTRIBUTES})
        for i in range(count)
    ]
