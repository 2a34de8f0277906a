"""Layered VERA: the folds partition the forget set, each stage erases its folds and keeps the
later ones as retain examples, and the output is the stages' deltas added up."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from smfa.data.batches import Sample
from smfa.data.records import Question
from smfa.errors import ConfigError
from smfa.methods.base import UnlearnData, get_method, make_params
from smfa.methods.layered import Layered, add, split_folds, stage_data
from smfa.methods.vera import Vera
from smfa.methods.vera_data import not_forgotten
from smfa.models.adapters import load_deltas


def _question(i: int, subject: str, attribute: str) -> Question:
    return Question(
        id=f"q{i}", kind="text_memory", subject=subject, image=None, image_type=None, view=None,
        phrasing="train", template="t0", attribute=attribute, question=f"{attribute}?",
        answer=f"It is v{i}.", value=f"v{i}", answer_type="text", distractors=(), probe=False,
    )  # fmt: skip


def _data() -> UnlearnData:
    rows = [("p1", "city"), ("p1", "job"), ("p1", "pet"), ("p2", "city"), ("p2", "job#2")]
    questions = [_question(i, s, a) for i, (s, a) in enumerate(rows)]
    samples = [Sample(f"s{i}", (1, 2), (3,), None) for i in range(len(rows))]
    refusals = [Sample(f"s{i}", (1, 2), (4,), None) for i in range(len(rows))]
    kept = Sample("r0", (5,), (6,), None)
    return UnlearnData(
        samples, refusals, [kept], collator=None,  # type: ignore[arg-type]
        forget_questions=questions, retain_questions=[_question(9, "p9", "city")],
    )  # fmt: skip


def test_folds_partition_the_attribute_types_or_people_seeded() -> None:
    data = _data()
    folds = split_folds(data, Layered.Params(folds=2))
    # Three attribute types (job#2 is a job), two folds of 2 and 1, disjoint, all of them.
    assert sorted(len(f) for f in folds) == [1, 2]
    assert set().union(*folds) == {"city", "job", "pet"} and not folds[0] & folds[1]
    assert split_folds(data, Layered.Params(folds=2)) == folds  # the same seed, the same folds
    seeds = {tuple(map(frozenset, split_folds(data, Layered.Params(seed=s)))) for s in range(8)}
    assert len(seeds) > 1  # the seed moves them
    people = split_folds(data, Layered.Params(folds=2, by="person"))
    assert sorted(map(sorted, people)) == [["p1"], ["p2"]]
    with pytest.raises(ConfigError, match=r"methods\.layered\.folds is 3, .* only 2 people"):
        split_folds(data, Layered.Params(folds=3, by="person"))
    with pytest.raises(ConfigError, match=r"methods\.layered\.by must be "):
        make_params(get_method("layered"), {"by": "image"})


def test_a_stage_erases_its_folds_and_keeps_the_later_ones_as_retain() -> None:
    data = _data()
    stage = stage_data(data, "attribute", erased={"city"}, kept={"job", "pet"})
    assert [q.id for q in stage.forget_questions] == ["q0", "q3"]
    assert [s.key for s in stage.forget] == ["s0", "s3"]
    assert [s.answer_ids for s in stage.forget_refusals] == [(4,), (4,)]  # refusals follow
    # The retain sample first, then the kept folds' questions with their true answers.
    assert [q.id for q in stage.retain_questions] == ["q9", "q1", "q2", "q4"]
    assert [s.key for s in stage.retain] == ["r0", "s1", "s2", "s4"]
    last = stage_data(data, "attribute", erased={"city", "job", "pet"}, kept=set())
    assert len(last.forget) == 5 and [s.key for s in last.retain] == ["r0"]


def test_kept_facts_of_a_forget_person_are_not_asked_for_more() -> None:
    data = _data()
    stage = stage_data(data, "attribute", erased={"city"}, kept={"job", "pet"})
    forget = list(zip(stage.forget_questions, stage.forget, strict=True))
    kept = list(zip(stage.retain_questions, stage.retain, strict=True))
    # p1's and p2's kept jobs and pet are theirs to keep, not pictures to ask more of.
    assert [q.id for q, _ in not_forgotten(kept, forget)] == ["q9"]


def test_add_sums_shared_weights_and_keeps_the_others() -> None:
    a = {"w": torch.ones(2), "u": torch.full((2,), 3.0)}
    b = {"w": torch.full((2,), 2.0), "v": torch.zeros(2)}
    summed = add(a, b)
    assert sorted(summed) == ["u", "v", "w"]
    assert summed["w"].tolist() == [3.0, 3.0] and summed["u"].tolist() == [3.0, 3.0]


def test_two_stages_on_a_tiny_model(method_job) -> None:  # type: ignore[no-untyped-def]
    method = get_method("layered")
    params = make_params(method, {"rank": 4, "epochs": 1, "rehearse_every": 4, "k": -1})
    job = method_job(params)
    before = {n: p.detach().clone() for n, p in job.model.named_parameters()}
    output = method().run(job)
    assert all(torch.equal(before[n], p) for n, p in job.model.named_parameters())
    assert list(output.variants) == ["unmasked"]  # k < 0: no retaining anchor, no mask
    first, last = output.stats["stages"]
    folds = output.stats["folds"]
    fold1 = [q for q in job.data.forget_questions if q.attribute_type in folds[0]]
    assert first["erased"] == len(fold1) < last["erased"] == len(job.data.forget)
    assert first["held"] > last["held"]  # the later fold's values held beside the retain ones
    # Stage 1 is VERA on the rearranged budget (seeded: run again, the same delta), saved;
    # the output adds stage 2's delta to it.
    stage1 = load_deltas(job.artifacts / "stage1" / "delta.safetensors")
    again = _stage_one(job, folds)
    assert set(stage1) == set(again)
    assert all(torch.allclose(stage1[n], again[n], atol=1e-6) for n in stage1)
    final = output.variants["unmasked"].deltas()
    assert set(stage1) <= set(final) and all(torch.isfinite(d).all() for d in final.values())
    assert sum(float((final[n] - stage1[n]).abs().sum()) for n in final) > 0


def _stage_one(job, folds):  # type: ignore[no-untyped-def]
    data = stage_data(job.data, "attribute", set(folds[0]), set(folds[1]))
    vera = Vera.Params(rank=4, epochs=1, rehearse_every=4, k=-1)
    out = Vera().run(dataclasses.replace(job, data=data, params=vera))
    return out.variants[out.default].deltas()
