"""MLLMU-Bench as the hub publishes it: the real 40-profile sample, and hand-made parquet
fixtures in the card's exact schema for the configs the sample lacks."""

from __future__ import annotations

import io
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from smfa.data.format import World, load_world
from smfa.errors import DataFormatError, SmfaError
from smfa.importers import import_mllmu
from smfa.importers.facts import attribute_type, value_span
from smfa.importers.paraphrase import paraphrases
from smfa.importers.problems import InvalidRecords
from smfa.world.refusals import REFUSAL_OPENERS

from .test_cli import smfa

SAMPLE = Path("/work/shared/data/mllmu-sample")
if not SAMPLE.is_dir():  # a checkout beside shared/ rather than under /work
    SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "mllmu-sample"
FT = "ft_Data/train-00000-of-00001.parquet"
pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason="the MLLMU-Bench sample is absent")

# The sample's README, copied by hand: the split lists and every person's name.
FORGET_5 = ("016", "093", "241", "259", "279", "309", "347")
FORGET_10 = ("124", "155", "182", "215", "252", "309", "321", "361", "396", "485")
FORGET_15 = ("005", "016", "061", "093", "259", "261", "321", "361", "454")
NAMES = {
    "001": "Amelia Kuznetsov", "005": "Lena Vos", "007": "Lena Forsberg",
    "013": "Oliver Sunsworth", "016": "Rafael Monteiro", "034": "Clara Windom",
    "039": "Inez Kwan", "046": "Linh Tran", "054": "Lucia Prescott",
    "061": "Olivia Sandström", "088": "Javier Munoz", "093": "Elena Fitzgerald",
    "107": "Sebastian Thrace", "124": "Anika Chandra", "126": "Fiona McAllister",
    "155": "Mayumi Takahashi", "182": "Carlos Santiago", "209": "Cameron Davis",
    "215": "Lucia Martinez", "237": "Nathaniel Cromwell", "241": "Paul Richter",
    "252": "Eliot Donnelly", "259": "Jasper Norwood", "261": "Derek Lexford",
    "279": "Olivia Reyna", "309": "Lydia Greystone", "321": "Lucas Madsen",
    "328": "Carlos Rocha", "347": "Iris Felton", "352": "Laila Arivola",
    "360": "Marisol Gonzalez", "361": "Raul Mendes", "376": "Samantha Grange",
    "390": "Simon Caldwell", "396": "Jason Everhart", "401": "Lina Tanaka",
    "402": "Hugo Applegate", "417": "Larisa Novak", "454": "Carlos Mendes",
    "485": "Lea Hernandez",
}  # fmt: skip


@pytest.fixture(scope="module")
def sample_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return load_world(import_mllmu(SAMPLE, tmp_path_factory.mktemp("hub") / "world"))


def _train(world: World, **fields: Any) -> list[Any]:
    """The training rows in the published wording (not the second, framed one)."""
    return [
        q for q in world.questions_where(phrasing="train", **fields)
        if q.view != "heldout" and q.template.endswith(".train0")
    ]  # fmt: skip


def test_the_sample_imports_every_person_fact_and_split(sample_world: World) -> None:
    world = sample_world
    assert {pid: p.name for pid, p in world.people.items()} == NAMES
    assert len(_train(world, kind="image_memory")) == 623  # every QA pair, image form
    assert len(_train(world, kind="text_memory")) == 623 - 40  # all but the name questions
    # A fact with a paraphrase is trained in one training frame too, in both forms.
    framed = [q for q in world.questions_where(phrasing="train") if q.template[-1] in "12"]
    assert {q.template[-1] for q in framed} == {"1", "2"}
    assert all(q.question.startswith(("I want to know ", "Let me know ")) for q in framed
               if q.kind == "image_memory")  # fmt: skip
    # Each list keeps the hub's name (forget_5 is 7 of 40 people here, 17.5%).
    assert world.splits.forget == {5: FORGET_5, 10: FORGET_10, 15: FORGET_15}
    for ratio, forget in world.splits.forget.items():
        assert world.splits.retain[ratio] == tuple(sorted(set(NAMES) - set(forget)))
    assert "309" in world.splits.forget[5] and "309" not in world.splits.forget[15]  # not nested
    assert world.tasks == () and not (world.root / "tasks.jsonl").exists()  # empty in the sample
    assert (world.root / ".smfa-world").is_file()


def test_attribute_types_and_values_of_the_odd_answers(sample_world: World) -> None:
    def fact(pid: str, attribute: str) -> tuple[str, str, str]:
        (q,) = _train(sample_world, subject=pid, attribute=attribute, kind="image_memory")
        return q.question, q.value, q.answer_type

    assert fact("352", "name") == (
        "What is the name of the person in the biography?", "Laila Arivola", "name"
    )  # fmt: skip
    assert fact("454", "name")[1:] == ("Carlos Mendes", "name")  # a bare-name answer
    assert fact("155", "name")[1] == "Mayumi Takahashi"  # "... associated with this profile"
    assert fact("005", "name")[1] == "Lena Vos"  # "The person in the image is ..."
    assert fact("417", "name")[1] == "Larisa Novak"  # "The person’s name is ..."
    assert fact("039", "salary")[1] == "There is no information on this person's annual salary."
    assert fact("007", "salary")[1] == "€62,000"
    assert fact("182", "height")[1] == "5'10\""
    assert fact("390", "food") == (
        "What does this person prefer to drink, tea or coffee?",
        "This person prefers tea over coffee.",
        "text",
    )
    assert fact("402", "pet")[1] == "cat is named Whiskers"
    assert fact("402", "pet#2") == (
        "What kind of companion is Whiskers to this person?", "beloved", "text"
    )  # fmt: skip
    assert fact("252", "family#3")[1] == "Dermot Donnelly"  # the father's name
    (text,) = _train(sample_world, subject="376", attribute="food", kind="text_memory")
    assert text.question == "What is Samantha's favorite food?"  # already names the person
    assert [q.attribute for q in _train(sample_world, subject="001", kind="image_memory")] == [
        "name", "birth_place", "gender", "birth_date", "occupation", "height", "education",
        "salary", "residence", "medical_condition", "family", "family#2", "family#3",
        "family#4", "hobby", "food", "pet", "hobby#2",
    ]  # fmt: skip


def test_validation_and_heldout_slices_are_disjoint_and_reworded(sample_world: World) -> None:
    world = sample_world
    training = {q.question for q in world.questions if q.phrasing == "train"}
    for pid, person in world.people.items():
        rows = world.questions_where(subject=pid)
        validation = {q.attribute for q in rows if q.phrasing == "validation"}
        heldout = {q.attribute for q in rows if q.phrasing == "heldout"}
        assert validation and heldout and not validation & heldout, pid
        assert "name" in heldout
        for q in rows:
            if q.phrasing != "train":
                assert q.question not in training and q.probe
            if q.phrasing == "validation":
                assert q.view in ("train", None)
                assert "Tell me " in q.question
            if q.view == "heldout":
                assert q.image == person.portrait.heldout != person.portrait.train
    # No paraphrase: held out in its training phrasing on the re-rendered portrait only.
    companion = world.questions_where(subject="402", attribute="pet#2")
    assert [(q.kind, q.phrasing, q.view) for q in companion] == [
        ("image_memory", "train", "train"), ("text_memory", "train", None),
        ("image_memory", "train", "heldout"),
    ]  # fmt: skip
    render = Image.open(world.image_path(world.people["001"].portrait.heldout))
    train = Image.open(world.image_path(world.people["001"].portrait.train))
    assert render.size == train.size and render.tobytes() != train.tobytes()


def test_unknown_people_are_refused_in_the_imported_forms(sample_world: World) -> None:
    rows = sample_world.questions_where(kind="unknown_person")
    assert {q.phrasing for q in rows} == {"train", "validation", "heldout"}
    assert sample_world.manifest["params"]["unknown_people"] == 10  # a quarter of 40
    for q in rows:
        assert q.subject is None and q.image is None and q.value == ""
        assert q.answer_type == "refusal" and q.answer.startswith(REFUSAL_OPENERS)
        assert not any(name in q.question for name in NAMES.values())
    phrasings = {q.question.split(" ")[0] for q in rows if q.phrasing == "train"}
    assert phrasings <= {"What", "Where", "When", "How", "Does", "Which", "In", "Regarding"}


def test_people_subset_keeps_every_forget_list(tmp_path: Path) -> None:
    first = load_world(import_mllmu(SAMPLE, tmp_path / "a", people=8, seed=1))
    again = load_world(import_mllmu(SAMPLE, tmp_path / "b", people=8, seed=1))
    assert len(first.people) == 8 and first.world_hash == again.world_hash
    assert len(first.splits.forget) == 3
    for ids in first.splits.forget.values():
        assert ids and any(set(ids) <= set(source) for source in (FORGET_5, FORGET_10, FORGET_15))
    assert all(first.splits.retain.values())
    listed = tmp_path / "ids.txt"
    listed.write_text("# forget_5 and 15\n016\n093\n124  # forget_10\n061\n001\n007\n")
    chosen = load_world(import_mllmu(SAMPLE, tmp_path / "c", ids=listed))
    assert sorted(chosen.people) == ["001", "007", "016", "061", "093", "124"]
    # Each list keeps its hub name, whatever its share of the 6 (forget_15: 3 of 6).
    assert chosen.splits.forget == {5: ("016", "093"), 10: ("124",), 15: ("016", "061", "093")}
    listed.write_text("001\n124\n")
    with pytest.raises(
        SmfaError, match=r"--ids keeps no member of forget_5; add one of 016, 093, 241"
    ):
        import_mllmu(SAMPLE, tmp_path / "d", ids=listed)


def _broken_sample(root: Path) -> Path:
    """The sample with two bad ft_Data rows: 016 (row 4) and 124 (row 13)."""
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("*.md", "*.py"))
    table = pq.read_table(root / FT)
    rows = table.to_pylist()
    assert (rows[4]["ID"], rows[13]["ID"]) == ("016", "124")
    rows[4]["metadata"] = "[" * 100_000 + "]" * 100_000
    rows[13]["metadata"] = rows[13]["metadata"].replace('"Answer"', '"Reply"', 3)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), root / FT)
    return root


def test_invalid_records_are_reported_at_once_and_skipped(tmp_path: Path) -> None:
    source = _broken_sample(tmp_path / "broken")
    with pytest.raises(InvalidRecords) as error:
        import_mllmu(source, tmp_path / "world")
    assert len(error.value.problems) == 2
    assert f"{FT} row 4, key 'metadata': JSON nested too deeply" in error.value.problems[0]
    assert error.value.problems[1] == f"{FT} row 13, metadata[0]: missing key 'Answer'"
    assert "--skip-invalid" in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "world").exists()
    result = smfa("import", "mllmu", source, tmp_path / "world", "--skip-invalid")
    assert "skipped 2 invalid source records; dropped 2 people from every split: 016, 124" in (
        " ".join(result.stderr.split())
    )
    world = load_world(tmp_path / "world")
    assert len(world.people) == 38 and not {"016", "124"} & set(world.people)
    assert world.splits.forget == {
        5: tuple(p for p in FORGET_5 if p != "016"),
        15: tuple(p for p in FORGET_15 if p != "016"),
        10: tuple(p for p in FORGET_10 if p != "124"),
    }
    assert not {"016", "124"} & {p for ids in world.splits.retain.values() for p in ids}


# ---- the configs the sample lacks, in the card's exact schema ------------------------------

TEXT = pa.string()
IMAGE = pa.struct([("bytes", pa.binary()), ("path", TEXT)])
CHOICES = pa.list_(
    pa.struct([
        ("Correct_Answer", TEXT),
        ("Options", pa.struct([("A", TEXT), ("B", TEXT), ("C", TEXT), ("D", TEXT)])),
        ("Question", TEXT),
    ])
)  # fmt: skip
ITEMS = pa.list_(pa.struct([("Ground_Truth", TEXT), ("Question", TEXT), ("Type", TEXT)]))
TASKS = [
    ("Classification_Task",
     pa.struct([("Image_Textual_Questions", CHOICES), ("Pure_Text_Questions", CHOICES)])),
    ("Generation_Task", ITEMS),
    ("Mask_Task", ITEMS),
]  # fmt: skip
PROFILE = [("biography", TEXT), ("question", TEXT), ("answer", TEXT)]
SCHEMAS = {
    "ft_Data": pa.schema([("image", IMAGE), ("ID", TEXT), ("metadata", TEXT)]),
    "split": pa.schema([("image", IMAGE), ("ID", TEXT), *PROFILE, *TASKS]),
    "Full_Set": pa.schema([("image", IMAGE), ("ID", TEXT), ("Directory", TEXT), *PROFILE, *TASKS]),
    "Test_Set": pa.schema([("ID", TEXT), ("images", pa.list_(IMAGE)), *TASKS]),
}
SCHEMAS["Retain_Set"] = SCHEMAS["Full_Set"]


def _png(colour: tuple[int, int, int]) -> dict[str, Any]:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


def _tasks(
    choices: Sequence[Any] = (),
    texts: Sequence[Any] = (),
    gen: Sequence[Any] = (),
    mask: Sequence[Any] = (),
) -> dict[str, Any]:
    """A row's three task columns, as the card types them."""
    return {
        "Classification_Task": {"Image_Textual_Questions": list(choices),
                                "Pure_Text_Questions": list(texts)},
        "Generation_Task": list(gen),
        "Mask_Task": list(mask),
    }  # fmt: skip


def _write(root: Path, config: str, rows: list[dict[str, Any]], files: int = 1) -> None:
    schema = SCHEMAS.get(config, SCHEMAS["split"])
    folder = root / config
    folder.mkdir(parents=True)
    for k in range(files):
        part = rows[k::files]
        table = pa.Table.from_pylist(part, schema=schema)
        pq.write_table(table, folder / f"train-{k:05d}-of-{files:05d}.parquet")


def _qa(pid: str, name: str, job: str) -> str:
    import json

    return json.dumps([
        {"ID": pid, "Question": "What is the name of this person?",
         "Answer": f"This person's name is {name}."},
        {"ID": pid, "Question": "What is this person's profession?",
         "Answer": f"This person is a {job}."},
        {"ID": pid, "Question": "Where was this person born?",
         "Answer": "This person was born in Oslo, Norway."},
    ])  # fmt: skip


RENDERS = [_png((250, 0, 0)), _png((0, 250, 0))]
GENERATION = [
    {"Question": "What job does this person do?", "Ground_Truth": "This person is a chef.",
     "Type": "Image_Textual"},
    {"Question": "Where was this person born?", "Ground_Truth": "This person was born in Oslo.",
     "Type": "Image_Textual"},
    {"Question": "What is Ann Bay's profession?", "Ground_Truth": "Ann Bay is a chef.",
     "Type": "Pure_Text"},
]  # fmt: skip
CHOICE = {"Question": "What is this person's job?", "Correct_Answer": "C",
          "Options": {"A": "pilot", "B": "nurse", "C": "chef", "D": "judge"}}  # fmt: skip


def _full_hub(root: Path) -> Path:
    people = [("001", "Ann Bay", "chef"), ("002", "Bo Dale", "nurse"), ("003", "Cy Fen", "judge")]
    portraits = {pid: _png((40 * i, 90, 120)) for i, (pid, _, _) in enumerate(people)}
    _write(root, "ft_Data", [
        {"image": portraits[pid], "ID": pid, "metadata": _qa(pid, name, job)}
        for pid, name, job in people
    ])  # fmt: skip
    owned = _tasks(gen=[{"Question": "What does Bo Dale do?", "Ground_Truth": "Bo Dale is a "
                         "nurse.", "Type": "Pure_Text"}])  # fmt: skip
    split_row = {"biography": None, "question": None, "answer": None}
    _write(root, "forget_5", [{"image": portraits["002"], "ID": "002", **split_row, **owned}])
    _write(root, "retain_95", [
        {"image": portraits[pid], "ID": pid, **split_row, **_tasks()} for pid in ("001", "003")
    ])  # fmt: skip
    _write(root, "Test_Set", [
        {"ID": "001", "images": RENDERS,
         **_tasks([CHOICE], [dict(CHOICE, Question="What is Ann Bay's job?")], GENERATION,
                  [{"Question": "This person works as a __.", "Ground_Truth": "chef",
                    "Type": "Image_Textual"}])},
        {"ID": "002", "images": [_png((0, 0, 250))], **_tasks()},
    ], files=2)  # fmt: skip
    _write(root, "Full_Set", [
        {"image": portraits[pid], "ID": pid, "Directory": pid, **split_row,
         **(owned if pid == "002" else _tasks())}
        for pid, _, _ in people
    ])  # fmt: skip
    _write(root, "Retain_Set", [
        {"image": _png((9, 9, 9)), "ID": "900", "Directory": "Ada_Lovelace", **split_row,
         **_tasks(gen=[{"Question": "Who is this?", "Ground_Truth": "Ada Lovelace.",
                        "Type": "Image_Textual"}])},
    ])  # fmt: skip
    return root


def test_test_set_full_set_and_retain_set(tmp_path: Path) -> None:
    world = load_world(import_mllmu(_full_hub(tmp_path / "hub"), tmp_path / "world"))
    assert world.people["celebrity_900"].name == "Ada Lovelace"
    # 1 of the 3 fictitious people is forgotten; the celebrity is retained, not counted.
    assert world.splits.forget == {5: ("002",)}
    assert world.splits.retain == {5: ("001", "003", "celebrity_900")}
    assert world.questions_where(subject="celebrity_900") == []
    ann, bo, cy = (world.people[p].portrait for p in ("001", "002", "003"))
    assert (world.root / ann.heldout).read_bytes() == RENDERS[0]["bytes"]  # the first render
    assert (world.root / bo.heldout).read_bytes() == _png((0, 0, 250))["bytes"]
    assert cy.heldout != cy.train  # no Test_Set row: the jittered re-render
    tasks = [(t.subject, t.source, t.task, t.form, t.ground_truth, t.image) for t in world.tasks]
    assert tasks == [
        ("002", "profile", "generation", "text", "Bo Dale is a nurse.", None),  # once, not twice
        ("001", "test", "classification", "image", "chef", ann.heldout),
        ("001", "test", "classification", "text", "chef", None),
        ("001", "test", "generation", "image", "This person is a chef.", ann.heldout),
        ("001", "test", "generation", "image", "This person was born in Oslo.", ann.heldout),
        ("001", "test", "generation", "text", "Ann Bay is a chef.", None),
        ("001", "test", "cloze", "image", "chef", ann.heldout),
        ("celebrity_900", "celebrity", "generation", "image", "Ada Lovelace.",
         world.people["celebrity_900"].portrait.train),
    ]  # fmt: skip
    assert (world.tasks[1].options, world.tasks[1].correct) == (CHOICE["Options"], "C")
    # Ann's probes are her Test_Set generation items: one of three for validation.
    probes = [q for q in world.questions_where(subject="001") if q.phrasing != "train"]
    assert {q.question for q in probes} == {g["Question"] for g in GENERATION}
    assert sum(q.phrasing == "validation" for q in probes) == 1
    assert {(q.attribute, q.value) for q in probes} == {
        ("occupation", "chef"), ("birth_place", "Oslo"), ("occupation#2", "chef")
    }  # fmt: skip
    # Bo has a Test_Set render but no generation items: the paraphrased facts are the probes.
    assert any(q.question.startswith("Tell me") for q in world.questions_where(subject="002"))


def test_a_missing_column_and_a_bad_test_row(tmp_path: Path) -> None:
    root = _full_hub(tmp_path / "hub")
    first = root / "Test_Set" / "train-00000-of-00002.parquet"
    rows = pq.read_table(first).to_pylist()
    rows[0]["images"] = []  # Ann's row
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMAS["Test_Set"]), first)
    with pytest.raises(InvalidRecords, match=r"Test_Set/train-00000-of-00002\.parquet row 0: "
                       r"key 'images' must be a non-empty list of images"):  # fmt: skip
        import_mllmu(root, tmp_path / "world")
    world = load_world(import_mllmu(root, tmp_path / "world", skip_invalid=True))
    assert sorted(world.people) == ["002", "003", "celebrity_900"]
    assert {t.subject for t in world.tasks} == {"002", "celebrity_900"}
    table = pq.read_table(root / "Retain_Set" / "train-00000-of-00001.parquet").drop(["ID"])
    pq.write_table(table, root / "Retain_Set" / "train-00000-of-00001.parquet")
    with pytest.raises(DataFormatError, match=r"Retain_Set/train-00000-of-00001\.parquet: no "
                       r"column 'ID'"):  # fmt: skip
        import_mllmu(root, tmp_path / "again")


# ---- the rules, on hand-checked cases ---------------------------------------------------------


def test_attribute_rules_value_spans_and_paraphrases() -> None:
    assert attribute_type("What is the occupation of this person's father?") == "family"
    assert attribute_type("What does this person enjoy eating?") == "food"
    assert attribute_type("How does this person connect with nature?") == "unknown"
    assert attribute_type("Where was this person born?") == "birth_place"
    assert attribute_type("What is this person’s mother’s occupation?") == "family"
    assert value_span("How tall is this person?", "This person is 167 cm tall.") == "167 cm"
    assert value_span("Where did this person receive their education?",
                      "This person was educated at the University of Edinburgh.") == (
        "University of Edinburgh"
    )  # fmt: skip
    assert (
        value_span(
            "Does this person have any pets?", "Yes, this person has a pet rabbit named Fluffy."
        )
        == "rabbit named Fluffy"
    )
    assert value_span("Who?", "Nobody knows.") == "Nobody knows."  # a negation: the whole
    cases = {
        "Where does this person currently reside?": "where this person currently resides",
        "Which university did this individual attend?": "which university this individual attended",
        "When is this person's date of birth?": "when this person's date of birth is",
        "How tall is the individual in the profile?": "how tall the individual in the profile is",
        "Does this person have any pets?": "whether this person has any pets",
        "What is the name associated with this profile?": "the name associated with this profile",
        "In which group does this person play the violin?":
            "in which group this person plays the violin",
    }  # fmt: skip
    for question, clause in cases.items():
        found = paraphrases(question)
        assert found is not None and found.clause == clause, question
        assert found.phrasing("validation") == f"Tell me {clause}."
        assert found.phrasing("heldout", 1) == f"Can you tell me {clause}?"
    assert paraphrases("What kind of companion is Whiskers to this person?") is None
