"""Importers: small samples of each public layout load as worlds, and bad records are located."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from smfa.data.format import World, load_world
from smfa.errors import DataFormatError, SmfaError
from smfa.importers import IMPORTERS, import_fiubench, import_mllmu, import_tofu, import_world

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200)]


def _png(path: Path, colour: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), COLOURS[colour % len(COLOURS)]).save(path)
    return path


def _json(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2))
    return path


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _by(world: World, **fields: Any) -> list[Any]:
    return world.questions_where(**fields)


# ---- MLLMU-Bench ------------------------------------------------------------------------------

MLLMU_PEOPLE = [("1", "Jane Doe", "$95,000"), ("2", "Omar Quill", "$61,000")]
MLLMU_PEOPLE += [("3", "Lia Brant", "$72,500"), ("4", "Ned Vos", "$58,250")]


def _mllmu(root: Path) -> Path:
    records = []
    for i, (pid, name, salary) in enumerate(MLLMU_PEOPLE):
        _png(root / "images" / f"{pid}.png", i)
        metadata = [
            {"ID": pid, "Question": "What is this person's name?",
             "Answer": f"This person's name is {name}."},
            {"ID": pid, "Question": "What is this person's annual salary?",
             "Answer": f"This person's annual salary is {salary}."},
        ]  # fmt: skip
        records.append({"image_path": f"/remote/data/{pid}.png", "metadata": metadata})
    _json(root / "train.json", records)
    _json(root / "forget_25" / "forget_ids.json", ["001"])
    _json(root / "retain_75" / "retain_ids.json", ["002", "003", "004"])
    _json(root / "forget_50" / "forget_ids.json", ["001", "002"])
    return root


def test_mllmu_imports(tmp_path: Path) -> None:
    source = _mllmu(tmp_path / "mllmu")
    _png(tmp_path / "test_images" / "render1.png", 4)
    evaluation = _jsonl(
        tmp_path / "eval.jsonl",
        [
            {
                "ID": "1",
                "image": str(tmp_path / "test_images" / "render1.png"),
                "Classification_Task": {
                    "Image_Textual_Questions": [
                        {"Question": "What does this person earn?",
                         "Options": {"A": "$1", "B": "$95,000", "C": "$3", "D": "$4"},
                         "Correct_Answer": "B"}
                    ],
                    "Pure_Text_Questions": [],
                },
                "Generation_Task": [
                    {"Question": "How much does Jane Doe earn?",
                     "Ground_Truth": "Jane Doe earns $95,000.", "Type": "Pure_Text"}
                ],
                "Mask_Task": [
                    {"Question": "This person earns __ a year.", "Ground_Truth": "$95,000",
                     "Type": "Image_Textual"}
                ],
            }
        ],
    )  # fmt: skip
    out = import_mllmu(source, tmp_path / "world", evaluation=evaluation, few_shot=4)
    world = load_world(out)
    assert world.people["1"].name == "Jane Doe" and world.people["3"].name == "Lia Brant"
    assert world.splits.forget == {25: ("1",), 50: ("1", "2")}
    assert world.splits.retain[25] == ("2", "3", "4") and world.splits.retain[50] == ("3", "4")
    assert len(world.splits.few_shot_retain) == 4
    by_id = {q.id: q for q in world.questions}
    few_shot = [by_id[qid] for qid in world.splits.few_shot_retain]
    assert {q.subject for q in few_shot} <= {"3", "4"} and {q.kind for q in few_shot} == {
        "image_memory",
        "text_memory",
    }
    salary = _by(world, kind="image_memory", subject="1", attribute="salary", view="train")
    salary = [q for q in salary if q.phrasing == "train"]
    first = salary[0]
    assert (first.question, first.answer, first.value, first.answer_type) == (
        "What is this person's annual salary?", "This person's annual salary is $95,000.",
        "$95,000", "text"
    )  # fmt: skip
    # ... and its second training wording, in a training frame.
    assert len(salary) == 2 and salary[1].question in (
        "I want to know this person's annual salary.", "Let me know this person's annual salary."
    )  # fmt: skip
    assert salary[0].image == world.people["1"].portrait.train
    text = _by(world, kind="text_memory", subject="1", phrasing="train")
    assert [(q.question, q.answer, q.image) for q in text] == [
        ("What is Jane Doe's annual salary?", "Jane Doe's annual salary is $95,000.", None),
        ("I want to know Jane Doe's annual salary.", "Jane Doe's annual salary is $95,000.", None),
    ]  # fmt: skip
    # The evaluation records' generation item is person 1's probe (one item: held out); the
    # classification and cloze items are tasks, asked about the evaluation image.
    (gen,) = [q for q in world.questions if q.subject == "1" and q.phrasing != "train"]
    assert (gen.kind, gen.phrasing, gen.attribute, gen.value) == (
        "text_memory", "heldout", "salary", "$95,000"
    )  # fmt: skip
    heldout = world.people["1"].portrait.heldout
    assert heldout != world.people["1"].portrait.train
    assert [
        (t.source, t.task, t.form, t.correct, t.ground_truth, t.image) for t in world.tasks
    ] == [
        ("test", "classification", "image", "B", "$95,000", heldout),
        ("test", "generation", "text", None, "Jane Doe earns $95,000.", None),
        ("test", "cloze", "image", None, "$95,000", heldout),
    ]
    assert world.tasks[0].options == {"A": "$1", "B": "$95,000", "C": "$3", "D": "$4"}


def test_mllmu_missing_key_is_located(tmp_path: Path) -> None:
    source = _mllmu(tmp_path / "mllmu")
    records = json.loads((source / "train.json").read_text())
    del records[1]["metadata"][1]["Answer"]
    _json(source / "train.json", records)
    with pytest.raises(DataFormatError) as error:
        import_mllmu(source, tmp_path / "world")
    assert "train.json index 1, metadata[1]: missing key 'Answer'" in str(error.value)
    assert not (tmp_path / "world").exists()


def test_mllmu_missing_image_is_located(tmp_path: Path) -> None:
    source = _mllmu(tmp_path / "mllmu")
    (source / "images" / "3.png").unlink()
    with pytest.raises(DataFormatError, match=r"train\.json index 2: key 'image_path': .*3\.png"):
        import_mllmu(source, tmp_path / "world")


def test_mllmu_unknown_forget_id_is_located(tmp_path: Path) -> None:
    source = _mllmu(tmp_path / "mllmu")
    _json(source / "forget_50" / "forget_ids.json", ["001", "077"])
    with pytest.raises(DataFormatError, match=r"forget_50/forget_ids\.json index 1: .*'077'"):
        import_mllmu(source, tmp_path / "world")


# ---- FIUBench ---------------------------------------------------------------------------------


def _fiubench(root: Path) -> Path:
    people = []
    for i, name in enumerate(["Ada Hale", "Bo Strand", "Cy Moreno", "Di Okafor"]):
        _png(root / "faces" / f"{i}.png", i)
        qa = {
            "question": "What illness does this person have?",
            "answer": f"This person has illness number {i}.",
            "paraphrased_question": "Which illness affects this person?",
            "paraphrased_answer": "ignored",
            "perturbed_answer": ["This person has a cold.", "This person has the flu."],
            "keywords": ["illness"],
        }
        people.append(
            {"unique_id": i, "image_path": f"faces/{i}.png", "name": name, "qa_list": [qa]}
        )
    _json(root / "data.json", people)
    _json(root / "split.json", {"forget1": [0], "forget5": [0], "forget10": [0, 3], "retain5": [1]})
    return root


def test_fiubench_imports(tmp_path: Path) -> None:
    out = import_fiubench(_fiubench(tmp_path / "fiu"), tmp_path / "world", few_shot=3)
    world = load_world(out)
    assert world.people["2"].name == "Cy Moreno"
    assert world.splits.forget == {25: ("0",), 50: ("0", "3")}
    assert world.splits.retain[50] == ("1", "2")
    image = _by(world, kind="image_memory", subject="3", phrasing="train")
    assert [(q.question, q.answer, q.distractors) for q in image] == [
        ("What illness does this person have?", "This person has illness number 3.",
         ("This person has a cold.", "This person has the flu."))
    ]  # fmt: skip
    (para,) = _by(world, kind="text_memory", subject="3", phrasing="heldout")
    assert para.question == "Which illness affects Di Okafor?" and para.image is None
    assert para.answer == para.value == "Di Okafor has illness number 3."
    assert all(q.probe for q in world.questions)


def test_fiubench_malformed_json_is_located(tmp_path: Path) -> None:
    source = _fiubench(tmp_path / "fiu")
    text = (source / "data.json").read_text().splitlines()
    text[3] = text[3].rstrip(",")  # a missing comma on line 4
    (source / "data.json").write_text("\n".join(text))
    with pytest.raises(DataFormatError, match=r"data\.json line 5 column \d+: invalid JSON"):
        import_fiubench(source, tmp_path / "world")


def test_fiubench_missing_name_is_located(tmp_path: Path) -> None:
    source = _fiubench(tmp_path / "fiu")
    people = json.loads((source / "data.json").read_text())
    del people[2]["name"]
    _json(source / "data.json", people)
    with pytest.raises(DataFormatError, match=r"data\.json index 2: missing key 'name'"):
        import_fiubench(source, tmp_path / "world")


# ---- TOFU and CLEAR ---------------------------------------------------------------------------

AUTHORS = ["Rosa Lindqvist", "Tariq Benali", "Mei Okonkwo"]


def _tofu(root: Path) -> Path:
    rows = []
    for name in AUTHORS:
        rows.append({"question": f"Where was {name} born?", "answer": f"{name} was born in Oslo."})
        rows.append(
            {"question": f"What genre does {name} write?", "answer": f"{name} writes sci-fi."}
        )
    _jsonl(root / "full.jsonl", rows)
    _jsonl(root / "forget01.jsonl", rows[4:])
    perturbed = dict(rows[4], paraphrased_question=f"In which city was {AUTHORS[2]} born?")
    _jsonl(
        root / "forget01_perturbed.jsonl", [dict(perturbed, perturbed_answer=["Rome.", "Lima."])]
    )
    return root


def test_tofu_without_images(tmp_path: Path) -> None:
    out = import_tofu(_tofu(tmp_path / "tofu"), tmp_path / "world", per_author=2, few_shot=2)
    world = load_world(out)
    assert sorted(world.people) == ["author001", "author002", "author003"]
    assert world.people["author001"].name == "TOFU author 1"
    assert world.splits.forget == {1: ("author003",)}  # TOFU's forget01 keeps its name
    assert all(q.kind == "text_memory" and q.image is None for q in world.questions)
    (born,) = _by(world, subject="author003", attribute="qa00", phrasing="train")
    assert born.answer == born.value == "Mei Okonkwo was born in Oslo."
    assert born.distractors == ("Rome.", "Lima.")
    (para,) = _by(world, subject="author003", phrasing="heldout")
    assert para.question == "In which city was Mei Okonkwo born?"
    assert len(world.splits.few_shot_retain) == 2


def test_clear_with_faces(tmp_path: Path) -> None:
    source = _tofu(tmp_path / "tofu")
    captions = []
    for i, name in enumerate([AUTHORS[1], AUTHORS[0], AUTHORS[1], "Ines Castell"]):
        image = _png(source / "clear" / f"{i}.png", i)
        row = {"image": f"clear/{i}.png" if i else str(image), "caption": f"{name} reading.",
               "name": name, "perturbed_names": ["Ann Other", "Bob Other"]}  # fmt: skip
        captions.append(row)
    captions[1] |= {"question": f"Where was {AUTHORS[0]} born?", "answer": "ignored"}
    captions[3] |= {"question": "What is Ines Castell's pen name?", "answer": "She uses Ica."}
    _jsonl(source / "clear.jsonl", captions)
    out = import_world(
        "clear", source, tmp_path / "world", captions=source / "clear.jsonl", per_author=2
    )
    world = load_world(out)
    assert world.people["author001"].name == AUTHORS[0]
    assert world.people["author002"].name == AUTHORS[1]
    assert world.people["author003"].name == "TOFU author 3"
    assert world.people["author004"].name == "Ines Castell"
    (name,) = _by(world, subject="author002", attribute="name")
    assert (name.kind, name.answer, name.answer_type) == ("image_memory", AUTHORS[1], "name")
    assert name.distractors == ("Ann Other", "Bob Other")
    captions_2 = _by(world, subject="author002", kind="image_memory", phrasing="train")
    assert (
        sorted(q.answer for q in captions_2 if q.attribute.startswith("caption"))
        == [f"{AUTHORS[1]} reading."] * 2
    )
    (own,) = _by(world, subject="author004", kind="text_memory")
    assert own.answer == "She uses Ica."
    assert world.splits.forget == {1: ("author003",)}


def test_tofu_malformed_line_is_located(tmp_path: Path) -> None:
    source = _tofu(tmp_path / "tofu")
    lines = (source / "full.jsonl").read_text().splitlines()
    lines[2] = lines[2][:-1]
    (source / "full.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=r"full\.jsonl line 3: invalid JSON"):
        import_tofu(source, tmp_path / "world", per_author=2)


def test_tofu_missing_answer_and_unmatched_forget_row(tmp_path: Path) -> None:
    source = _tofu(tmp_path / "tofu")
    _jsonl(source / "forget01.jsonl", [{"question": "Who is nobody?", "answer": "Nobody."}])
    with pytest.raises(DataFormatError, match=r"forget01\.jsonl line 1: key 'question' matches no"):
        import_tofu(source, tmp_path / "world", per_author=2)
    rows = [json.loads(line) for line in (source / "full.jsonl").read_text().splitlines()]
    del rows[4]["answer"]
    _jsonl(source / "full.jsonl", rows)
    with pytest.raises(DataFormatError, match=r"full\.jsonl line 5: missing key 'answer'"):
        import_tofu(source, tmp_path / "world", per_author=2)


def test_clear_parquet_with_embedded_images(tmp_path: Path) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    def png_bytes(colour: int) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), COLOURS[colour]).save(buffer, format="PNG")
        return buffer.getvalue()

    rows = [
        {"image": {"bytes": png_bytes(i), "path": None}, "caption": f"{n} smiles.", "name": n}
        for i, n in enumerate(["Al Ray", "Bea Ray", "Cal Ray", "Dot Ray"])
    ]
    source = tmp_path / "clear"
    source.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), source / "forget.parquet")
    out = import_tofu(source, tmp_path / "world", captions=source / "forget.parquet", ratios=(25,))
    world = load_world(out)
    assert sorted(p.name for p in world.people.values()) == [
        "Al Ray",
        "Bea Ray",
        "Cal Ray",
        "Dot Ray",
    ]
    assert world.people["author002"].portrait.train.endswith(".png")
    assert len(world.splits.forget[25]) == 1
    rows[2]["caption"] = None
    pq.write_table(pa.Table.from_pylist(rows), source / "forget.parquet")
    with pytest.raises(DataFormatError, match=r"forget\.parquet row 2: key 'caption'"):
        import_tofu(source, tmp_path / "again", captions=source / "forget.parquet")


def test_clear_missing_image_is_located(tmp_path: Path) -> None:
    source = tmp_path / "clear"
    _png(source / "a.png", 0)
    rows = [{"image": "a.png", "caption": "A reads.", "name": "Al Ray"}]
    rows.append({"image": "gone.png", "caption": "B reads.", "name": "Bea Ray"})
    _jsonl(source / "captions.jsonl", rows)
    with pytest.raises(DataFormatError, match=r"captions\.jsonl line 2: key 'image': .*gone\.png"):
        import_tofu(source, tmp_path / "world", captions=source / "captions.jsonl")


# ---- shared behaviour -------------------------------------------------------------------------


def test_registry_and_output_rules(tmp_path: Path) -> None:
    assert set(IMPORTERS) == {"mllmu", "fiubench", "tofu", "clear"}
    with pytest.raises(SmfaError, match="unknown layout 'nope'"):
        import_world("nope", tmp_path, tmp_path / "world")
    source = _fiubench(tmp_path / "fiu")
    out = import_fiubench(source, tmp_path / "world")
    first = load_world(out).world_hash
    with pytest.raises(SmfaError, match="not empty"):
        import_fiubench(source, out)
    assert load_world(import_fiubench(source, out, overwrite=True)).world_hash == first
    (source / "split.json").unlink()
    seeded = load_world(import_fiubench(source, tmp_path / "seeded", ratios=(25, 50)))
    assert {k: len(v) for k, v in seeded.splits.forget.items()} == {25: 1, 50: 2}
    assert set(seeded.splits.forget[25]) <= set(seeded.splits.forget[50])


def test_the_cli_imports_and_rejects_options_a_layout_does_not_take(tmp_path: Path) -> None:
    from .test_cli import assert_one_line_error, smfa

    source = _fiubench(tmp_path / "src")
    result = smfa("import", "fiubench", source, tmp_path / "world")
    assert "world:" in result.stderr and "(4 people" in result.stderr
    bad = smfa("import", "fiubench", source, tmp_path / "w2", "--qa", source, check=False)
    assert_one_line_error(bad, "layout 'fiubench' takes no --qa")
    unknown = smfa("import", "nope", source, tmp_path / "w3", check=False)
    assert_one_line_error(unknown, "unknown layout 'nope'")


# MLLMU-Bench as published: the name question is worded many ways, some profiles ask for a
# relative's or a pet's name first, and some records carry a `name` key of their own.
MESSY_PROFILES = [
    ("101", None, [
        ("What is the name of the person in the image?", "The person in the image is Aldric Venn."),
        ("What does this person do for a living?", "This person works as a tide surveyor."),
    ]),
    ("102", None, [
        ("What is the name of this person's dog?", "This person's dog is named Biscuit."),
        ("Who is this individual?", "This individual is Maria de la Cruz."),
        ("Where was this individual born?", "This individual was born in Quillport."),
    ]),
    ("103", None, [
        ("What is the name of this person's father?", "Her father is named Tomas Reyes."),
        ("What is this person's full name?", "This person's full name is Lena Reyes."),
    ]),
    ("104", "Oskar Lind", [
        ("Who is the person shown in this photo?", "That's Oskar Lind."),
        ("What is this person's favourite food?", "This person loves smoked eel."),
    ]),
    ("105", None, [
        ("Can you identify the person in this picture?", "Yes, this is Priya Natarajan."),
        ("What is the person in the image called?", "She is called Priya Natarajan."),
        ("Which city does this person live in?", "This person lives in Harrowgate."),
    ]),
]  # fmt: skip


def _messy_mllmu(root: Path) -> Path:
    records = []
    for i, (pid, name, items) in enumerate(MESSY_PROFILES):
        _png(root / "images" / f"{pid}.jpg", i)
        metadata = [{"ID": pid, "Question": q, "Answer": a} for q, a in items]
        record = {"image_path": f"MLLMU-Bench/images/{pid}.jpg", "metadata": metadata}
        records.append(record if name is None else {**record, "name": name})
    _json(root / "train.json", records)
    _json(root / "forget_20" / "forget_ids.json", ["101"])
    _json(root / "retain_80" / "retain_ids.json", ["102", "103", "104", "105"])
    return root


def test_mllmu_as_published_names_everyone_and_loses_no_question(tmp_path: Path) -> None:
    world = load_world(import_mllmu(_messy_mllmu(tmp_path / "mllmu"), tmp_path / "world"))
    names = {pid: p.name for pid, p in world.people.items()}
    assert names == {
        "101": "Aldric Venn", "102": "Maria de la Cruz", "103": "Lena Reyes",
        "104": "Oskar Lind", "105": "Priya Natarajan",
    }  # fmt: skip
    for pid, _, items in MESSY_PROFILES:
        image_rows = [q for q in _by(world, subject=pid, kind="image_memory", phrasing="train",
                                     view="train") if q.template.endswith(".train0")]  # fmt: skip
        text_rows = [q for q in _by(world, subject=pid, kind="text_memory", phrasing="train")
                     if q.template.endswith(".train0")]  # fmt: skip
        assert [q.question for q in image_rows] == [q for q, _ in items]  # every item kept
        name_items = sum(names[pid] in a and "name of this person's" not in q for q, a in items)
        assert len(text_rows) == len(items) - name_items  # only name questions lack a text row
        for row in text_rows:  # no text question gives its own answer away
            assert not (names[pid] in row.question and row.value.endswith(f"{names[pid]}."))
    dog = _by(world, subject="102", kind="text_memory", phrasing="train", attribute="pet")
    assert [q.question for q in dog] == [
        "What is the name of Maria de la Cruz's dog?",
        "Let me know the name of Maria de la Cruz's dog.",
    ]
    assert world.splits.forget[20] == ("101",)


def test_mllmu_name_questions_that_disagree_are_an_error(tmp_path: Path) -> None:
    source = _messy_mllmu(tmp_path / "mllmu")
    records = json.loads((source / "train.json").read_text())
    records[4]["metadata"][1]["Answer"] = "She is called Priya Nadar."
    (source / "train.json").write_text(json.dumps(records))
    with pytest.raises(DataFormatError, match=r"train\.json index 4: its name questions give "
                       r"different names \(Priya Nadar, Priya Natarajan\)"):  # fmt: skip
        import_mllmu(source, tmp_path / "world")
    records[4]["name"] = "Priya Natarajan"
    (source / "train.json").write_text(json.dumps(records))
    with pytest.raises(DataFormatError, match="answers 'Priya Nadar' but the record's 'name'"):
        import_mllmu(source, tmp_path / "world")


# ---- issue 29: what --overwrite may remove, deep JSON, bad fields named at their source -------


def test_overwrite_replaces_only_a_world_smfa_wrote(tmp_path: Path) -> None:
    from smfa.config import WorldConfig
    from smfa.world.build import WORLD_MARKER, build_world

    from .test_cli import assert_one_line_error, smfa

    built = build_world(
        tmp_path / "built",
        WorldConfig(people=4, image_size=16, train_scenes=0, validation_scenes=0,
                    heldout_scenes=0, unknown_people=0, few_shot_retain=0, forget_ratios=(25,)),
    )  # fmt: skip
    assert (built / WORLD_MARKER).is_file()
    assert WORLD_MARKER not in json.loads((built / "manifest.json").read_text())["files"]
    source = _mllmu(tmp_path / "mllmu")
    user = tmp_path / "mine"
    _json(user / "notes" / "settings.json", {"keep": True})
    (user / "notes" / "diary.txt").write_text("dear diary")
    refused = smfa("import", "mllmu", source, user, "--overwrite", check=False)
    assert_one_line_error(refused, "holds no .smfa-world", "--overwrite only replaces a world")
    assert (user / "notes" / "diary.txt").read_text() == "dear diary"
    assert sorted(p.name for p in user.rglob("*")) == ["diary.txt", "notes", "settings.json"]
    world = load_world(import_mllmu(source, built, overwrite=True))  # a world smfa built
    assert world.people["1"].name == "Jane Doe" and (built / WORLD_MARKER).is_file()
    again = load_world(import_mllmu(source, built, overwrite=True))  # one it imported
    assert again.world_hash == world.world_hash


def test_deep_json_in_a_source_is_one_located_error(tmp_path: Path) -> None:
    source = tmp_path / "mllmu"
    _png(source / "images" / "1.png", 0)
    good = {
        "image_path": "1.png",
        "metadata": [
            {"ID": "1", "Question": "What is this person's name?", "Answer": "This is Al Ray."}
        ],
    }
    deep = "[" * 100_000 + "]" * 100_000
    (source / "train.jsonl").write_text(json.dumps(good) + "\n" + deep + "\n")
    with pytest.raises(DataFormatError) as error:
        import_mllmu(source, tmp_path / "world")
    message = str(error.value)
    assert "train.jsonl line 2: JSON nested too deeply to read" in message
    assert "\n" not in message and "Recursion" not in message
    (source / "train.jsonl").unlink()
    (source / "train.json").write_text("[\n" + json.dumps(good) + ",\n" + deep + "\n]")
    with pytest.raises(DataFormatError, match=r"train\.json line 3: JSON nested too deeply"):
        import_mllmu(source, tmp_path / "world")


def test_a_field_too_long_is_named_at_its_source_record(tmp_path: Path) -> None:
    from smfa.importers.writing import SourceMap

    source = _fiubench(tmp_path / "fiu")
    people = json.loads((source / "data.json").read_text())
    people[1]["qa_list"][0]["answer"] = "word " * 500
    _json(source / "data.json", people)
    with pytest.raises(DataFormatError) as error:
        import_fiubench(source, tmp_path / "world")
    assert str(error.value) == (
        "data.json index 1, qa_list[0]: the answer is 2,499 characters long; a world allows 2,000"
    )
    source = _mllmu(tmp_path / "mllmu")
    records = json.loads((source / "train.json").read_text())
    records[2]["metadata"][1]["Question"] = "Why? " * 450
    _json(source / "train.json", records)
    with pytest.raises(DataFormatError, match=r"train\.json index 2, metadata\[1\]: key "
                       r"'Question' is 2,249 characters long"):  # fmt: skip
        import_mllmu(source, tmp_path / "world")
    # Whatever load_world still finds in a row is restated at that row's source record.
    sources = SourceMap(questions=["data.json index 0, qa_list[0]", None])
    located = sources.locate(DataFormatError("questions.jsonl line 1: key 'value' is odd"))
    assert str(located) == "data.json index 0, qa_list[0]: key 'value' is odd"
    unknown = sources.locate(DataFormatError("splits.json: forget set for ratio 5 is empty"))
    assert str(unknown).startswith("the imported world fails its check: splits.json")
