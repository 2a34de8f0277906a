"""Batching: answer-only labels, left-padded generation equal to one-by-one, seeded augmentation
of photos of people (never of scenes)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from smfa.data.batches import IGNORE_INDEX, Collator, Encoder, LengthSplit, augment, split_loss
from smfa.data.format import World
from smfa.eval.decode import answer_logprobs, generate
from smfa.reference import encode_questions


def _samples(processor: object, world: World, n: int = 6) -> tuple[Encoder, list]:
    encoder = Encoder(processor)
    questions = world.questions_where(kind="image_memory", probe=True)[: n // 2]
    questions += world.questions_where(kind="text_memory", probe=True)[: n - n // 2]
    samples = [
        encoder.encode(q.id, q.question, q.answer, world.image_path(q.image) if q.image else None)
        for q in questions
    ]
    return encoder, samples


def test_loss_covers_only_answer_tokens(tiny: tuple, mini_world: World) -> None:
    _, processor = tiny
    encoder, samples = _samples(processor, mini_world)
    batch = Collator(encoder, train=True)(samples)
    for row, sample in enumerate(samples):
        labelled = batch["labels"][row][batch["labels"][row] != IGNORE_INDEX].tolist()
        assert labelled == list(sample.answer_ids)
        assert labelled[-1] == processor.tokenizer.eos_token_id
        text = processor.tokenizer.decode(labelled, skip_special_tokens=True)
        assert text.strip() == mini_world.questions_where(id=sample.key)[0].answer
    assert int((batch["labels"] != IGNORE_INDEX).sum()) == sum(len(s.answer_ids) for s in samples)


def test_batched_generation_matches_one_by_one(tiny: tuple, mini_world: World) -> None:
    model, processor = tiny
    encoder, samples = _samples(processor, mini_world)
    together = generate(model, encoder, samples, batch_size=6, max_new_tokens=6)
    alone = [generate(model, encoder, [s], batch_size=1, max_new_tokens=6)[0] for s in samples]
    assert together == alone


def test_batched_logprobs_match_one_by_one(tiny: tuple, mini_world: World) -> None:
    model, processor = tiny
    encoder, samples = _samples(processor, mini_world)
    together = answer_logprobs(model, encoder, samples, batch_size=6)
    for sample, scores in zip(samples, together, strict=True):
        (alone,) = answer_logprobs(model, encoder, [sample], batch_size=1)
        assert len(scores) == len(sample.answer_ids)
        np.testing.assert_allclose(scores, alone, atol=1e-4)


def test_augmentation_is_seeded_and_small() -> None:
    image = Image.new("RGB", (32, 32), (40, 90, 200))
    image.paste((250, 250, 0), (8, 8, 24, 24))
    a = augment(image, np.random.default_rng(5))
    b = augment(image, np.random.default_rng(5))
    c = augment(image, np.random.default_rng(6))
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    # A re-framing, not a different picture: most pixels keep their colour family.
    diff = np.abs(np.asarray(a, dtype=int) - np.asarray(image, dtype=int)).mean()
    assert 0 < diff < 60


def test_training_batches_are_reproducible(tiny: tuple, mini_world: World) -> None:
    _, processor = tiny
    encoder, samples = _samples(processor, mini_world)
    first = Collator(encoder, train=True, augment_images=True, seed=1)(samples)
    second = Collator(encoder, train=True, augment_images=True, seed=1)(samples)
    assert torch.equal(first["pixel_values"], second["pixel_values"])


def test_training_reframes_photos_of_people_but_never_scenes(
    tiny: tuple, mini_world: World
) -> None:
    _, processor = tiny
    encoder = Encoder(processor)
    scene = mini_world.questions_where(kind="general_scene", probe=True)[0]
    portrait = mini_world.questions_where(kind="image_memory", probe=True)[0]
    samples = encode_questions(encoder, mini_world, [scene, portrait])
    assert [s.augment for s in samples] == [False, True]
    augmented = Collator(encoder, train=True, augment_images=True, seed=1)(samples)
    plain = Collator(encoder, train=True)(samples)
    assert torch.equal(augmented["pixel_values"][0], plain["pixel_values"][0])
    assert not torch.equal(augmented["pixel_values"][1], plain["pixel_values"][1])


def test_length_split_keeps_the_batch_and_its_loss_with_less_padding(
    tiny: tuple, mini_world: World
) -> None:
    model, processor = tiny
    encoder, samples = _samples(processor, mini_world, n=8)
    collator = Collator(encoder, train=True)
    whole = collator(samples)
    split = LengthSplit(collator, parts=3)(samples)
    parts = split["parts"]
    assert [len(p["input_ids"]) for p in parts] == [3, 3, 2]
    lengths = sorted(s.length for s in samples)
    # Each part padded only to its own longest sample: lengths sorted, cut 3 / 3 / 2.
    assert [p["input_ids"].shape[1] for p in parts] == [lengths[2], lengths[5], lengths[7]]
    assert sum(p["input_ids"].numel() for p in parts) < whole["input_ids"].numel()
    assert sum(int(p["attention_mask"].sum()) for p in parts) == int(whole["attention_mask"].sum())
    assert sum(len(p["pixel_values"]) for p in parts) == len(whole["pixel_values"])
    # The same loss as the whole batch (the mean over every answer token), and its gradient.
    whole_loss = model(**whole).loss
    (whole_grad,) = torch.autograd.grad(whole_loss, model.lm_head.weight)
    loss = split_loss(model, split)
    (grad,) = torch.autograd.grad(loss, model.lm_head.weight)
    assert torch.allclose(loss, whole_loss, atol=1e-5)
    assert torch.allclose(grad, whole_grad, atol=1e-6)
    single = LengthSplit(collator, parts=1)(samples)["parts"]
    assert len(single) == 1 and single[0]["input_ids"].shape == whole["input_ids"].shape
