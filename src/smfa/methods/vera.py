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
   memory anchors: the retain sample's pictures asked the attributes the sample does not
   answer for them, self-answered the same way (what erasure must leave alone); with
   `text_anchors`, the people its text questions name are asked the other attributes by name;
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
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from smfa.data.batches import Collator, Sample
from smfa.errors import ConfigError, SmfaError
from smfa.methods.base import (
    Deltas,
    Job,
    Method,
    MethodOutput,
    Variant,
    check_knobs,
    epochs_of,
    params_dict,
)
from smfa.methods.levels import can_share
from smfa.methods.smfa import sculpt
from smfa.methods.vera_data import (
    alternatives,
    cycled,
    erasable,
    erase_sample,
    keep_stream,
    mean_logprobs,
    memory_anchors,
    text_anchors,
    visual_anchors,
)
from smfa.methods.vera_loss import Item, VeraLoss
from smfa.models.adapters import attach_lora, dense_deltas, lora_session
from smfa.models.dropout import gap_dropout
from smfa.train import TrainResult
from smfa.vocab import MEMORY_KINDS


class Vera(Method):
    name = "vera"
    summary = (
        "LoRA: refusal + value erasure under prefill to a never-learned level + visual anchors"
    )
    # 1: values and their alternatives on one prompt pass (levels.py); 2: the adapters' input
    # dropout drawn by its gaps (models/dropout.py: the same masks, another random stream)
    revision = 2  # text anchors (off by default) leave the default's computation as it was

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
        memory_tokens: int = 24  # longest self-answer kept for a memory or text anchor
        # The people the retain sample's text questions name, asked the other attributes those
        # questions ask, self-answered (vera_data.text_anchors): beside the memory anchors. Off:
        # they held retain memory where a model's text memory is fragile (smaller references,
        # validation: x0.916 -> x0.981), not on the demo's models (already 98.3%), where they
        # cost scene reading (x0.990 -> x0.901; benchmarks/LOG.md, 2026-12-08)
        text_anchors: bool = False
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

        def __post_init__(self) -> None:
            check_knobs("vera", self, [
                ("erase_weight", self.erase_weight >= 0, ">= 0"),
                ("alternatives", self.alternatives >= 1, ">= 1"),
                ("epochs", self.epochs >= 0, ">= 0"),
                ("anchor_tokens", self.anchor_tokens >= 1, ">= 1"),
                ("memory_tokens", self.memory_tokens >= 1, ">= 1"),
                ("anchor_share", 0.0 <= self.anchor_share < 1.0, "in [0, 1)"),
                ("rank", self.rank >= 0, ">= 0"),
                ("live", 0 <= self.live <= self.alternatives, "between 0 and alternatives"),
                ("rehearse", self.rehearse >= 0, ">= 0"),
                ("rehearse_radius", self.rehearse_radius >= 0, ">= 0"),
                ("rehearse_steps", self.rehearse_steps >= 1, ">= 1"),
                ("rehearse_every", self.rehearse_every >= 1, ">= 1"),
            ])  # fmt: skip

    def run(self, job: Job) -> MethodOutput:
        p: Vera.Params = job.params or self.Params()
        clock = [time.perf_counter()]
        data = prepare(job, p)
        clock.append(time.perf_counter())
        loss = VeraLoss(p, data, job.data.collator, job.config, can_share(job.model))
        lora = job.lora if not p.rank else dataclasses.replace(job.lora, r=p.rank, alpha=p.rank)
        with lora_session(job.model) as session:
            session["model"] = attach_lora(job.model, lora, "forget", job.config.seed)
            gap_dropout(session["model"], "forget")
            result = job.train(
                session["model"], data.items, "vera: forget adapter", loss, loss.collate
            )
            clock.append(time.perf_counter())
            plain = Collator(job.data.collator.encoder, train=True)
            after = mean_logprobs(session["model"], plain, list(data.erase.values()), 32)
            clock.append(time.perf_counter())
            deltas = dense_deltas(session["model"], "forget")
            anchor = _retaining_anchor(job, p, session, lora, data)
            session["model"].save_pretrained(str(job.artifacts / "adapters"))
        clock.append(time.perf_counter())
        stages = ("prepare", "forget_adapter", "check", "anchor")
        variants = _variants(p, deltas, anchor)
        return MethodOutput(
            variants=variants,
            default=next(iter(variants)),
            stats=_stats(result, data, after, loss),
            timings={
                s: round(b - a, 3) for s, a, b in zip(stages, clock[:-1], clock[1:], strict=True)
            },
        )


@dataclass
class Prepared:
    """What VERA trains on, built once before training (`prepare`)."""

    erase: dict[str, Sample]  # forget sample key -> its value under the answer's prefill
    alts: dict[str, list[Sample]]  # forget sample key -> never-learned values, same context
    targets: dict[str, float]  # value sample key -> the level it is pulled (or held) to
    true_level: list[float]  # the forget values' levels before training (as `erase`)
    hold: list[Sample]  # retain values under the same contexts, held where vanilla puts them
    anchors: list[Sample]  # the forget people's pictures asked understanding questions
    recalled: list[Sample]  # the retain sample's pictures asked what the sample lacks
    items: list[Item]  # one per training example: refusal, erasure, keep, hold
    attributes: list[str]  # the attribute types with a value to erase
    teach: list[tuple[str, Sample]]  # (attribute, true answer) a rehearsal relearns
    probes: list[tuple[str, Sample]]  # (attribute, value sample) a rehearsal levels


def prepare(job: Job, p: Vera.Params) -> Prepared:
    """Value samples and their targets, anchors, and the training stream, from the budget."""
    data, c = job.data, job.config
    if len(data.forget_questions) != len(data.forget) or len(data.retain_questions) != len(
        data.retain
    ):
        raise ConfigError("method vera needs the questions beside their samples")
    encoder = data.collator.encoder
    plain = Collator(encoder, train=True)
    pairs = list(zip(data.forget_questions, data.forget, strict=True))
    kept_pairs = list(zip(data.retain_questions, data.retain, strict=True))
    erase, alts = _values(job, p, pairs, kept_pairs)
    levels = iter(mean_logprobs(job.model, plain, [a for v in alts.values() for a in v], 32))
    targets = {key: sum(next(levels) for _ in v) / len(v) - p.margin for key, v in alts.items()}
    true_level = mean_logprobs(job.model, plain, list(erase.values()), 32)
    # Retain values under the same contexts: held where the vanilla model puts them.
    hold = [
        erase_sample(encoder, q, s, q.value, s.key, p.value_tokens)
        for q, s in kept_pairs
        if p.hold and erasable(q) and q.kind in MEMORY_KINDS
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
        memory_anchors(job.model, encoder, kept_pairs, p.memory_tokens) if p.memory_anchors else []
    )
    if p.text_anchors:
        recalled += text_anchors(job.model, encoder, kept_pairs, p.memory_tokens)
    refusals = {s.key: s for s in data.forget_refusals}
    order = epochs_of([s for _, s in pairs], p.epochs or c.epochs, c.seed)
    keep = keep_stream(data.retain + recalled, anchors, len(order), p.anchor_share, c.seed + 1)
    held = cycled(hold, len(order), c.seed + 2) if hold else [None] * len(order)
    items: list[Item] = [
        (refusals[s.key], erase.get(s.key), k, h) for s, k, h in zip(order, keep, held, strict=True)
    ]
    attributes = sorted({q.attribute for q, s in pairs if s.key in erase})
    teach = [
        (q.attribute, s) for q, s in pairs if q.kind in MEMORY_KINDS and q.attribute in attributes
    ]
    probes = [(q.attribute, erase[s.key]) for q, s in pairs if s.key in erase]
    return Prepared(
        erase, alts, targets, true_level, hold, anchors, recalled, items, attributes, teach, probes
    )


def _values(
    job: Job, p: Vera.Params, pairs: list[tuple[Any, Sample]], kept: list[tuple[Any, Sample]]
) -> tuple[dict[str, Sample], dict[str, list[Sample]]]:
    """Each forget value under its answer's prefill, and never-learned values in its place.

    Nothing to erase (no forget answer states a value, or no attribute has an alternative) is
    an error: a run that would only refuse is not VERA."""
    encoder, n = job.data.collator.encoder, p.value_tokens
    others: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for q, _ in [*pairs, *kept]:
        others[q.attribute_type].append((q.subject or "", q.value))
    erase: dict[str, Sample] = {}
    alts: dict[str, list[Sample]] = {}
    for q, s in pairs:
        options = alternatives(q, p.alternatives, job.config.seed, others) if erasable(q) else []
        if options:
            erase[s.key] = erase_sample(encoder, q, s, q.value, s.key, n)
            alts[s.key] = [
                erase_sample(encoder, q, s, o, f"{s.key}:alt{i}", n) for i, o in enumerate(options)
            ]
    if not erase:
        raise SmfaError(
            f"vera: nothing to erase in {len(pairs)} forget questions (no answer states a value "
            "that another value of its attribute could stand in for); use smfa or idk instead"
        )
    return erase, alts


def _retaining_anchor(
    job: Job, p: Vera.Params, session: dict[str, Any], lora: Any, data: Prepared
) -> Deltas:
    """SMFA's retaining anchor on the retain sample and both kinds of anchors (when sculpting)."""
    if p.k < 0 and all(k < 0 for k in p.sweep):
        return {}
    seed = job.config.seed + 1
    session["model"] = attach_lora(session["model"], lora, "anchor", seed)
    gap_dropout(session["model"], "anchor")
    kept = job.data.retain + data.anchors + data.recalled
    rows = epochs_of(kept, p.epochs or job.config.epochs, seed)
    job.train(session["model"], rows, "vera: retaining anchor")
    return dense_deltas(session["model"], "anchor")


def _variants(p: Vera.Params, deltas: Deltas, anchor: Deltas) -> dict[str, Variant]:
    """One variant per k (`k` and `sweep`): sculpted against the anchor, or unmasked (k < 0)."""
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
    return variants


def _stats(
    result: TrainResult, data: Prepared, after: list[float], loss: VeraLoss
) -> dict[str, Any]:
    return {
        "steps": result.steps,
        "final_loss": result.final_loss,
        "erasable": len(data.erase),
        "held": len(data.hold),
        "anchors": len(data.anchors),
        "memory_anchors": sum(not s.key.startswith("text:") for s in data.recalled),
        "text_anchors": sum(s.key.startswith("text:") for s in data.recalled),
        # Mean (value level - target) over the forget values, before and after training.
        "value_gap_before": _mean_gap(data.erase, data.true_level, data.targets),
        "value_gap_after": _mean_gap(data.erase, after, data.targets),
        # What the simulated relearning steps lowered the relearning loss by, on average.
        "rehearsal_gain": sum(loss.gains) / len(loss.gains) if loss.gains else 0.0,
    }


def _mean_gap(erase: dict[str, Sample], levels: list[float], targets: dict[str, float]) -> float:
    gaps = [level - targets[key] for key, level in zip(erase, levels, strict=True)]
    return sum(gaps) / len(gaps) if gaps else 0.0
