"""Import an MLLMU-Bench style benchmark into a world (public-layouts.md, "MLLMU-Bench").

What it reads, all from local files:

- fine-tuning records (`records`; by default the one .json/.jsonl/.parquet file at the top of
  `source`), one per person: `{"image_path": ".../252.jpg", "metadata": [{"ID": "252",
  "Question": ..., "Answer": ...}, ...]}`; an `ID` or `name` key on the record itself is used too;
- forget/retain id lists `forget_N/forget_ids.json` and `retain_{100-N}/retain_ids.json`
  (JSON arrays of ids) anywhere under `source`;
- optionally the evaluation records (`evaluation`: JSON, JSON lines or the hosted parquet):
  `ID`, `image` or `images`, `Classification_Task` (`Image_Textual_Questions`,
  `Pure_Text_Questions`: `{Question, Options{A..D}, Correct_Answer}`), `Generation_Task` and
  `Mask_Task` (`{Question, Ground_Truth, Type}`).

How fields map:

- person `id`: the metadata `ID` (the same in every item) or the record's `ID`, kept as given;
  id lists match it exactly or by number ("067" names "67").
- `name`: the record's `name`, else the name its name questions' answers state ("This person's
  name is Jane Doe.", "The individual in the image is Jane Doe."). A name question asks this
  person's own name however it is worded ("the person in the image", "this individual", "who
  is ..."), never a relative's or a pet's ("the name of this person's dog" is not one); an item
  whose answer says nothing but the name counts too. Name questions that give different names,
  or a `name` key that one of them contradicts, are errors; a person without a name is an error.
- portrait: `image_path` is the train image; the evaluation image, where there is one and its
  bytes differ, is the held-out image (otherwise the train image stands in for both).
- each metadata item k gives an `image_memory` row (train image, view and phrasing "train",
  attribute `qaKK`) and a `text_memory` row with "this person" replaced by the name (questions
  that point at nobody become "Regarding NAME: ..."). Name questions get no text row, since
  naming the person would give their answer away.
- evaluation items are `heldout`-phrasing rows (attributes `genKK`, `clozeKK`, `mc_imageKK`,
  `mc_textKK`): `Type` (or the classification list) decides image + text or text only; image
  rows show the evaluation image (view "heldout" when it differs from the train image).
- answers are free text: `answer_type` "text" and `value` = `answer` (the sentence, the cloze
  `Ground_Truth`, or the text of the correct option, whose other options are the distractors).
- splits: each forget list becomes the ratio key nearest to its share of the imported people
  (forget_5 of 500 people is "5"), with its paired retain list where there is one (ids in both
  are an error), else everyone else; without lists, seeded nested forget sets at `ratios`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from smfa.importers.common import (
    ForgetList,
    Record,
    WorldBuilder,
    by_name,
    label,
    only_records_file,
    read_id_list,
    read_records,
    text_question,
)

# The person pointed at, as MLLMU-Bench's profiles word it: "this person", "the individual in
# the image", "the man shown in this photo", ...
_SUBJECT = (
    r"(?:this|the|that)\s+(?:person|individual|man|woman|lady|gentleman|figure)"
    r"(?:\s+(?:(?:shown|pictured|depicted|seen|featured)\s+)?in\s+(?:the|this)\s+"
    r"(?:image|picture|photo(?:graph)?|portrait))?"
)
# A question asking for that person's own name (never a relative's or a pet's: "this person's
# father's name" and "the name of this person's dog" are not name questions).
_NAME_QUESTIONS = [
    re.compile(rf"\b{_SUBJECT}'s\s+(?:full\s+)?name\b", re.I),
    re.compile(rf"\bname\s+of\s+{_SUBJECT}\s*(?:\?|$|,|\bplease\b)", re.I),
    re.compile(
        rf"^\s*(?:(?:can|could)\s+you\s+(?:please\s+)?identify|identify|who\s+is|who's)\s+"
        rf"{_SUBJECT}\s*\??\s*$",
        re.I,
    ),
    re.compile(rf"\b(?:what\s+is|what's)\s+{_SUBJECT}\s+(?:called|named)\s*\??\s*$", re.I),
    re.compile(rf"\bwhat\s+(?:is|should\s+we\s+call)\s+{_SUBJECT}'s\s+name\b", re.I),
]
# In an answer to a name question: the name after a naming phrase, capitalized words only.
_PARTICLE = r"(?:de|del|la|van|von|der|da|di|le|bin|al)\b"
_NAME_WORD = rf"(?:[A-Z][\w'\-]*|{_PARTICLE})"
_NAME_WORDS = rf"({_NAME_WORD}(?:\s+{_NAME_WORD})*)"
_NAME_ANSWERS = [
    re.compile(rf"\b(?:name\s+is|named|called|known\s+as|goes\s+by)\s+{_NAME_WORDS}"),
    re.compile(rf"\b(?:is|was|'s)\s+{_NAME_WORDS}"),
    re.compile(rf"^\s*{_NAME_WORDS}\s*[.!]?\s*$"),
]
# Words an answer that only states a name may hold besides the name itself.
_NAMING_WORDS = frozenset(
    re.findall(
        r"\S+",
        "this that the a person person's individual individual's man woman lady gentleman in "
        "image picture photo photograph portrait shown pictured depicted seen is was name "
        "name's named called known as full his her their he she they it it's that's goes by of",
    )
)


def _is_name_question(question: str) -> bool:
    return any(pattern.search(question) for pattern in _NAME_QUESTIONS)


def _name_in(answer: str) -> str | None:
    """The name an answer to a name question states, or None."""
    for pattern in _NAME_ANSWERS:
        for match in pattern.finditer(answer):
            name = match.group(1).strip()
            words = name.split()
            if words and words[0][0].isupper() and words[-1][0].isupper():
                return name
    return None


def _only_names(answer: str, name: str) -> bool:
    """Whether `answer` says nothing but `name` ("This individual is Jane Doe.")."""
    if name.lower() not in answer.lower():
        return False
    rest = re.sub(re.escape(name), " ", answer, flags=re.I)
    words = re.findall(r"[a-z']+", rest.lower())
    return all(w in _NAMING_WORDS for w in words)


def _person_id(record: Record, items: list[Record]) -> str:
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


def _name(record: Record, items: list[Record]) -> tuple[str, set[int]]:
    """The person's name and the indices of the metadata items that ask for it.

    A name question is one worded as asking this person's own name (`_NAME_QUESTIONS`), or
    one whose answer says nothing but the person's name. Name questions that disagree, or a
    `name` key that none of their answers states, are errors, never a silent pick.
    """
    asked = {k for k, item in enumerate(items) if _is_name_question(item.text("Question"))}
    stated = {}
    for k in sorted(asked):
        found = _name_in(items[k].text("Answer"))
        if found is not None:
            stated[k] = found
    if record.has("name"):
        name = record.text("name").strip()
        for k, found in stated.items():
            if (
                found.lower() != name.lower()
                and name.lower() not in items[k].text("Answer").lower()
            ):
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
    asked |= {k for k, item in enumerate(items) if _only_names(item.text("Answer"), name)}
    return name, asked


def _fine_tune(builder: WorldBuilder, record: Record) -> None:
    items = record.records("metadata")
    pid = _person_id(record, items)
    name, name_items = _name(record, items)
    image = builder.image(record, "image_path", f"{pid}_train")
    builder.add_person(record, pid, name, image)
    for k, item in enumerate(items):
        question, answer = item.text("Question"), item.text("Answer")
        builder.ask(
            pid, question, answer, family="mllmu_image", attribute=f"qa{k:02d}", image=image
        )
        # Naming the person in the text form of a name question would give its answer away.
        if k not in name_items:
            builder.ask(
                pid,
                text_question(question, name),
                by_name(answer, name) or answer,
                family="mllmu_text",
                attribute=f"qa{k:02d}",
            )


def _is_image(item: Record) -> bool:
    kind = item.text("Type").lower()
    if "image" in kind or "multimodal" in kind:
        return True
    if "text" in kind:
        return False
    item.fail(f"key 'Type' is '{kind}'; expected an image+text or a text-only type")


def _option_answer(item: Record) -> tuple[str, list[str]]:
    options = item.raw("Options")
    if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
        item.fail("key 'Options' must be an object of strings such as {\"A\": ...}")
    letter = item.text("Correct_Answer")[:1].upper()
    if letter not in options:
        item.fail(f"key 'Correct_Answer' names option '{letter}', which 'Options' lacks")
    return options[letter], [v for k, v in options.items() if k != letter]


def _evaluation(builder: WorldBuilder, record: Record) -> None:
    raw = record.ident("ID")
    pid = builder.find(raw)
    if pid is None:
        record.fail(f"key 'ID': '{raw}' is not a person of the fine-tuning records")
    train = next(p["portrait"]["train"] for p in builder.people if p["id"] == pid)
    shown = train
    if record.has("image"):
        shown = builder.image(record, "image", f"{pid}_heldout")
    elif record.has("images"):
        renders = record.raw("images")
        if not isinstance(renders, list) or not renders:
            record.fail("key 'images' must be a non-empty list of images")
        shown = builder.image(record, "images", f"{pid}_heldout", renders[0])
    view = "train" if shown == train else "heldout"
    if view == "heldout":
        builder.set_heldout(pid, shown)
    common = {"phrasing": "heldout", "view": view}
    for task, prefix in (("Generation_Task", "gen"), ("Mask_Task", "cloze")):
        for k, item in enumerate(record.records(task) if record.has(task) else []):
            builder.ask(
                pid,
                item.text("Question"),
                item.text("Ground_Truth"),
                family=f"mllmu_{prefix}",
                attribute=f"{prefix}{k:02d}",
                image=shown if _is_image(item) else None,
                **common,
            )
    if record.has("Classification_Task"):
        tasks = Record(record.raw("Classification_Task"), f"{record.where}, Classification_Task")
        for key, prefix, image in (
            ("Image_Textual_Questions", "mc_image", shown),
            ("Pure_Text_Questions", "mc_text", None),
        ):
            for k, item in enumerate(tasks.records(key) if tasks.has(key) else []):
                answer, others = _option_answer(item)
                builder.ask(
                    pid,
                    item.text("Question"),
                    answer,
                    family=f"mllmu_{prefix}",
                    attribute=f"{prefix}{k:02d}",
                    image=image,
                    distractors=others,
                    **common,
                )


def _forget_lists(source: Path) -> list[ForgetList]:
    lists = []
    for path in sorted(source.rglob("forget_*/forget_ids.json")):
        share = path.parent.name.removeprefix("forget_")
        retain = None
        if share.isdigit():
            paired = path.parent.parent / f"retain_{100 - int(share)}" / "retain_ids.json"
            retain = read_id_list(paired, source) if paired.is_file() else None
        lists.append(ForgetList(label(path, source), read_id_list(path, source), retain))
    return lists


def import_mllmu(
    source: Path,
    out: Path,
    *,
    records: Path | None = None,
    evaluation: Path | None = None,
    images: Path | None = None,
    ratios: Sequence[int] = (5, 10, 15),
    seed: int = 0,
    few_shot: int = 64,
    overwrite: bool = False,
) -> Path:
    """Import the MLLMU-Bench style benchmark at `source` into a world at `out`; return `out`.

    `images` is one more folder to look for images in (besides the records' folder and
    `source`, and their `images/` subfolders); an image path is tried as given, then by its
    file name alone.
    """
    source = Path(source)
    records = Path(records) if records is not None else only_records_file(source)
    search = [records.parent, source, *([Path(images)] if images is not None else [])]
    builder = WorldBuilder(search, also=[Path(evaluation).parent] if evaluation else [])
    for record in read_records(records, source):
        _fine_tune(builder, record)
    if evaluation is not None:
        for record in read_records(Path(evaluation), source):
            _evaluation(builder, record)
    splits = builder.splits(_forget_lists(source), ratios, seed, few_shot)
    params = {"importer": "mllmu", "source": str(source), "seed": seed, "few_shot": few_shot}
    return builder.write(out, splits, params, overwrite)
