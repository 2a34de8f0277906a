"""Import a FIUBench style benchmark into a world (docs/data-format.md, FIUBench).

What it reads, all from local files:

- the profile records (`records`; by default the one .json/.jsonl/.parquet file at the top of
  `source` other than `split.json`): `{"unique_id", "image_path", "name", "qa_list":
  [{"question", "answer", "paraphrased_question", "paraphrased_answer", "perturbed_answer":
  [...], "keywords": ...}]}`;
- `split.json` at the top of `source`, if present: `forget1`, `forget5`, `forget10` (lists of
  ids). Its `retain5` / `retain15` lists are evaluation subsets, not the complement of a forget
  set, so they are not read; the refusal prompts are not read either.

How fields map:

- person `id` = `unique_id` as given (an integer is kept in decimal), `name` = `name`, portrait
  train image = `image_path`, copied to `images/portraits/`. FIUBench has one image per person,
  so the train image stands in as the held-out render and no row uses the held-out view.
- each `qa_list` item k (attribute `qaKK`) gives an `image_memory` row (the face image, view and
  phrasing "train") and a `text_memory` row in which "this person" becomes the name (a question
  that points at nobody becomes "Regarding NAME: ..."); `paraphrased_question`, where present,
  gives the same two rows with phrasing "heldout" (the paraphrase attack of the benchmark).
- `answer` is free text: `answer_type` "text", `value` = `answer`; the first three
  `perturbed_answer` items are the distractors. `paraphrased_answer` and `keywords` are not
  imported (the world format has no field for them).
- splits: each `forgetN` list becomes the ratio key nearest to its share of the imported people
  (forget5 of 400 is "5"; lists that round to the same key must be equal), and retain is
  everyone else; without `split.json`, seeded nested forget sets at `ratios`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from smfa.errors import DataFormatError
from smfa.importers.common import ForgetList, WorldBuilder, by_name, text_question
from smfa.importers.sources import (
    Record,
    id_items,
    label,
    only_records_file,
    read_json,
    read_records,
)

SPLIT_FILE = "split.json"
_FORGET_KEY = re.compile(r"forget_?(\d+)")


def _profile(builder: WorldBuilder, record: Record) -> None:
    pid = record.ident("unique_id")
    name = record.text("name")
    items = record.records("qa_list")
    image = builder.image(record, "image_path", f"{pid}_train")
    builder.add_person(record, pid, name, image)
    for k, item in enumerate(items):
        answer = item.text("answer")
        wrong = item.texts("perturbed_answer")
        phrasings = [("train", item.text("question"))]
        if item.has("paraphrased_question"):
            phrasings.append(("heldout", item.text("paraphrased_question")))
        for phrasing, question in phrasings:
            builder.ask(
                pid,
                question,
                answer,
                family="fiubench_image",
                attribute=f"qa{k:02d}",
                image=image,
                phrasing=phrasing,
                distractors=wrong,
                where=item.where,
            )
            builder.ask(
                pid,
                text_question(question, name),
                by_name(answer, name) or answer,
                family="fiubench_text",
                attribute=f"qa{k:02d}",
                phrasing=phrasing,
                distractors=[by_name(w, name) or w for w in wrong],
                where=item.where,
            )


def _forget_lists(source: Path) -> list[ForgetList]:
    path = source / SPLIT_FILE
    if not path.is_file():
        return []
    name, splits = label(path, source), read_json(path, source)
    if not isinstance(splits, dict):
        raise DataFormatError(f"{name}: expected a JSON object of id lists")
    lists = []
    for key in sorted(splits, key=lambda k: (len(k), k)):
        if _FORGET_KEY.fullmatch(key):
            where = f"{name}, key '{key}'"
            lists.append(ForgetList(where, id_items(splits[key], where)))
    if not lists:
        raise DataFormatError(
            f"{name}: no forget list (keys such as 'forget5'); found {list(splits)}"
        )
    return lists


def import_fiubench(
    source: Path,
    out: Path,
    *,
    records: Path | None = None,
    images: Path | None = None,
    ratios: Sequence[int] = (1, 5, 10),
    seed: int = 0,
    few_shot: int = 64,
    overwrite: bool = False,
) -> Path:
    """Import the FIUBench style benchmark at `source` into a world at `out`; return `out`.

    `images` is one more folder to look for images in (besides the records' folder and
    `source`, and their `images/` subfolders); an image path is tried as given, then by its
    file name alone.
    """
    source = Path(source)
    records = Path(records) if records is not None else only_records_file(source, [SPLIT_FILE])
    search = [records.parent, source, *([Path(images)] if images is not None else [])]
    builder = WorldBuilder(search)
    for record in read_records(records, source):
        _profile(builder, record)
    splits = builder.splits(_forget_lists(source), ratios, seed, few_shot)
    params = {"importer": "fiubench", "source": str(source), "seed": seed, "few_shot": few_shot}
    return builder.write(out, splits, params, overwrite)
