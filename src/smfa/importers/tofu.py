"""Import a TOFU style benchmark, with or without CLEAR face images, into a world.

The layouts are TOFU's and CLEAR's (docs/data-format.md). What it reads, all local:

- TOFU question rows (`qa`; by default `full.json`, `full.jsonl` or `full.parquet` in
  `source`): `{"question", "answer"}`, optionally `paraphrased_question`, `perturbed_answer`
  (list) and `paraphrased_answer`. TOFU has no author field: the rows come `per_author` (20) to
  an author, authors in order, so row i belongs to author i // per_author.
- `*_perturbed.json[l]` files in `source`: their variant keys are attached to the `qa` row with
  the same question (a question found in no `qa` row is an error).
- `forgetNN.json[l]` files in `source` (forget01, forget05, forget10): rows of `qa`, matched by
  question; their authors are the forget set. The `retainNN` files are the complement and are
  not read.
- CLEAR rows (`captions`, JSON, JSON lines or the hosted parquet): `image` (a path, or an
  object with `bytes`), `caption`, `name`, optionally `question`, `answer`,
  `perturbed_captions`, `perturbed_names` (`paraphrased_caption` is not imported).

How fields map:

- people: TOFU authors get ids `author001`, ... in order. A CLEAR `name` joins the author one of
  whose rows has the same question as its `question`, else the unnamed author whose questions
  and answers mention the name most often, else becomes a new person (a new id in the same
  series). Authors without a CLEAR name are called "TOFU author N".
- TOFU gives no images: those authors' portrait is one plain grey placeholder picture, which no
  question shows (people.jsonl requires a portrait). A CLEAR person's first image is the
  portrait (it also stands in as the held-out render; no row uses the held-out view).
- each TOFU row k of an author is a `text_memory` row (attribute `qaKK`, phrasing "train"), its
  `paraphrased_question` another with phrasing "heldout"; the first three `perturbed_answer`
  items are the distractors. CLEAR questions that match no TOFU row add `clear_qaKK` rows.
- each CLEAR image k is an `image_memory` row "What does this picture show?" answered by its
  caption (attribute `captionKK`, distractors `perturbed_captions`), and each CLEAR person gets
  one "What is the name of the person in this picture?" row on the portrait, answered by the
  name (`answer_type` "name", distractors `perturbed_names`). Other answers are free text:
  `answer_type` "text", `value` = `answer`.
- splits: each forgetNN file becomes the ratio key nearest to its authors' share of all people
  (forget01 of 200 authors is "1"), retain is everyone else; without forget files, seeded
  nested forget sets at `ratios`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from smfa.errors import SmfaError
from smfa.importers.common import ForgetList, WorldBuilder
from smfa.importers.sources import RECORD_SUFFIXES, Record, find_file, label, read_records

_FORGET_FILE = re.compile(r"forget(\d+)")
CAPTION_QUESTION = "What does this picture show?"
NAME_QUESTION = "What is the name of the person in this picture?"


def _files(source: Path, pattern: re.Pattern[str]) -> list[Path]:
    return sorted(
        p
        for p in source.iterdir()
        if p.is_file() and p.suffix.lower() in RECORD_SUFFIXES and pattern.fullmatch(p.stem)
    )


def _by_question(rows: list[Record]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, row in enumerate(rows):
        out.setdefault(row.text("question"), i)
    return out


def _matched(rows: list[Record], index: dict[str, int], what: str) -> list[tuple[int, Record]]:
    out = []
    for row in rows:
        i = index.get(row.text("question"))
        if i is None:
            row.fail(f"key 'question' matches no question of {what}")
        out.append((i, row))
    return out


def _names_for(
    clear: dict[str, list[Record]], qa: list[Record], index: dict[str, int], per_author: int
) -> dict[str, int | None]:
    """Which TOFU author (by number) each CLEAR name is, or None for a new person."""
    named: dict[int, str] = {}
    found: dict[str, int | None] = {}
    for name, rows in clear.items():
        for row in rows:
            i = index.get(row.text("question")) if row.has("question") else None
            if i is None:
                continue  # a CLEAR question of its own, imported as a clear_qa row
            author = i // per_author
            if named.setdefault(author, name) != name:
                row.fail(f"name '{name}' is author {author + 1}, already named '{named[author]}'")
            found[name] = author
    authors = len(qa) // per_author
    texts = [
        " ".join(
            f"{r.text('question')} {r.text('answer')}" for r in qa[a * per_author :][:per_author]
        )
        for a in range(authors)
    ]
    for name in clear:
        if name in found:
            continue
        counts = [0 if a in named else texts[a].lower().count(name.lower()) for a in range(authors)]
        best = max(range(authors), key=lambda a: counts[a], default=None)
        found[name] = best if best is not None and counts[best] > 0 else None
        if best is not None and counts[best] > 0:
            named[best] = name
    return found


def _variants(
    source: Path, rows: list[Record], index: dict[str, int], name: str
) -> dict[int, Record]:
    """The `*_perturbed` rows, by the index of the `qa` row with the same question."""
    if not rows:
        return {}
    pattern = re.compile(r".+_perturbed")
    return {
        i: r
        for p in _files(source, pattern)
        for i, r in _matched(read_records(p, source), index, name)
    }


def _people(
    builder: WorldBuilder,
    rows: list[Record],
    clear: dict[str, list[Record]],
    authors: dict[str, int | None],
    per_author: int,
) -> tuple[list[str], dict[str, str]]:
    """Add every person; return the TOFU authors' ids and each CLEAR name's id."""
    count = len(rows) // per_author
    ids = [f"author{n + 1:03d}" for n in range(count)]
    names = {a: name for name, a in authors.items() if a is not None}
    people: dict[str, str] = {}
    for a, pid in enumerate(ids):
        if a in names:
            first = clear[names[a]][0]
            builder.add_person(first, pid, names[a], builder.image(first, "image", f"{pid}_train"))
            people[names[a]] = pid
        else:
            builder.add_person(
                rows[a * per_author], pid, f"TOFU author {a + 1}", builder.placeholder()
            )
    for name, a in authors.items():
        if a is None:
            pid, first = f"author{len(builder.people) + 1:03d}", clear[name][0]
            builder.add_person(first, pid, name, builder.image(first, "image", f"{pid}_train"))
            people[name] = pid
    return ids, people


def _tofu_questions(
    builder: WorldBuilder,
    rows: list[Record],
    variants: dict[int, Record],
    ids: list[str],
    per_author: int,
) -> None:
    for i, row in enumerate(rows):
        pid, k = ids[i // per_author], i % per_author
        extra = variants.get(i, row)
        wrong = row.texts("perturbed_answer") or extra.texts("perturbed_answer")
        phrasings = [("train", row.text("question"))]
        para = row if row.has("paraphrased_question") else extra
        if para.has("paraphrased_question"):
            phrasings.append(("heldout", para.text("paraphrased_question")))
        for phrasing, question in phrasings:
            builder.ask(
                pid,
                question,
                row.text("answer"),
                family="tofu",
                attribute=f"qa{k:02d}",
                phrasing=phrasing,
                distractors=wrong,
                where=row.where,
            )


def _clear_questions(
    builder: WorldBuilder,
    clear: dict[str, list[Record]],
    people: dict[str, str],
    index: dict[str, int],
) -> None:
    for name, group in clear.items():
        pid = people[name]
        portrait = builder.image(group[0], "image", f"{pid}_train")
        wrong = next((r.texts("perturbed_names") for r in group if r.has("perturbed_names")), [])
        builder.ask(
            pid,
            NAME_QUESTION,
            name,
            family="clear_name",
            attribute="name",
            image=portrait,
            answer_type="name",
            distractors=wrong,
            where=group[0].where,
        )
        asked: list[str] = []
        for k, row in enumerate(group):
            builder.ask(
                pid,
                CAPTION_QUESTION,
                row.text("caption"),
                family="clear_caption",
                attribute=f"caption{k:02d}",
                image=builder.image(row, "image", f"{pid}_{k:02d}"),
                distractors=row.texts("perturbed_captions"),
                where=row.where,
            )
            question = row.text("question") if row.has("question") else None
            if question is not None and question not in index and question not in asked:
                asked.append(question)
                builder.ask(
                    pid,
                    question,
                    row.text("answer"),
                    family="clear_qa",
                    attribute=f"clear_qa{len(asked) - 1:02d}",
                    where=row.where,
                )


def import_tofu(
    source: Path,
    out: Path,
    *,
    qa: Path | None = None,
    captions: Path | None = None,
    per_author: int = 20,
    images: Path | None = None,
    ratios: Sequence[int] = (1, 5, 10),
    seed: int = 0,
    few_shot: int = 64,
    overwrite: bool = False,
) -> Path:
    """Import the TOFU (and, with `captions`, CLEAR) benchmark at `source` into `out`.

    Without `captions` every person is text only; without a `qa` file (and no `full.*` in
    `source`) the CLEAR rows alone make the world. `images` is one more folder to look for
    CLEAR image paths in (besides `source`, the captions' folder and their `images/`).
    """
    source = Path(source)
    qa = Path(qa) if qa is not None else find_file(source, "full")
    if qa is None and captions is None:
        raise SmfaError(f"{source}: no full.json, full.jsonl or full.parquet, and no captions")
    if per_author < 1:
        raise SmfaError(f"per_author must be at least 1, got {per_author}")
    rows = read_records(qa, source) if qa is not None else []
    qa_name = label(qa, source) if qa is not None else ""
    if len(rows) % per_author:
        raise SmfaError(f"{qa_name}: {len(rows)} rows are not {per_author} per author")
    index = _by_question(rows)
    clear: dict[str, list[Record]] = {}
    if captions is not None:
        for row in read_records(Path(captions), source):
            clear.setdefault(row.text("name"), []).append(row)
    search = [source, *([Path(captions).parent] if captions else [])]
    builder = WorldBuilder([*search, *([Path(images)] if images else [])])
    authors = _names_for(clear, rows, index, per_author)
    ids, people = _people(builder, rows, clear, authors, per_author)
    _tofu_questions(builder, rows, _variants(source, rows, index, qa_name), ids, per_author)
    _clear_questions(builder, clear, people, index)
    lists = []
    for path in _files(source, _FORGET_FILE) if rows else []:
        matched = _matched(read_records(path, source), index, qa_name)
        forgotten = [(ids[i // per_author], r.where) for i, r in matched]
        lists.append(ForgetList(label(path, source), forgotten))
    splits = builder.splits(lists, ratios, seed, few_shot)
    params = {
        "importer": "tofu",
        "source": str(source),
        "captions": None if captions is None else str(captions),
        "per_author": per_author,
        "seed": seed,
        "few_shot": few_shot,
    }
    return builder.write(out, splits, params, overwrite)
