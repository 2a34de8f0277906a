"""Decoding: batched greedy generation and teacher-forced log-probabilities (smfa.eval.decode)."""

from __future__ import annotations

import pytest

from smfa.data.batches import Encoder, Sample
from smfa.data.format import World
from smfa.eval import decode


def _candidates(encoder: Encoder, world: World) -> list[Sample]:
    """Questions with and without images, each with 1-4 candidate answers, interleaved."""
    picked = [q for q in world.questions if q.kind == "image_memory"][:3]
    picked += [q for q in world.questions if q.kind == "text_memory"][:3]
    samples = []
    for n, q in enumerate(picked):
        image = world.image_path(q.image) if q.image else None
        prompt = encoder.prompt_ids(q.question, image)
        for option in (q.value, *q.distractors)[: 1 + n % 4]:
            answer = encoder.answer_ids(q.answer.replace(q.value, option))
            samples.append(Sample(f"{q.id}:{option}", prompt, answer, image))
    samples.reverse()  # groups are found wherever their members sit
    return samples


@pytest.mark.parametrize("batch_size", [3, 64])
def test_shared_prompt_scores_equal_whole_sequence_scores(
    tiny: tuple, mini_world: World, monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> None:
    model, processor = tiny
    encoder = Encoder(processor)
    samples = _candidates(encoder, mini_world)
    assert len({s.prompt_ids for s in samples}) == 6 and len(samples) > 6
    assert decode.shares_prefix(model)
    shared = decode.answer_logprobs(model, encoder, samples, batch_size)
    monkeypatch.setattr(decode, "PREFIX_SHARING", frozenset())
    assert not decode.shares_prefix(model)
    whole = decode.answer_logprobs(model, encoder, samples, batch_size)
    for sample, a, b in zip(samples, shared, whole, strict=True):
        assert len(a) == len(b) == len(sample.answer_ids)
        assert a == pytest.approx(b, abs=1e-4)
