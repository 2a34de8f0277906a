"""Relearning: a small LoRA budget on some true facts of the forget people, leak on the others.

Knowledge that was suppressed rather than removed comes back quickly when the model is tuned on
related facts (Lynch et al., "Eight Methods to Evaluate Robust Unlearning in LLMs", 2024; Hu et
al., "Unlearning or Obfuscating?", 2024). Per seed, the forget people's attribute types are
split in two halves at random; a fresh LoRA adapter is trained for `eval.relearn_steps` steps on
the true answers of one half (training phrasings and pictures), and the leak is measured on the
reported questions of the other half, which relearning never showed. The oracle under the same
budget is the floor (it never learned those values), the vanilla model the ceiling. Retain
recall after relearning is reported beside it. The given model is never changed: each seed
trains on a fresh copy. `relearned` (a LoRA adapter or every language-model weight) and
`relearned_answers` are shared with the strong relearning attack (`smfa.attacks.relearn_strong`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from typing import Any

import numpy as np
import torch
from accelerate.utils import extract_model_from_parallel

from smfa.config import EvalConfig, LoopConfig
from smfa.data.batches import Collator
from smfa.data.records import Question, World
from smfa.eval.probe import Answer, Probe, Prompt, Session, generated
from smfa.models.adapters import LoraSpec, attach_lora
from smfa.models.families import text_stack
from smfa.protocol.questions import TRAINING_PHRASING, TRAINING_VIEWS
from smfa.reference import encode_questions
from smfa.train import NonFiniteLoss, train_loop
from smfa.vocab import MEMORY_KINDS, Split

BATCH = 8


def halves(attributes: list[str], seed: int) -> tuple[list[str], list[str]]:
    """(relearned, measured): a seeded split of the attribute types, the smaller half relearned."""
    order = [
        attributes[int(i)] for i in np.random.default_rng([seed, 29]).permutation(len(attributes))
    ]
    cut = len(order) // 2
    return sorted(order[:cut]), sorted(order[cut:])


def taught_questions(
    world: World, people: Collection[str], attributes: Collection[str]
) -> list[Question]:
    """What relearning trains on: `people`'s memory questions of `attributes`, in the training
    phrasing and pictures (never a question the attack then asks)."""
    return [
        q
        for q in world.questions
        if q.kind in MEMORY_KINDS
        and q.subject in people
        and q.attribute in attributes
        and q.phrasing == TRAINING_PHRASING
        and q.view in TRAINING_VIEWS
    ]


def relearned_answers(
    model: Any,
    session: Session,
    forget: list[Question],
    retain: list[Question],
    group: str,
    label: str,
) -> list[Answer]:
    """`forget` and the retain sample asked of a relearned model, greedily, as written."""
    out: list[Answer] = []
    for split, questions in ((Split.FORGET, forget), (Split.RETAIN, retain)):
        if not questions:
            continue
        prompts = [Prompt(q, q.question, session.image(q)) for q in questions]
        answers = generated(model, session, prompts, f"{label} · {split}")
        out += [Answer(q, split, a, group=group) for q, a in zip(questions, answers, strict=True)]
    return out


def language_weights(model: Any) -> list[torch.nn.Parameter]:
    """Every linear and embedding weight (and bias) of the language model and its output head;
    never the vision tower or the projector."""
    stack = text_stack(model)
    head = model.get_output_embeddings()
    found: dict[int, torch.nn.Parameter] = {}
    for name, module in model.named_modules():
        inside = f".{stack}." in f".{name}." or module is head
        if inside and isinstance(module, torch.nn.Linear | torch.nn.Embedding):
            found.update((id(p), p) for p in module.parameters(recurse=False))
    return list(found.values())


def relearned(
    session: Session,
    questions: list[Question],
    seed: int,
    steps: int,
    lr: float,
    mode: str = "lora",
) -> Any:
    """A fresh copy of the model tuned `steps` steps of `BATCH` on `questions`' true answers at
    `lr`: through a new LoRA adapter (r 16, the language model's projections; `mode` "lora")
    or on every linear and embedding weight of the language model ("full"). A loss that turns
    non-finite stops the tuning there: the copy keeps its last finite weights."""
    model = session.load("fp32")
    samples = encode_questions(session.encoder, session.world, questions)
    rng = np.random.default_rng([seed, 31])
    order: list[Any] = []
    while len(order) < steps * BATCH:
        order += [samples[int(i)] for i in rng.permutation(len(samples))]
    order = order[: steps * BATCH]
    if mode == "full":
        model.requires_grad_(False)
        for weight in language_weights(model):
            weight.requires_grad_(True)
        tuned = model
    else:
        tuned = attach_lora(model, LoraSpec(), "relearn", seed)
    settings = LoopConfig(
        seed=seed, threads=session.settings.threads, batch_size=BATCH, lr=lr, warmup_ratio=0.1
    )
    collator = Collator(session.encoder, train=True, augment_images=False, seed=seed)
    with contextlib.suppress(NonFiniteLoss):  # an attacker keeps the last finite weights
        train_loop(tuned, order, collator, settings, description="relearn", show_progress=False)
    # Training wrapped forward in bf16 autocast; ask the relearned model as a loaded one.
    tuned = extract_model_from_parallel(tuned, keep_fp32_wrapper=False)
    tuned.eval()
    tuned.requires_grad_(False)
    return tuned if mode == "full" else tuned.merge_and_unload()


class Relearn(Probe):
    name = "relearn"
    family = "relearn"
    summary = "LoRA on half the attribute types' true answers, leak on the other half"

    def settings(self, config: EvalConfig) -> dict[str, Any]:
        return {
            **super().settings(config),
            "steps": config.relearn_steps,
            "seeds": config.relearn_seeds,
            "lr": config.relearn_lr,
        }

    def ask(self, session: Session) -> list[Answer]:
        forget, retain = session.targets()
        people = {q.subject or "" for q in forget}
        attributes = sorted({q.attribute for q in forget})
        if len(attributes) < 2:
            return []
        config = session.settings
        out: list[Answer] = []
        for seed in range(config.relearn_seeds):
            taught, measured = halves(attributes, seed)
            train = taught_questions(session.world, people, taught)
            probes = [q for q in forget if q.attribute in measured]
            if not train or not probes:
                continue
            model = relearned(session, train, seed, config.relearn_steps, config.relearn_lr)
            out += relearned_answers(
                model, session, probes, retain, f"seed {seed}", f"relearn {seed}"
            )
            del model
        return out
