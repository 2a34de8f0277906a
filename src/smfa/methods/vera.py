"""VERA: value erasure, refusal and visual anchors; forgetting meant to hold under attack.

SMFA (smfa.py) forgets by refusing: the value stays likely behind the refusal, so starting the
answer for the model (prefill), asking it to pick among options, or a little relearning brings
it back, and the refusal spreads to everything asked about the forget people's own pictures.
VERA trains one LoRA adapter on four terms at every step:

1. refusal: cross-entropy on the forget questions answered with pool refusals (SMFA's data);
2. value erasure: for each forget question whose answer states its value, the answer's words
   up to the value are given (the prefill attack's context: "Mivina Holwell's home city is")
   and the value's mean log-probability per token is pulled, by a smooth-L1 loss, to the level
   the vanilla model gives values of the same attribute it never learned, in the same context.
   A model that never knew the person sits at that level: greedy decoding after a prefill does
   not reach the value and a likelihood comparison does not prefer it. Pulled *to* the level,
   not below it: a value made less likely than any stranger's reveals itself as surely;
3. retain: cross-entropy on the few-shot retain sample (SMFA's data);
4. visual anchors: the forget people's own training images asked the retain sample's
   non-private understanding questions (hair colour, background, ...), answered by the vanilla
   model itself (greedy, no labels), cross-entropy: who they are goes, what is seen stays.

Retain and anchor examples share one "keep" batch per step. Never-learned values come from the
world's generators (another seed than any evaluation's), or, for attributes without one
(imported free text), from the other values of that attribute the method was given.

Ideas used: pre-filled answer contexts as training data (Qi et al., 2024, "Safety Alignment
Should Be Made More Than Just a Few Tokens Deep"); matching an "oracle-like" likelihood
instead of unbounded ascent (the collapse NPO avoids; Zhang et al., 2024); self-distilled
retain data (the model's own answers as targets, as in knowledge distillation).
"""

from __future__ import annotations

import math
import time
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from smfa.data.batches import Collator, Encoder, Sample
from smfa.data.records import Question
from smfa.errors import ConfigError
from smfa.methods.base import (
    Job,
    Method,
    MethodOutput,
    Variant,
    answer_lengths,
    answer_logprobs,
    epochs_of,
    params_dict,
)
from smfa.models.adapters import attach_lora, dense_deltas, lora_session
from smfa.world.names import GENERATORS, draw_values

Batch = dict[str, torch.Tensor]
# (forget question answered by a refusal, its value-erasure sample or None, a keep sample)
Item = tuple[Sample, "Sample | None", Sample]


def value_split(
    encoder: Encoder, answer: str, value: str, option: str
) -> tuple[list[int], list[int]]:
    """Answer ids up to the value, and the ids of `option` written where the value stands."""
    at = answer.find(value)
    before = answer[:at]
    head = encoder.text_ids(before.rstrip())
    full = encoder.text_ids(before + option)
    shared = 0
    while shared < min(len(head), len(full)) and head[shared] == full[shared]:
        shared += 1
    return full[:shared], full[shared:]


def erasable(question: Question) -> bool:
    """A question whose answer states its value after some words (what a prefill can reach)."""
    return bool(question.value) and question.answer.find(question.value) > 0


def alternatives(
    question: Question, count: int, seed: int, others: dict[str, list[str]]
) -> list[str]:
    """`count` values of the question's attribute that the model never learned for this person."""
    if question.attribute in GENERATORS and question.answer_type != "text":
        rng = np.random.default_rng([seed, zlib.crc32(question.id.encode()), 41])
        return draw_values(question.attribute, count, rng, exclude={question.value})
    pool = [v for v in dict.fromkeys(others.get(question.attribute, [])) if v != question.value]
    return pool[:count]


def erase_sample(
    encoder: Encoder, question: Question, sample: Sample, option: str, key: str
) -> Sample:
    """The question's prompt plus its answer's words up to the value; `option`'s ids as labels."""
    head, tail = value_split(encoder, question.answer, question.value, option)
    return Sample(key, sample.prompt_ids + tuple(head), tuple(tail), sample.image, sample.augment)


@torch.no_grad()
def mean_logprobs(
    model: Any, collator: Collator, samples: Sequence[Sample], batch: int
) -> list[float]:
    """Per sample, the mean log-probability per label token (eval mode, no augmentation)."""
    model.eval()
    out: list[float] = []
    for start in range(0, len(samples), batch):
        chunk = collator(samples[start : start + batch])
        out += (answer_logprobs(model, chunk) / answer_lengths(chunk)).tolist()
    return out


@torch.no_grad()
def self_answers(
    model: Any, encoder: Encoder, asked: Sequence[tuple[str, str, Any]], max_tokens: int
) -> list[Sample]:
    """(key, question, image) asked of the plain model; its greedy answers as training samples."""
    model.eval()
    collate = Collator(encoder, train=False)
    out: list[Sample] = []
    for start in range(0, len(asked), 16):
        chunk = asked[start : start + 16]
        prompts = [Sample(k, encoder.prompt_ids(q, image), (), image) for k, q, image in chunk]
        batch = collate(prompts)
        generated = model.generate(
            **batch,
            max_new_tokens=max_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=encoder.tokenizer.pad_token_id,
            eos_token_id=encoder.stop_ids,
        )[:, batch["input_ids"].shape[1] :]
        texts = encoder.tokenizer.batch_decode(generated, skip_special_tokens=True)
        for (key, question, image), text in zip(chunk, texts, strict=True):
            if text.strip():
                out.append(encoder.encode(key, question, text.strip(), image))
    return out


def visual_anchors(
    model: Any,
    encoder: Encoder,
    forget: Sequence[tuple[Question, Sample]],
    retain: Sequence[Question],
    max_tokens: int,
) -> list[Sample]:
    """The forget people's training images asked the retain sample's understanding questions."""
    wordings: dict[str | None, list[str]] = defaultdict(list)
    for q in retain:
        if q.kind == "image_understanding" and q.question not in wordings[q.image_type]:
            wordings[q.image_type].append(q.question)
    images = {s.image: q.image_type for q, s in forget if s.image is not None}
    asked = [
        (f"anchor:{image.name}:{i}", text, image)
        for image, kind in sorted(images.items(), key=lambda x: str(x[0]))
        for i, text in enumerate(wordings.get(kind, []))
    ]
    return self_answers(model, encoder, asked, max_tokens)


class Vera(Method):
    name = "vera"
    summary = (
        "LoRA: refusal + value erasure under prefill to a never-learned level + visual anchors"
    )

    @dataclass
    class Params:
        erase_weight: float = 1.0  # weight of the value-erasure term
        alternatives: int = 4  # never-learned values whose mean level is the target
        anchors: bool = True  # self-distilled understanding questions on the forget images
        anchor_tokens: int = 8  # longest self-answer kept for an anchor
        epochs: int = 3  # passes over the forget set (0: unlearn.epochs)

    def run(self, job: Job) -> MethodOutput:
        p: Vera.Params = job.params or self.Params()
        if p.erase_weight < 0 or p.alternatives < 1 or p.epochs < 0 or p.anchor_tokens < 1:
            raise ConfigError(
                "methods.vera: erase_weight >= 0, alternatives >= 1, epochs >= 0 and "
                f"anchor_tokens >= 1 (got {params_dict(p)})"
            )
        data, c = job.data, job.config
        if len(data.forget_questions) != len(data.forget):
            raise ConfigError("method vera needs the forget questions beside their samples")
        started = time.perf_counter()
        encoder = data.collator.encoder
        plain = Collator(encoder, train=True)
        pairs = list(zip(data.forget_questions, data.forget, strict=True))
        others: dict[str, list[str]] = defaultdict(list)
        for q in [*data.forget_questions, *data.retain_questions]:
            others[q.attribute].append(q.value)

        erase: dict[str, Sample] = {}
        targets: dict[str, float] = {}
        alt_samples: list[Sample] = []
        owners: list[str] = []
        for q, s in pairs:
            options = alternatives(q, p.alternatives, c.seed, others) if erasable(q) else []
            if options:
                erase[s.key] = erase_sample(encoder, q, s, q.value, s.key)
                for i, option in enumerate(options):
                    alt_samples.append(erase_sample(encoder, q, s, option, f"{s.key}:alt{i}"))
                    owners.append(s.key)
        scores: dict[str, list[float]] = defaultdict(list)
        for key, score in zip(
            owners, mean_logprobs(job.model, plain, alt_samples, 32), strict=True
        ):
            scores[key].append(score)
        targets = {key: sum(v) / len(v) for key, v in scores.items()}
        true_level = mean_logprobs(job.model, plain, list(erase.values()), 32)
        anchors = (
            visual_anchors(job.model, encoder, pairs, data.retain_questions, p.anchor_tokens)
            if p.anchors
            else []
        )
        prepared = time.perf_counter()

        epochs = p.epochs or c.epochs
        refusals = {s.key: s for s in data.forget_refusals}
        order = epochs_of([s for _, s in pairs], epochs, c.seed)
        keep_pool = data.retain + anchors
        keep = epochs_of(keep_pool, math.ceil(len(order) / len(keep_pool)), c.seed + 1)
        items: list[Item] = [
            (refusals[s.key], erase.get(s.key), k) for s, k in zip(order, keep, strict=False)
        ]
        weight = p.erase_weight
        collator = data.collator

        def collate(batch: Sequence[Item]) -> dict[str, Any]:
            erased = [e for _, e, _ in batch if e is not None]
            return {
                "refuse": collator([r for r, _, _ in batch]),
                "keep": collator([k for _, _, k in batch]),
                "erase": collator(erased) if erased else None,
                "target": torch.tensor([targets[e.key] for e in erased]),
            }

        def loss_fn(model: Any, batch: dict[str, Any]) -> torch.Tensor:
            loss = model(**batch["refuse"]).loss + model(**batch["keep"]).loss
            if batch["erase"] is not None and weight > 0:
                level = answer_logprobs(model, batch["erase"]) / answer_lengths(batch["erase"])
                gap = level - batch["target"].to(level.device)
                loss = loss + weight * F.smooth_l1_loss(gap, torch.zeros_like(gap))
            return loss

        with lora_session(job.model) as session:
            peft = attach_lora(job.model, job.lora, "forget", c.seed)
            session["model"] = peft
            result = job.train(
                peft, items, "vera: forget adapter", loss_fn=loss_fn, collate=collate
            )
            trained = time.perf_counter()
            after = mean_logprobs(peft, plain, list(erase.values()), 32)
            deltas = dense_deltas(peft, "forget")
            peft.save_pretrained(str(job.artifacts / "adapters"))
        gaps = [t - targets[k] for k, t in zip(erase, true_level, strict=True)]
        gaps_after = [t - targets[k] for k, t in zip(erase, after, strict=True)]
        stats = {
            "steps": result.steps,
            "final_loss": result.final_loss,
            "erasable": len(erase),
            "anchors": len(anchors),
            "value_gap_before": sum(gaps) / len(gaps) if gaps else 0.0,
            "value_gap_after": sum(gaps_after) / len(gaps_after) if gaps_after else 0.0,
        }
        return MethodOutput(
            variants={"": Variant(params_dict(p), lambda: deltas)},
            stats=stats,
            timings={
                "prepare": round(prepared - started, 3),
                "forget_adapter": round(trained - prepared, 3),
                "deltas": round(time.perf_counter() - trained, 3),
            },
        )
