"""The two ways the instrument questions a model: generation and teacher forcing.

`generate` answers many questions in batches (left padding, KV cache, greedy or seeded sampling,
stop at the end of the assistant's turn). `answer_logprobs` scores given answers token by token
under teacher forcing, which is what catches knowledge that greedy decoding hides; candidates
that share a prompt share its encoding. `token_statistics` adds, per answer token, the mean and
spread of the log-probability over the vocabulary (membership inference's Min-K%++). All sort
by length to waste little on padding and return results in the input order. None knows what is
being measured. Launched as several processes, each runs whole batches of the same
length-sorted order (round-robin) and the results are gathered, so every answer is the one a
single process computes.
"""

from __future__ import annotations

import inspect
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import torch

from smfa.data.batches import IGNORE_INDEX, Collator, Encoder, Sample
from smfa.distributed import gather_pairs, mine_of
from smfa.models.logprobs import log_distribution, token_logprobs

Tick = Callable[[int], None]


def _order(samples: Sequence[Sample]) -> list[int]:
    return sorted(
        range(len(samples)),
        key=lambda i: (samples[i].image is None, len(samples[i].prompt_ids), i),
    )


def _batches(samples: Sequence[Sample], batch_size: int) -> list[list[int]]:
    """Sample indices in length order, cut into batches: the same cut for any process count."""
    order = _order(samples)
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def _in_input_order(local: list[tuple[int, Any]], count: int, empty: Any) -> list[Any]:
    """Every process's (index, result) pairs gathered, as one list in the input order."""
    out = [empty] * count
    for i, value in gather_pairs(local):
        out[i] = value
    return out


# Sampling at temperature 1 from the whole distribution, whatever a checkpoint's own
# generation config says (no top-k, no nucleus).
SAMPLING = {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0}


def batch_seed(seed: int, keys: Sequence[str]) -> int:
    """The torch seed of one sampled batch: the run's seed and the batch's sample keys, so a
    batch samples the same answers whichever process runs it, in whatever order."""
    # 32 bits: torch's CPU generator keeps only the low 32 bits of a seed.
    return zlib.crc32("\n".join([str(seed), *keys]).encode("utf-8"))


@torch.inference_mode()
def generate(
    model: Any,
    encoder: Encoder,
    samples: Sequence[Sample],
    batch_size: int = 64,
    max_new_tokens: int = 24,
    tick: Tick | None = None,
    seed: int | None = None,
) -> list[str]:
    """Greedy answers to the prompts of `samples` (their answer ids are ignored); with a `seed`,
    answers sampled at temperature 1, each batch seeded by `batch_seed` (the global random
    state is restored afterwards)."""
    model.eval()
    collate = Collator(encoder, train=False)
    tokenizer = encoder.tokenizer
    device = next(model.parameters()).device
    decoding = {"do_sample": False} if seed is None else SAMPLING
    local: list[tuple[int, str]] = []
    for _, index in mine_of(_batches(samples, batch_size)):
        batch = {k: v.to(device) for k, v in collate([samples[i] for i in index]).items()}
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            if seed is not None:
                torch.manual_seed(batch_seed(seed, [samples[i].key for i in index]))
            output = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                num_beams=1,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=encoder.stop_ids,
                **decoding,
            )
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        local += [(i, text.strip()) for i, text in zip(index, texts, strict=True)]
        if tick is not None:
            tick(len(index))
    return _in_input_order(local, len(samples), "")


@torch.inference_mode()
def token_statistics(
    model: Any,
    encoder: Encoder,
    samples: Sequence[Sample],
    batch_size: int = 64,
    tick: Tick | None = None,
) -> list[list[tuple[float, float, float]]]:
    """Per answer token (EOS included), teacher-forced: its log-probability, and the mean and
    standard deviation of the log-probability under the model's next-token distribution there
    (what Min-K%++ standardizes by). Only the answer positions' logits are kept."""
    model.eval()
    collate = Collator(encoder, train=True)
    device = next(model.parameters()).device
    keeps = "logits_to_keep" in inspect.signature(model.forward).parameters
    local: list[tuple[int, list[tuple[float, float, float]]]] = []
    for _, index in mine_of(_batches(samples, batch_size)):
        batch = {k: v.to(device) for k, v in collate([samples[i] for i in index]).items()}
        labels = batch.pop("labels")
        width = labels.shape[1]
        # Right padding: every answer lies in the last `kept` positions' predictions.
        kept = width - min(len(samples[i].prompt_ids) for i in index) + 1 if keeps else width
        extra = {"logits_to_keep": kept} if keeps else {}
        logits = model(**batch, **extra).logits[:, -kept:-1].float()
        targets = labels[:, width - kept + 1 :]
        mask = targets != IGNORE_INDEX
        logprobs = torch.log_softmax(logits[mask], dim=-1)  # (answer tokens, vocabulary)
        picked = logprobs.gather(-1, targets[mask].unsqueeze(-1)).squeeze(-1)
        probs = logprobs.exp()
        mean = (probs * logprobs).sum(-1)
        std = ((probs * logprobs.square()).sum(-1) - mean.square()).clamp(min=0).sqrt()
        rows = torch.stack([picked, mean, std], dim=-1).split(mask.sum(-1).tolist())
        local += [(i, [tuple(t) for t in row.tolist()]) for i, row in zip(index, rows, strict=True)]
        if tick is not None:
            tick(len(index))
    return _in_input_order(local, len(samples), [])


# Model types whose positions are plain 1-D counts, so a cached prompt can be continued with
# explicit position ids; others (Qwen2-VL's 3-D rotary positions, ...) score whole sequences.
PREFIX_SHARING = frozenset({"llava"})


def shares_prefix(model: Any) -> bool:
    return getattr(getattr(model, "config", None), "model_type", None) in PREFIX_SHARING


def _cache_name(model: Any) -> str:
    """The forward argument that carries a KV cache (`cache` since transformers 5.2x), as the
    model under data parallelism's and PEFT's wrappers names it (the wrappers take **kwargs)."""
    inner = getattr(model, "module", model)
    inner = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    names = inspect.signature(inner.forward).parameters
    return "cache" if "cache" in names else "past_key_values"


@torch.inference_mode()
def answer_logprobs(
    model: Any,
    encoder: Encoder,
    samples: Sequence[Sample],
    batch_size: int = 64,
    tick: Tick | None = None,
) -> list[list[float]]:
    """Per-token log-probabilities of each sample's answer ids (EOS included)."""
    if shares_prefix(model):
        return shared_prompt_logprobs(model, encoder, samples, batch_size, tick)
    model.eval()
    collate = Collator(encoder, train=True)
    device = next(model.parameters()).device
    local: list[tuple[int, list[float]]] = []
    for _, index in mine_of(_batches(samples, batch_size)):
        batch = {k: v.to(device) for k, v in collate([samples[i] for i in index]).items()}
        labels = batch.pop("labels")
        targets = labels[:, 1:]
        mask = targets != IGNORE_INDEX
        picked = token_logprobs(model(**batch).logits[:, :-1], targets)
        local += [(i, picked[row][mask[row]].tolist()) for row, i in enumerate(index)]
        if tick is not None:
            tick(len(index))
    return _in_input_order(local, len(samples), [])


def _prompt_groups(samples: Sequence[Sample]) -> list[list[int]]:
    """Indices of samples grouped by identical prompt (ids and image), short prompts first."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, sample in enumerate(samples):
        groups.setdefault((sample.prompt_ids, sample.image), []).append(i)
    members = list(groups.values())
    return [members[g] for g in _order([samples[m[0]] for m in members])]


def _chunks(groups: list[list[int]], batch_size: int) -> list[list[list[int]]]:
    """Consecutive whole groups of about `batch_size` samples (a larger group goes alone)."""
    chunks: list[list[list[int]]] = []
    rows = batch_size
    for group in groups:
        if rows + len(group) > batch_size:
            chunks.append([])
            rows = 0
        chunks[-1].append(group)
        rows += len(group)
    return chunks


def answer_rows(answers: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Answer ids right padded with `pad` into one tensor, and the mask of their real tokens."""
    width = max([1, *(len(a) for a in answers)])
    ids = torch.full((len(answers), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, answer in enumerate(answers):
        ids[row, : len(answer)] = torch.tensor(answer, dtype=torch.long)
        mask[row, : len(answer)] = 1
    return ids, mask


def answers_on_cache(
    model: Any,
    cache_arg: str,
    cache: Any,
    past_mask: torch.Tensor,
    first: torch.Tensor,
    ids: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """Per-token log-probabilities of answer rows `ids` (right padded, `mask`) run on `cache`,
    the KV cache of their prompts (one row each, attention mask `past_mask`, left padded);
    `first` is each prompt's log-distribution for the answer's first token."""
    logits = model(
        input_ids=ids,
        attention_mask=torch.cat([past_mask, mask], dim=1),
        position_ids=past_mask.sum(-1, keepdim=True)
        + torch.arange(ids.shape[1], device=ids.device),
        **{cache_arg: cache},
    ).logits
    head = first.gather(-1, ids[:, :1])
    return torch.cat([head, token_logprobs(logits[:, :-1], ids[:, 1:])], dim=1)


@torch.inference_mode()
def shared_prompt_logprobs(
    model: Any,
    encoder: Encoder,
    samples: Sequence[Sample],
    batch_size: int = 64,
    tick: Tick | None = None,
) -> list[list[float]]:
    """`answer_logprobs` that runs each distinct prompt once.

    Teacher forcing asks one question with several candidate answers (the true value and its
    distractors). The prompt, image tokens and all, is encoded once (left padded, positions
    counted from its first real token) and its KV cache repeated for every candidate; only the
    candidates' tokens run again. The result equals scoring each whole sequence, up to float
    rounding.
    """
    model.eval()
    collate = Collator(encoder, train=False)
    pad = int(encoder.tokenizer.pad_token_id)
    device = next(model.parameters()).device
    cache_arg = _cache_name(model)
    local: list[tuple[int, list[float]]] = []
    for _, chunk in mine_of(_chunks(_prompt_groups(samples), batch_size)):
        batch = {k: v.to(device) for k, v in collate([samples[g[0]] for g in chunk]).items()}
        prompt_mask = batch["attention_mask"]
        positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
        out = model(**batch, position_ids=positions, use_cache=True, logits_to_keep=1)
        first = log_distribution(out.logits[:, -1])
        owner = torch.tensor([gi for gi, g in enumerate(chunk) for _ in g], device=device)
        members = [i for g in chunk for i in g]
        cache = getattr(out, cache_arg)
        cache.reorder_cache(owner)
        answers = [samples[i].answer_ids for i in members]
        ids, mask = (t.to(device) for t in answer_rows(answers, pad))
        past_mask, heads = prompt_mask[owner], first[owner]
        picked = answers_on_cache(model, cache_arg, cache, past_mask, heads, ids, mask)
        local += [(i, picked[row, : len(answers[row])].tolist()) for row, i in enumerate(members)]
        if tick is not None:
            tick(len(members))
    return _in_input_order(local, len(samples), [])
