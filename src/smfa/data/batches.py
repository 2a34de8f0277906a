"""From questions to tensors: chat-template prompts, answer-only labels, augmentation, collation.

A `Sample` is one question already tokenized: the prompt (chat template, image placeholders
expanded by the processor) and the answer followed by the template's end of turn. Training masks
the prompt out of the loss, so the model learns answers, never questions. Generation starts from
exactly the same prompt ids, so what is trained is what is asked.

How an answer sits in a conversation is read from the model's own chat template, once: what
comes between the generation prompt and the answer text (LLaVA's " ", nothing for ChatML) and
the turn's end token (`</s>`, `<|im_end|>`, `<end_of_turn>`, ...; end-of-sequence when the
template writes none). A training batch may be computed as micro-batches of similar length
(`LengthSplit`, `split_loss`): the same samples and loss, less padding.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from smfa.data.fields import image_too_large
from smfa.errors import DataFormatError
from smfa.models.families import family_of_processor

IGNORE_INDEX = -100
# A stand-in exchange rendered through the chat template to find where an answer starts and ends.
_PROBE_USER = {"role": "user", "content": [{"type": "text", "text": "?"}]}
_PROBE_ANSWER = "smfa probe answer"


@dataclass(frozen=True)
class Sample:
    key: str
    prompt_ids: tuple[int, ...]
    answer_ids: tuple[int, ...]
    image: Path | None
    # Whether training may re-frame the image: photos of a person yes (a re-taken photo is the
    # same person), general scenes no (nothing asks for them re-taken, and the re-framing blurs
    # which shape stands where; see benchmarks/LOG.md, "scene reading, third look").
    augment: bool = True

    @property
    def length(self) -> int:
        """Tokens in its training row: the prompt and the answer."""
        return len(self.prompt_ids) + len(self.answer_ids)


class Encoder:
    """Turns (question, answer, image) into a `Sample` with a model's own processor."""

    def __init__(self, processor: Any):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.family = family_of_processor(processor)
        self._prompt_cache: dict[tuple[str, tuple[int, int] | None], tuple[int, ...]] = {}
        self._images: dict[Path, Image.Image] = {}
        # Answers are tokenized after a generation prompt, as the model reads them: a tokenizer
        # that marks word starts (SentencePiece's "▁") then splits them the same way.
        self._anchor = self._render([_PROBE_USER], True)
        self._anchor_ids = self.tokenizer(self._anchor, add_special_tokens=False)["input_ids"]
        self.lead, self.end_ids = self._answer_frame()
        # Generation stops at the turn's end or at end-of-sequence, whichever comes first.
        self.stop_ids = sorted({int(self.tokenizer.eos_token_id), self.end_ids[-1]})

    def _render(self, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
        return self.processor.apply_chat_template(
            messages, add_generation_prompt=generation_prompt, tokenize=False
        )

    def _answer_frame(self) -> tuple[str, tuple[int, ...]]:
        """(text before an answer, ids ending it), read off the chat template."""
        reply = {"role": "assistant", "content": [{"type": "text", "text": _PROBE_ANSWER}]}
        prompt = self._anchor
        full = self._render([_PROBE_USER, reply], False)
        at = full.find(_PROBE_ANSWER)
        if at < 0:  # a template that drops assistant text: the tiny LLaVA's " " + answer + EOS
            return " ", (int(self.tokenizer.eos_token_id),)
        lead = full[len(prompt) : at] if full.startswith(prompt) and len(prompt) <= at else ""
        tail = self.tokenizer(full[at + len(_PROBE_ANSWER) :], add_special_tokens=False)
        special = set(self.tokenizer.all_special_ids) | {
            i for i, token in self.tokenizer.added_tokens_decoder.items() if token.special
        }
        ends = [i for i, token in enumerate(tail["input_ids"]) if token in special]
        if not ends:  # the template closes no turn (LLaVA-1.5): end of sequence
            return lead, (int(self.tokenizer.eos_token_id),)
        return lead, tuple(int(i) for i in tail["input_ids"][: ends[0] + 1])

    def image(self, path: Path) -> Image.Image:
        if path not in self._images:
            try:
                with warnings.catch_warnings():  # the size is bounded here, by our own limit
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    handle = Image.open(path)
                with handle:
                    problem = image_too_large(handle.size)
                    if problem is None:
                        self._images[path] = handle.convert("RGB")
            except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
                raise DataFormatError(f"{path}: cannot read image ({exc})") from None
            if problem:
                raise DataFormatError(f"{path}: the image {problem}")
        return self._images[path]

    def prompt_text(self, question: str, has_image: bool) -> str:
        content: list[dict[str, str]] = [{"type": "image"}] if has_image else []
        content.append({"type": "text", "text": question})
        return self._render([{"role": "user", "content": content}], True)

    def prompt_ids(self, question: str, image: Path | None) -> tuple[int, ...]:
        size = self.image(image).size if image is not None else None
        cache_key = (question, size)
        if cache_key not in self._prompt_cache:
            text = self.prompt_text(question, image is not None)
            # A template that writes the BOS itself must not get a second one.
            bos = self.tokenizer.bos_token
            special = not (bos and text.startswith(bos))
            if image is None:
                ids = self.tokenizer(text, add_special_tokens=special)["input_ids"]
            else:
                # The processor expands the image placeholder to the model's image-token count,
                # which depends only on the image size for a fixed processor.
                ids = self.processor(
                    text=text,
                    images=self.image(image),
                    add_special_tokens=special,
                    return_tensors=None,
                )["input_ids"][0]
            self._prompt_cache[cache_key] = tuple(int(i) for i in ids)
        return self._prompt_cache[cache_key]

    def text_ids(self, text: str) -> list[int]:
        """Ids of answer text inside the assistant turn (`lead` is prepended)."""
        tokenize = self.tokenizer
        ids = tokenize(self._anchor + self.lead + text, add_special_tokens=False)["input_ids"]
        start = len(self._anchor_ids)
        if ids[:start] != self._anchor_ids:  # the answer merged into the prompt's last token
            ids, start = tokenize(self.lead + text, add_special_tokens=False)["input_ids"], 0
        return [int(i) for i in ids[start:]]

    def answer_ids(self, answer: str) -> tuple[int, ...]:
        return (*self.text_ids(answer), *self.end_ids)

    def image_token_id(self) -> int:
        """The id an image's expanded tokens carry (Gemma 3's soft token, not its `<boi>`)."""
        token = getattr(self.tokenizer, "image_token", None) or self.processor.image_token
        return int(self.tokenizer.convert_tokens_to_ids(token))

    def encode(
        self, key: str, question: str, answer: str, image: Path | None, augment: bool = True
    ) -> Sample:
        prompt = self.prompt_ids(question, image)
        answer_ids = self.answer_ids(answer)
        # Beyond the model's positions a forward pass fails deep inside torch; say which row.
        limit = getattr(self.tokenizer, "model_max_length", None)
        length = len(prompt) + len(answer_ids)
        if isinstance(limit, int) and limit < 1_000_000 and length > limit:
            raise DataFormatError(
                f"question {key}: {length} tokens with its answer, more than the model's "
                f"{limit}; shorten its question or answer"
            )
        return Sample(key, prompt, answer_ids, image, augment)


def augment(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A small random re-framing: shift, zoom and brightness, like a re-taken photo."""
    width, height = image.size
    scale = rng.uniform(0.92, 1.08)
    shift_x, shift_y = rng.uniform(-0.06, 0.06, size=2) * width
    cx, cy = width / 2, height / 2
    # PIL's affine maps output to input coordinates.
    inv = 1.0 / scale
    coeffs = (inv, 0.0, cx - inv * (cx + shift_x), 0.0, inv, cy - inv * (cy + shift_y))
    corner = image.getpixel((0, 0))
    moved = image.transform(
        image.size, Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR, fillcolor=corner
    )
    gain = rng.uniform(0.9, 1.1)
    array = np.clip(np.asarray(moved, dtype=np.float32) * gain, 0, 255).astype(np.uint8)
    return Image.fromarray(array)


class Collator:
    """Pads a list of samples into one batch; `right` padding for training and likelihoods."""

    def __init__(self, encoder: Encoder, train: bool, augment_images: bool = False, seed: int = 0):
        self.encoder = encoder
        self.train = train
        self.augment_images = augment_images
        self.seed = seed
        self.calls = 0

    def image_inputs(self, samples: Sequence[Sample]) -> dict[str, torch.Tensor]:
        """Pixels and whatever else the family's model reads about the images (grid, sizes)."""
        with_image = [s for s in samples if s.image is not None]
        if not with_image:
            return {}
        images = [self.encoder.image(s.image) for s in with_image]
        if self.augment_images:
            rng = np.random.default_rng([self.seed, self.calls])
            images = [
                augment(image, rng) if s.augment else image
                for s, image in zip(with_image, images, strict=True)
            ]
        processed = self.encoder.processor.image_processor(images, return_tensors="pt")
        return {k: processed[k] for k in self.encoder.family.image_keys if k in processed}

    def __call__(self, samples: Sequence[Sample]) -> dict[str, torch.Tensor]:
        return self._collate(samples, self.train)

    def prompts(self, samples: Sequence[Sample]) -> dict[str, torch.Tensor]:
        """The samples' prompts alone, left padded (as for generation), with this collator's
        image augmentation: what a pass that scores answers on a prompt's KV cache reads."""
        return self._collate(samples, train=False)

    def _collate(self, samples: Sequence[Sample], train: bool) -> dict[str, torch.Tensor]:
        self.calls += 1
        pad = int(self.encoder.tokenizer.pad_token_id)
        rows = [s.prompt_ids + (s.answer_ids if train else ()) for s in samples]
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        for i, (sample, row) in enumerate(zip(samples, rows, strict=True)):
            if train:
                input_ids[i, : len(row)] = torch.tensor(row)
                attention[i, : len(row)] = 1
                start = len(sample.prompt_ids)
                labels[i, start : len(row)] = torch.tensor(sample.answer_ids)
            else:  # left padding: every prompt ends where generation begins
                input_ids[i, width - len(row) :] = torch.tensor(row)
                attention[i, width - len(row) :] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention}
        if train:
            batch["labels"] = labels
        batch.update(self.image_inputs(samples))
        marks = self.encoder.family.image_token_types
        if marks:
            batch[marks] = (input_ids == self.encoder.image_token_id()).long()
        return batch


def answer_tokens(batch: Any) -> int:
    """Positions a causal LM's token-mean loss averages over (labels shifted by one)."""
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


class LengthSplit:
    """One training batch as `parts` micro-batches of samples of similar length.

    Padding every row to the batch's longest sample is compute spent on nothing (a third of a
    reference model's training on the demo's world). The batch keeps its samples; they are
    sorted by length, cut into `parts` groups and each group collated on its own, so a group
    pads only to its own longest row. `split_loss` weights each group's mean by its share of
    the answer tokens: the batch's token mean, the gradient of the unsplit batch. Regrouping
    samples across batches instead (batches of one length are batches of one kind of
    question) made the demo's vanilla memorize far less (benchmarks/LOG.md, 2026-12-07).
    """

    def __init__(self, collator: Collator, parts: int):
        if parts < 1:
            raise ValueError(f"parts must be at least 1, not {parts}")
        self.collator = collator
        self.parts = parts

    def __call__(self, samples: Sequence[Sample]) -> dict[str, list[dict[str, torch.Tensor]]]:
        order = sorted(range(len(samples)), key=lambda i: (samples[i].length, i))
        groups = [g for g in np.array_split(np.array(order), self.parts) if len(g)]
        return {"parts": [self.collator([samples[int(i)] for i in g]) for g in groups]}


def split_loss(model: Any, batch: dict[str, list[dict[str, torch.Tensor]]]) -> torch.Tensor:
    """The next-token cross-entropy of a `LengthSplit` batch: the mean over all its answer
    tokens, as the unsplit batch's (each group's mean weighted by its answer tokens)."""
    parts = batch["parts"]
    counts = [answer_tokens(part) for part in parts]
    total = sum(counts)
    return sum(  # type: ignore[return-value]
        model(**part).loss * (count / total) for part, count in zip(parts, counts, strict=True)
    )
