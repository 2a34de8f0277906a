"""VERA: value erasure, refusal and visual anchors; forgetting meant to hold under attack.

SMFA (smfa.py) forgets by refusing: the value stays likely behind the refusal, so starting the
answer for the model (prefill), asking it to pick among options, or a little relearning brings
it back, and the refusal spreads to everything asked about the forget people's own pictures.
VERA trains one LoRA adapter on six terms at every step:

1. refusal: cross-entropy on the forget questions answered with pool refusals (SMFA's data);
2. value erasure: for each forget question whose answer states its value, the answer's words
   up to the value are given (the prefill attack's context: "Mivina Holwell's home city is")
   and the value's mean log-probability per token is pulled, by a smooth-L1 loss, to the level
   of values of the same attribute the model never learned, in the same context, less
   `margin`: the level the model being trained gives `live` of them at that step (gradient
   stopped), or, with `live=0`, the level the vanilla model gave them. A model that never knew
   the person sits at that level: greedy decoding after a prefill does not reach the value and
   a likelihood comparison does not prefer it. The live level matters: training lowers the
   never-learned values too, and a value held at the vanilla's level then still stands out.
   Pulled *to* a level, not without bound: a value made less likely than any stranger's
   reveals itself;
3. value holding: the few-shot retain sample's values under the same contexts, held at the
   vanilla model's own level (so the erasure stays with the forget people, not the templates);
4. retain: cross-entropy on the few-shot retain sample (SMFA's data);
5. visual anchors: the forget people's own training images asked the retain sample's
   non-private understanding questions (hair colour, background, ...), answered by the vanilla
   model itself (greedy, no labels), cross-entropy: who they are goes, what is seen stays;
   and memory anchors: the retain sample's pictures asked the attributes the sample does not
   answer for them, self-answered the same way (what erasure must leave alone);
6. relearning rehearsal (`rehearse` > 0; rehearsal.py): the weights take a simulated
   relearning step on the true answers of a random half of the attribute types, and the value
   erasure (and holding) of the other half is taken there, first order: the erasure is trained
   to stay where the relearning attack's first steps would take the weights.

Retain and anchor examples share one "keep" batch per step. Then, as SMFA does, a retaining
anchor adapter (retain sample + both kinds of anchors) sculpts the delta with knob `k` (`k < 0`: no
mask); `sweep` adds variants. Never-learned values come from the world's generators (another
seed than any evaluation's), or, for attributes without one (imported free text), from the
other values of that attribute the method was given.

Ideas used: pre-filled answer contexts as training data (Qi et al., 2024, "Safety Alignment
Should Be Made More Than Just a Few Tokens Deep"); a bounded target likelihood instead of
unbounded ascent (the collapse NPO avoids; Zhang et al., 2024); SMFA's sculpting (arXiv
2511.20196); self-distilled keep data (the model's own answers as targets). What each term
bought on the validation slice is in benchmarks/LOG.md (the VERA entries).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from smfa.data.batches import Collator, Sample
from smfa.errors import ConfigError
from smfa.methods.base import (
    Deltas,
    Job,
    Method,
    MethodOutput,
    Variant,
    answer_lengths,
    answer_logprobs,
    epochs_of,
    params_dict,
)
from smfa.methods.rehearsal import rehearsed, split_attributes
from smfa.methods.smfa import sculpt
from smfa.methods.vera_data import (
    alternatives,
    cycled,
    erasable,
    erase_sample,
    keep_stream,
    mean_logprobs,
    memory_anchors,
    visual_anchors,
)
from smfa.models.adapters import attach_lora, dense_deltas, lora_session

# (forget question answered by a refusal, its value-erasure sample or None, a keep sample,
# a retain value to hold or None)
Item = tuple[Sample, "Sample | None", Sample, "Sample | None"]


class Vera(Method):
    name = "vera"
    summary = (
        "LoRA: refusal + value erasure under prefill to a never-learned level + visual anchors"
    )

    @dataclass
    class Params:
        erase_weight: float = 1.0  # weight of the value-erasure (and value-holding) terms
        alternatives: int = 4  # never-learned values whose mean level is the target
        margin: float = 0.5  # nats per token the target sits below the alternatives' mean
        # Alternatives per forget value re-scored at every step by the model being trained
        # (gradient stopped), whose mean less `margin` is then the target: the level follows
        # the never-learned values as training moves them. 0: the vanilla's levels, fixed.
        live: int = 2
        value_tokens: int = 0  # how many of the value's first tokens are levelled (0: all)
        hold: bool = True  # retain values under the same contexts held at the vanilla's level
        anchors: bool = True  # self-distilled understanding questions on the forget images
        anchor_tokens: int = 8  # longest self-answer kept for an anchor
        # The retain sample's pictures asked the attributes the sample does not ask about
        # them, self-answered (vera_data.memory_anchors): kept beside the retain sample, in
        # the keep stream and in the retaining anchor
        memory_anchors: bool = True
        memory_tokens: int = 24  # longest self-answer kept for a memory anchor
        # The least share of the keep stream drawn from the visual anchors: few forget people
        # give few anchors (one person: 11 against 64 retain questions), too few to hold
        anchor_share: float = 0.4
        epochs: int = 2  # passes over the forget set (0: unlearn.epochs)
        # LoRA rank (and alpha) of VERA's two adapters; 0: unlearn.lora_r and lora_alpha. A
        # higher rank erases deeper (relearning recovers less) and, sculpted at k=1, keeps as much
        rank: int = 128
        # SMFA's sculpting against a retaining anchor (retain sample + both anchors); < 0: off
        k: float = 1.0
        sweep: list[float] = field(default_factory=list)  # extra k values, one variant each
        # Relearning rehearsal (rehearsal.py): weight of the erasure loss taken after
        # `rehearse_steps` simulated relearning steps of length `rehearse_radius`; 0: off
        rehearse: float = 0.5
        rehearse_radius: float = 0.5
        rehearse_steps: int = 1
        rehearse_hold: bool = True  # the held retain values levelled after the step as well
        rehearse_every: int = 1  # rehearse at one training step in this many (its cost)

    def run(self, job: Job) -> MethodOutput:
        p: Vera.Params = job.params or self.Params()
        if (
            p.erase_weight < 0
            or p.alternatives < 1
            or p.epochs < 0
            or p.anchor_tokens < 1
            or p.memory_tokens < 1
            or not 0.0 <= p.anchor_share < 1.0
            or p.rank < 0
            or not 0 <= p.live <= p.alternatives
            or p.rehearse < 0
            or p.rehearse_radius < 0
            or p.rehearse_steps < 1
            or p.rehearse_every < 1
        ):
            raise ConfigError(
                "methods.vera: erase_weight >= 0, alternatives >= 1, epochs >= 0, anchor_tokens "
                f"and memory_tokens >= 1, 0 <= anchor_share < 1, rank >= 0, 0 <= live <= "
                f"alternatives, rehearse >= 0, rehearse_radius >= 0, rehearse_steps >= 1 and "
                f"rehearse_every >= 1 (got {params_dict(p)})"
            )
        data, c = job.data, job.config
        if len(data.forget_questions) != len(data.forget) or len(data.retain_questions) != len(
            data.retain
        ):
            raise ConfigError("method vera needs the questions beside their samples")
        started = time.perf_counter()
        encoder = data.collator.encoder
        plain = Collator(encoder, train=True)
        pairs = list(zip(data.forget_questions, data.forget, strict=True))
        kept_pairs = list(zip(data.retain_questions, data.retain, strict=True))
        others: dict[str, list[str]] = defaultdict(list)
        for q in [*data.forget_questions, *data.retain_questions]:
            others[q.attribute].append(q.value)

        # Forget values: the target is the never-learned alternatives' mean level, less a margin.
        erase: dict[str, Sample] = {}
        n = p.value_tokens
        alts: dict[str, list[Sample]] = {}  # forget sample key -> its never-learned values
        for q, s in pairs:
            options = alternatives(q, p.alternatives, c.seed, others) if erasable(q) else []
            if options:
                erase[s.key] = erase_sample(encoder, q, s, q.value, s.key, n)
                alts[s.key] = [
                    erase_sample(encoder, q, s, o, f"{s.key}:alt{i}", n)
                    for i, o in enumerate(options)
                ]
        levels = iter(mean_logprobs(job.model, plain, [a for v in alts.values() for a in v], 32))
        targets = {key: sum(next(levels) for _ in v) / len(v) - p.margin for key, v in alts.items()}
        true_level = mean_logprobs(job.model, plain, list(erase.values()), 32)
        # Retain values under the same contexts: held where the vanilla model puts them.
        hold = [
            erase_sample(encoder, q, s, q.value, s.key, n)
            for q, s in kept_pairs
            if p.hold and erasable(q) and q.kind in ("image_memory", "text_memory")
        ]
        targets.update(
            zip([h.key for h in hold], mean_logprobs(job.model, plain, hold, 32), strict=True)
        )
        anchors = (
            visual_anchors(job.model, encoder, pairs, data.retain_questions, p.anchor_tokens)
            if p.anchors
            else []
        )
        recalled = (
            memory_anchors(job.model, encoder, kept_pairs, p.memory_tokens)
            if p.memory_anchors
            else []
        )
        prepared = time.perf_counter()

        refusals = {s.key: s for s in data.forget_refusals}
        order = epochs_of([s for _, s in pairs], p.epochs or c.epochs, c.seed)
        keep = keep_stream(data.retain + recalled, anchors, len(order), p.anchor_share, c.seed + 1)
        held = cycled(hold, len(order), c.seed + 2) if hold else [None] * len(order)
        items: list[Item] = [
            (refusals[s.key], erase.get(s.key), k, h)
            for s, k, h in zip(order, keep, held, strict=True)
        ]
        weight = p.erase_weight
        collator = data.collator
        attributes = sorted({q.attribute for q, s in pairs if s.key in erase})

        live = {key: v[: p.live] for key, v in alts.items() if p.live}

        def levelled(samples: Sequence[Sample]) -> dict[str, Any] | None:
            """Values to level, their targets, and the live alternatives scored beside them."""
            if not samples:
                return None
            scored = [a for e in samples for a in live.get(e.key, [])]
            return {
                "values": collator(samples),
                "target": torch.tensor([targets[x.key] for x in samples]),
                "alts": collator(scored) if scored else None,
                "owners": torch.tensor(
                    [i for i, e in enumerate(samples) for _ in live.get(e.key, [])],
                    dtype=torch.long,
                ),
            }

        def level_loss(model: Any, part: dict[str, Any]) -> torch.Tensor:
            level = answer_logprobs(model, part["values"]) / answer_lengths(part["values"])
            target = part["target"].to(level.device)
            if part["alts"] is not None:  # the alternatives' levels now, no gradient
                with torch.no_grad():
                    now = answer_logprobs(model, part["alts"]) / answer_lengths(part["alts"])
                target = live_levels(target, now, part["owners"], p.margin)
            gap = level - target
            return F.smooth_l1_loss(gap, torch.zeros_like(gap))

        # Relearning rehearsal: per step, a random half of the attribute types is relearned
        # (true answers) and the other half's values are levelled after it (rehearsal.py).
        teach = [
            (q.attribute, s)
            for q, s in pairs
            if q.kind in ("image_memory", "text_memory") and q.attribute in attributes
        ]
        probes = [(q.attribute, erase[s.key]) for q, s in pairs if s.key in erase]
        draw = np.random.default_rng([c.seed, 43])
        gains: list[float] = []
        ticks = itertools.count()  # rehearsals
        batches = itertools.count()  # training steps

        def rehearsal(size: int) -> dict[str, Any] | None:
            if len(attributes) < 2:
                return None
            taught, measured = split_attributes(attributes, draw)
            shown = [s for a, s in teach if a in taught]
            probed = [e for a, e in probes if a in measured]
            if not shown or not probed:
                return None
            shown = [shown[int(i)] for i in draw.permutation(len(shown))[:size]]
            probed = [probed[int(i)] for i in draw.permutation(len(probed))[:size]]
            if p.rehearse_hold and hold:  # retain values held after the relearning step too
                probed += [hold[int(i)] for i in draw.permutation(len(hold))[:size]]
            return {"relearn": collator(shown), "probe": levelled(probed)}

        def collate(batch: Sequence[Item]) -> dict[str, Any]:
            values = [e for _, e, _, _ in batch if e is not None]
            return {
                "refuse": collator([r for r, _, _, _ in batch]),
                "keep": collator([k for _, _, k, _ in batch]),
                "level": levelled(values + [h for _, _, _, h in batch if h is not None]),
                # The global batch's size, not this process's share: under data parallelism
                # every process rehearses the same draw, and the average is one process's.
                "rehearse": rehearsal(c.batch_size)
                if p.rehearse > 0 and next(batches) % p.rehearse_every == 0
                else None,
            }

        def loss_fn(model: Any, batch: dict[str, Any]) -> torch.Tensor:
            loss = torch.zeros(())
            if batch["rehearse"] is not None:  # first: it moves the weights and puts them back
                after, gain = rehearsed(
                    model,
                    batch["rehearse"]["relearn"],
                    lambda m: level_loss(m, batch["rehearse"]["probe"]),
                    p.rehearse_radius,
                    p.rehearse_steps,
                    measure=next(ticks) % 8 == 0,  # one step in 8 measures the attacker's gain
                )
                if math.isfinite(gain):
                    gains.append(gain)
                loss = p.rehearse * after
            loss = loss + model(**batch["refuse"]).loss + model(**batch["keep"]).loss
            if batch["level"] is not None and weight > 0:
                loss = loss + weight * level_loss(model, batch["level"])
            return loss

        lora = job.lora if not p.rank else dataclasses.replace(job.lora, r=p.rank, alpha=p.rank)
        with lora_session(job.model) as session:
            peft = attach_lora(job.model, lora, "forget", c.seed)
            session["model"] = peft
            result = job.train(
                peft, items, "vera: forget adapter", loss_fn=loss_fn, collate=collate
            )
            trained = time.perf_counter()
            after = mean_logprobs(peft, plain, list(erase.values()), 32)
            checked = time.perf_counter()
            deltas = dense_deltas(peft, "forget")
            anchor: Deltas = {}
            if p.k >= 0 or any(k >= 0 for k in p.sweep):
                session["model"] = attach_lora(session["model"], lora, "anchor", c.seed + 1)
                kept = data.retain + anchors + recalled
                rows = epochs_of(kept, p.epochs or c.epochs, c.seed + 1)
                job.train(session["model"], rows, "vera: retaining anchor")
                anchor = dense_deltas(session["model"], "anchor")
            session["model"].save_pretrained(str(job.artifacts / "adapters"))
        anchored = time.perf_counter()
        stats = {
            "steps": result.steps,
            "final_loss": result.final_loss,
            "erasable": len(erase),
            "held": len(hold),
            "anchors": len(anchors),
            "memory_anchors": len(recalled),
            # Mean (value level - target) over the forget values, before and after training.
            "value_gap_before": _mean_gap(erase, true_level, targets),
            "value_gap_after": _mean_gap(erase, after, targets),
            # What the simulated relearning steps lowered the relearning loss by, on average.
            "rehearsal_gain": sum(gains) / len(gains) if gains else 0.0,
        }
        variants: dict[str, Variant] = {}
        for k in dict.fromkeys([p.k, *p.sweep]):
            label = f"k={k:g}" if k >= 0 else "unmasked"
            params = {**params_dict(p), "k": k}
            if k < 0:
                variants[label] = Variant(params, lambda: deltas)
            else:
                variants[label] = Variant(
                    params,
                    lambda k=k: sculpt(deltas, anchor, k)[0],  # type: ignore[misc]
                )
        return MethodOutput(
            variants=variants,
            default=next(iter(variants)),
            stats=stats,
            timings={
                "prepare": round(prepared - started, 3),
                "forget_adapter": round(trained - prepared, 3),
                "check": round(checked - trained, 3),
                "anchor": round(anchored - checked, 3),
            },
        )


def live_levels(
    target: torch.Tensor, alternatives: torch.Tensor, owners: torch.Tensor, margin: float
) -> torch.Tensor:
    """`target` with every row that owns alternatives (`owners[i]`: the row of
    `alternatives[i]`) set to their mean level less `margin`; other rows unchanged."""
    owners = owners.to(target.device)
    sums = torch.zeros_like(target).index_add(0, owners, alternatives.to(target))
    counts = torch.zeros_like(target).index_add(0, owners, torch.ones_like(alternatives).to(target))
    return torch.where(counts > 0, sums / counts.clamp(min=1) - margin, target)


def _mean_gap(erase: dict[str, Sample], levels: list[float], targets: dict[str, float]) -> float:
    gaps = [level - targets[key] for key, level in zip(erase, levels, strict=True)]
    return sum(gaps) / len(gaps) if gaps else 0.0
