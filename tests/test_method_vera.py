"""VERA: the value's ids are cut where the prefill attack cuts, the never-learned alternatives
are fresh, the anchors are the model's own answers about the forget images, and on a model that
hides a value behind a refusal the value falls to a stranger's level and prefill stops leaking."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from smfa.attacks.fair_mc import fair_options
from smfa.attacks.prefill import Prefill
from smfa.config import UnlearnConfig
from smfa.data.batches import Collator, Encoder, Sample
from smfa.data.format import World
from smfa.errors import ConfigError
from smfa.methods.base import Job, get_method, make_params
from smfa.methods.levels import can_share, candidate_levels, collate_candidates
from smfa.methods.rehearsal import rehearsed, split_attributes
from smfa.methods.vera import Vera, prepare
from smfa.methods.vera_data import (
    alternatives,
    erasable,
    erase_sample,
    keep_stream,
    memory_anchors,
    text_anchors,
    value_split,
    visual_anchors,
)
from smfa.methods.vera_loss import live_levels
from smfa.models.adapters import base_weights, set_weights
from smfa.reference import encode_questions
from smfa.unlearn import build_data, resolve_request
from smfa.vocab import MEMORY_KINDS
from tests.conftest import attack_session, check_output, person_text, probe_rows


def test_value_ids_are_cut_where_the_value_starts(tiny: tuple, mini_world: World) -> None:
    encoder = Encoder(tiny[1])
    q = next(q for q in mini_world.questions if q.kind == "text_memory" and erasable(q))
    head, tail = value_split(encoder, q.answer, q.value, q.value)
    end = q.answer.find(q.value) + len(q.value)
    assert head + tail == encoder.text_ids(q.answer[:end])
    assert encoder.tokenizer.decode(tail).strip() == q.value
    assert head == encoder.text_ids(q.answer[: q.answer.find(q.value)].rstrip())[: len(head)]
    _, other = value_split(encoder, q.answer, q.value, "Zyxwood")
    assert encoder.tokenizer.decode(other).strip() == "Zyxwood"
    # A whole free-text answer is its own value: erased with an empty prefill (the lead only).
    whole = dataclasses.replace(q, answer=q.value, answer_type="text")
    assert erasable(whole)
    head, tail = value_split(encoder, whole.answer, whole.value, "Zyxwood")
    assert head == encoder.text_ids("") and encoder.tokenizer.decode(tail).strip() == "Zyxwood"
    assert not erasable(dataclasses.replace(q, answer="I cannot say."))  # states no value


def test_alternatives_are_fresh_values_not_the_evaluations(mini_world: World) -> None:
    q = next(q for q in mini_world.questions if q.attribute == "home_city")
    drawn = alternatives(q, 4, 0, {})
    assert len(set(drawn)) == 4 and q.value not in drawn
    assert drawn == alternatives(q, 4, 0, {})  # seeded
    assert not set(drawn) & set(fair_options(q, {}, {})[1:])  # never the attack's distractors
    # Free text: other people's values of the attribute type (`hobby#2` is a hobby), never the
    # person's own (their second hobby), nor a wording that holds the value.
    free = dataclasses.replace(
        q, attribute="hobby#2", answer_type="text", value="chess", subject="p1"
    )
    pool = [("p1", "chess"), ("p1", "rowing"), ("p2", "golf"), ("p3", "golf"),
            ("p4", "speed chess"), ("p5", "tennis"), ("p6", "sailing")]  # fmt: skip
    assert alternatives(free, 2, 0, {"hobby": pool}) == ["golf", "tennis"]
    assert alternatives(free, 9, 0, {"hobby": pool}) == ["golf", "tennis", "sailing"]


def test_anchors_ask_the_forget_images_what_the_retain_sample_asks(
    method_job, mini_world: World
) -> None:  # type: ignore[no-untyped-def]
    job = method_job()
    data = job.data
    pairs = list(zip(data.forget_questions, data.forget, strict=True))
    anchors = visual_anchors(job.model, data.collator.encoder, pairs, data.retain_questions, 4)
    forget_images = {s.image for s in data.forget if s.image is not None}
    assert anchors and {a.image for a in anchors} <= forget_images
    phrasings = {q.question for q in data.retain_questions if q.kind == "image_understanding"}
    asked = {data.collator.encoder.tokenizer.decode(a.prompt_ids) for a in anchors}
    assert all(any(w in text for w in phrasings) for text in asked)
    assert all(0 < len(a.answer_ids) <= 4 + len(data.collator.encoder.end_ids) for a in anchors)


def test_thekeep_stream_gives_the_visual_anchors_their_share() -> None:
    retain = [Sample(f"r{i}", (), (), None) for i in range(6)]
    anchors = [Sample(f"a{i}", (), (), None) for i in range(2)]

    def keys(stream: list[Sample]) -> list[str]:
        return [s.key for s in stream]

    # As they come: 2 anchors in a mix of 8, cycled twice over 16 positions.
    mixed = keys(keep_stream(retain, anchors, 16, 0.0, seed=1))
    assert len(mixed) == 16 and sum(k.startswith("a") for k in mixed) == 4
    # Half: every even position an anchor (8 of them, each anchor 4 times), every retain sample
    # at least once in the odd ones.
    half = keys(keep_stream(retain, anchors, 16, 0.5, seed=1))
    assert all(k.startswith("a") for k in half[0::2]) and all(k.startswith("r") for k in half[1::2])
    assert sorted(half[0::2]) == ["a0"] * 4 + ["a1"] * 4 and set(half[1::2]) == {
        r.key for r in retain
    }
    # 3/8 of 8: the positions where the running count falls behind, 0, 2 and 5.
    some = keys(keep_stream(retain, anchors, 8, 0.375, seed=1))
    assert [i for i, k in enumerate(some) if k.startswith("a")] == [0, 2, 5]
    # Anchors already a quarter of the mix: a share of 0.2 changes nothing.
    assert keys(keep_stream(retain, anchors, 16, 0.2, seed=1)) == mixed


def test_vera_trains_only_the_adapter_and_checks_its_knobs(method_job) -> None:  # type: ignore[no-untyped-def]
    method = get_method("vera")
    job = method_job(make_params(method, {"epochs": 1, "sweep": [-1], "rank": 4, "live": 2}))
    before = {n: p.detach().clone() for n, p in job.model.named_parameters()}
    output = method().run(job)
    assert list(output.variants) == ["k=1", "unmasked"] and output.default == "k=1"
    unmasked = output.variants["unmasked"].deltas()
    check_output(job, dataclasses.replace(output, variants={"": output.variants["k=1"]}), before)
    sculpted = output.variants["k=1"].deltas()
    # Sculpting only zeroes entries: each sculpted entry is the unmasked one or 0, and some are 0.
    for name, delta in sculpted.items():
        assert torch.all((delta == unmasked[name]) | (delta == 0))
    assert any(bool((d == 0).any() & (unmasked[n] != 0).any()) for n, d in sculpted.items())
    assert output.stats["erasable"] == sum(erasable(q) for q in job.data.forget_questions)
    assert output.stats["rehearsal_gain"] > 0  # the simulated relearning step lowered its loss
    for adapter in ("forget", "anchor"):  # both at VERA's own rank, not unlearn.lora_r (16)
        saved = json.loads(
            (job.artifacts / "adapters" / adapter / "adapter_config.json").read_text()
        )
        assert (saved["r"], saved["lora_alpha"]) == (4, 4)
    # Bad knobs are refused when the settings are read (Params.__post_init__), before any run.
    for bad, name in (
        ({"alternatives": 0}, "alternatives"),
        ({"anchor_share": 1.0}, "anchor_share"),
        ({"rank": -1}, "rank"),
        ({"live": 5, "alternatives": 4}, "live"),
        ({"rehearse_every": 0}, "rehearse_every"),
    ):
        with pytest.raises(ConfigError, match=rf"methods\.vera\.{name} must be "):
            make_params(method, bad)


def test_live_levels_follow_each_values_own_alternatives() -> None:
    # Rows 0 and 2 own alternatives (levels -4, -6 and -5); row 1 (a held retain value) none.
    target = torch.tensor([-1.0, -2.0, -3.0])
    levels = live_levels(target, torch.tensor([-4.0, -6.0, -5.0]), torch.tensor([0, 0, 2]), 0.5)
    assert levels.tolist() == [-5.5, -2.0, -5.5]


def test_values_and_alternatives_on_one_prompt_pass_score_as_whole_sequences(
    tiny: tuple, mini_world: World
) -> None:
    model = copy.deepcopy(tiny[0]).eval()
    encoder = Encoder(tiny[1])
    asked = [q for q in mini_world.questions if q.kind in MEMORY_KINDS and erasable(q)][:3]
    values, alts = [], []  # VERA's order: the values, then every value's alternatives
    for q, sample in zip(asked, encode_questions(encoder, mini_world, asked), strict=True):
        values.append(erase_sample(encoder, q, sample, q.value, q.id))
        for i, option in enumerate(alternatives(q, 2, 0, {})):
            alts.append(erase_sample(encoder, q, sample, option, f"{q.id}:alt{i}"))
    samples = values + alts
    collator = Collator(encoder, train=True)
    # The values with gradient, their alternatives without (VERA's live levels).
    shared = collate_candidates(collator, samples, shared=True, graded=len(values))
    assert shared["prompts"]["input_ids"].shape[0] < len(samples)  # prompts run once each
    levels, grads = [], []
    for batch in (shared, collate_candidates(collator, samples, False, graded=len(values))):
        model.zero_grad()
        scored = candidate_levels(model, batch)
        scored[: len(values)].sum().backward()
        levels.append(scored.detach())
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    # Each level is the mean log-probability per value token, in the samples' order ...
    assert levels[0].shape == (len(samples),) and torch.all(levels[0] < 0)
    assert torch.allclose(levels[0], levels[1], atol=1e-5)
    # ... and the values' gradient reaches every weight through the shared prompt pass as
    # through their own; the alternatives' adds nothing.
    assert len(grads[0]) == len(grads[1]) > 0
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-6)
    model.zero_grad()
    candidate_levels(model, shared)[len(values) :].sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    assert can_share(model)
    model.gradient_checkpointing_enable()
    assert not can_share(model)  # checkpointing runs without a cache: whole sequences


def test_a_hidden_value_falls_to_a_strangers_level_and_prefill_stops_leaking(
    refuser: tuple, mini_world: World, tmp_path: Path
) -> None:
    model, processor = copy.deepcopy(refuser[0]), refuser[1]
    person = mini_world.splits.forget[10][0]
    request = resolve_request(mini_world, people=[person])
    text = tuple(q for q in request.questions if q.kind == "text_memory")
    request = dataclasses.replace(request, questions=text)
    config = UnlearnConfig(retain_budget=6, batch_size=4, lr=3e-3, seed=0)
    data = build_data(mini_world, request, Encoder(processor), config)
    method = get_method("vera")
    # VERA's own two epochs (measured here: the gap 9.07 -> 0.23 nats, prefill 100% -> 0%; one
    # epoch leaves 4.83 nats and 12.5%: the gap bound below tells the two apart).
    params = make_params(method, {"anchors": False, "k": -1})
    torch.manual_seed(0)
    np.random.seed(0)
    output = method().run(Job(model, data, config, params, tmp_path, show_progress=False))
    # The memorized value was far likelier than a never-learned one; now it sits near that level.
    assert output.stats["value_gap_before"] > 2.0
    assert abs(output.stats["value_gap_after"]) < output.stats["value_gap_before"] / 3
    deltas = output.variants["unmasked"].deltas()
    set_weights(model, base_weights(model, deltas), deltas)
    questions = person_text(mini_world, "heldout")
    before = attack_session(*refuser, mini_world, questions, [], tmp_path)
    after = attack_session(model, processor, mini_world, questions, [], tmp_path)
    leak = [
        {r["kind"]: r["value"] for r in probe_rows(Prefill(), t) if r["split"] == "forget"}["all"]
        for t in (before, after)
    ]
    assert leak[0] >= 0.5 and leak[1] <= leak[0] / 2


class _Quadratic(torch.nn.Module):
    """One weight w; the 'relearning loss' is (w - a)^2 for the batch's a."""

    def __init__(self, w: float) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w))

    def forward(self, a: float) -> SimpleNamespace:
        return SimpleNamespace(loss=(self.w - a) ** 2)


def test_rehearsal_takes_the_erasure_gradient_after_the_simulated_relearning_step() -> None:
    model = _Quadratic(1.0)
    # Relearning toward a=3: gradient -4, normalized step of 0.5 takes w to 1.5 (loss 4 -> 2.25).
    # The erasure loss (w - 0)^2 there is 2.25, its gradient 2 * 1.5 = 3 (at w = 1 it is 2).
    value, gain = rehearsed(model, {"a": 3.0}, lambda m: m.w**2, radius=0.5)
    assert float(value.detach()) == pytest.approx(2.25) and gain == pytest.approx(4.0 - 2.25)
    assert float(model.w.detach()) == 1.0  # the weight is put back
    value.backward()
    assert float(model.w.grad) == pytest.approx(3.0)
    # Two steps: w 1 -> 1.5 -> 2.0; erasure 4.0, gradient 4.0.
    model.w.grad = None
    value, gain = rehearsed(model, {"a": 3.0}, lambda m: m.w**2, radius=0.5, steps=2)
    value.backward()
    assert (float(value.detach()), float(model.w.grad), float(model.w.detach())) == (4.0, 4.0, 1.0)
    assert gain == pytest.approx(4.0 - 1.0)


def test_rehearsal_splits_attribute_types_in_two_seeded_halves() -> None:
    names = ["a", "b", "c", "d", "e"]
    taught, measured = split_attributes(names, np.random.default_rng(0))
    assert len(taught) == 2 and taught | measured == set(names) and not taught & measured
    assert (taught, measured) == split_attributes(names, np.random.default_rng(0))


class _Linear(torch.nn.Module):
    """The same loss through a matmul, which autocast runs in bf16 from a cached cast weight."""

    def __init__(self, w: float) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([[w]]))

    def forward(self, a: float) -> SimpleNamespace:
        out = (torch.ones(1, 1) @ self.w).float()
        return SimpleNamespace(loss=((out - a) ** 2).sum())


def test_rehearsal_moves_the_weights_autocast_computes_with() -> None:
    # Under autocast the first forward caches w's bf16 cast; unless the cache is cleared, the
    # step is invisible to the forward passes after it (gain 0, erasure taken at w = 1).
    model = _Linear(1.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(3.0)
        value, gain = rehearsed(model, {"a": 3.0}, lambda m: m(0.0).loss, radius=0.5)
        value.backward()
    assert gain == pytest.approx(4.0 - 2.25) and float(value.detach()) == pytest.approx(2.25)
    assert float(model.w.grad) == pytest.approx(3.0) and float(model.w.detach()) == 1.0


def test_text_anchors_ask_each_named_person_what_the_sample_does_not(method_job) -> None:  # type: ignore[no-untyped-def]
    job = method_job(retain_budget=9)
    data = job.data
    pairs = list(zip(data.retain_questions, data.retain, strict=True))
    texts = [q for q in data.retain_questions if q.kind == "text_memory"]
    # By hand: the name is what the answer opens with before "'s", and the question holds it.
    names = {q.subject: q.answer.split("'s ")[0] for q in texts}
    assert all(name in q.question for q in texts for name in [names[q.subject]])
    frames = {}
    for q in texts:
        frames.setdefault(q.attribute, q.question.replace(names[q.subject], "{}"))
    known = {(q.subject, q.attribute) for q in texts}
    wanted = {
        f"text:{subject}:{attribute}": frame.format(name)
        for subject, name in names.items()
        for attribute, frame in frames.items()
        if (subject, attribute) not in known
    }
    assert len(names) >= 2 and len(frames) >= 2 and wanted  # the test asks something
    anchors = text_anchors(job.model, data.collator.encoder, pairs, 6)
    decode = data.collator.encoder.tokenizer.decode
    # Each named person asked every other attribute in the sample's own phrasing, no picture,
    # and the model's own answer as the label (an empty self-answer is dropped).
    assert anchors and {a.key for a in anchors} <= set(wanted)
    assert all(wanted[a.key] in decode(a.prompt_ids) for a in anchors)
    assert all(a.image is None and a.answer_ids for a in anchors)
    # VERA takes them beside its memory anchors only when asked (`text_anchors`, off by default).
    off, on = (prepare(job, Vera.Params(text_anchors=t)) for t in (False, True))
    assert [s.key for s in on.recalled] == [s.key for s in off.recalled] + [a.key for a in anchors]
    # An answer that does not open with the name gives no anchors at all.
    reframed = [(dataclasses.replace(q, answer="Private: " + q.answer), s) for q, s in pairs]
    assert text_anchors(job.model, data.collator.encoder, reframed, 6) == []


def test_memory_anchors_ask_the_retain_pictures_what_the_sample_does_not(method_job) -> None:  # type: ignore[no-untyped-def]
    job = method_job(retain_budget=9)
    data = job.data
    pairs = list(zip(data.retain_questions, data.retain, strict=True))
    phrasings: dict[str | None, dict[str, str]] = {}
    for q in data.retain_questions:
        if q.kind == "image_memory":
            phrasings.setdefault(q.image_type, {}).setdefault(q.attribute, q.question)
    known = {(s.image, q.attribute) for q, s in pairs if q.kind == "image_memory"}
    kinds = {s.image: q.image_type for q, s in pairs if s.image is not None}
    wanted = {
        (image, attribute)
        for image, kind in kinds.items()
        for attribute in phrasings.get(kind, {})
        if (image, attribute) not in known
    }
    assert len(wanted) >= 4  # the sample asks each picture only some of its attributes
    anchors = memory_anchors(job.model, data.collator.encoder, pairs, 6)
    asked = {(a.image, a.key.rsplit(":", 1)[1]) for a in anchors}
    # Every picture is asked every attribute its type has a phrasing for, except what the
    # sample already answers (an empty self-answer is dropped, so at most those).
    assert anchors and asked <= wanted and len(asked) == len(anchors)
    prompts = {data.collator.encoder.tokenizer.decode(a.prompt_ids) for a in anchors}
    every = {text for by in phrasings.values() for text in by.values()}
    assert all(any(w in p for w in every) for p in prompts)
    assert all(a.answer_ids for a in anchors)
