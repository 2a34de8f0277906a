"""Relearning: a small LoRA budget on some true facts of the forget people, leak on the others.

Knowledge that was suppressed rather than removed comes back quickly when the model is tuned on
related facts (Lynch et al., "Eight Methods to Evaluate Robust Unlearning in LLMs", 2024; Hu et
al., "Unlearning or Obfuscating?", 2024). Per seed, the forget people's attribute types are
split in two halves at random; a fresh LoRA adapter is trained for `eval.relearn_steps` steps on
the true answers of one half (training phrasings and pictures), and the leak is measured on the
reported questions of the other half, which relearning never showed. The oracle under the same
budget is the floor (it never learned those values), the vanilla model the ceiling. Retain
recall after relearning is reported beside it. The given model is never changed: each seed
trains on a fresh copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from accelerate.utils import extract_model_from_parallel

from smfa.config import EvalConfig, LoopConfig
from smfa.data.batches import Collator
from smfa.data.records import Question
from smfa.eval.probe import Answer, Probe, Prompt, Session, generated
from smfa.models.adapters import LoraSpec, attach_lora
from smfa.protocol.questions import TRAINING_PHRASING, TRAINING_VIEWS
from smfa.reference import encode_questions
from smfa.train import train_loop
from smfa.vocab import MEMORY_KINDS, Split

BATCH = 8


def halves(attributes: list[str], seed: int) -> tuple[list[str], list[str]]:
    """(relearned, measured): a seeded split of the attribute types, the smaller half relearned."""
    order = [
        attributes[int(i)] for i in np.random.default_rng([seed, 29]).permutation(len(attributes))
    ]
    cut = len(order) // 2
    return sorted(order[:cut]), sorted(order[cut:])


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
        people = {q.subject for q in forget}
        attributes = sorted({q.attribute for q in forget})
        if len(attributes) < 2:
            return []
        out: list[Answer] = []
        for seed in range(session.settings.relearn_seeds):
            taught, measured = halves(attributes, seed)
            train = [
                q
                for q in session.world.questions
                if q.kind in MEMORY_KINDS
                and q.subject in people
                and q.attribute in taught
                and q.phrasing == TRAINING_PHRASING
                and q.view in TRAINING_VIEWS
            ]
            probes = [q for q in forget if q.attribute in measured]
            if not train or not probes:
                continue
            model = self._relearned(session, train, seed)
            group = f"seed {seed}"
            for split, questions in ((Split.FORGET, probes), (Split.RETAIN, retain)):
                if not questions:
                    continue
                prompts = [Prompt(q, q.question, session.image(q)) for q in questions]
                label = f"relearn {seed} · {split}"
                answers = generated(model, session, prompts, label)
                out += [
                    Answer(q, split, a, group=group)
                    for q, a in zip(questions, answers, strict=True)
                ]
            del model
        return out

    def _relearned(self, session: Session, questions: list[Question], seed: int) -> Any:
        """A fresh copy of the model with a LoRA adapter trained on `questions`' true answers."""
        config = session.settings
        model = session.load("fp32")
        samples = encode_questions(session.encoder, session.world, questions)
        rng = np.random.default_rng([seed, 31])
        order: list[Any] = []
        while len(order) < config.relearn_steps * BATCH:
            order += [samples[int(i)] for i in rng.permutation(len(samples))]
        order = order[: config.relearn_steps * BATCH]
        peft = attach_lora(model, LoraSpec(), "relearn", seed)
        settings = LoopConfig(
            seed=seed, threads=config.threads, batch_size=BATCH, lr=config.relearn_lr,
            warmup_ratio=0.1,
        )  # fmt: skip
        collator = Collator(session.encoder, train=True, augment_images=False, seed=seed)
        train_loop(peft, order, collator, settings, description="relearn", show_progress=False)
        # Training wrapped forward in bf16 autocast; ask the relearned model as a loaded one.
        peft = extract_model_from_parallel(peft, keep_fp32_wrapper=False)
        peft.eval()
        return peft.merge_and_unload()
