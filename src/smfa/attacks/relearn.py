"""Relearning: a small LoRA budget on some true facts of the forget people, leak on the others.

Knowledge that was suppressed rather than removed comes back quickly when the model is tuned on
related facts (Lynch et al., "Eight Methods to Evaluate Robust Unlearning in LLMs", 2024; Hu et
al., "Unlearning or Obfuscating?", 2024). Per seed, the forget people's attribute types are
split in two halves at random; a fresh LoRA adapter is trained for `eval.relearn_steps` steps on
the true answers of one half (training wordings and pictures), and the leak is measured on the
reported questions of the other half, which relearning never showed. The oracle under the same
budget is the floor (it never learned those values), the vanilla model the ceiling. Retain
recall after relearning is reported beside it. The given model is never changed: each seed
trains on a fresh copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from accelerate.utils import extract_model_from_parallel

from smfa.attacks.base import MEMORY_KINDS, Attack, Row, Target, ask, leak_hits, plain, rows
from smfa.config import EvalConfig, TrainConfig
from smfa.data.batches import Collator
from smfa.models.adapters import LoraSpec, attach_lora
from smfa.reference import encode_questions
from smfa.train import train_loop

BATCH = 8


def halves(attributes: list[str], seed: int) -> tuple[list[str], list[str]]:
    """(relearned, measured): a seeded split of the attribute types, the smaller half relearned."""
    order = [
        attributes[int(i)] for i in np.random.default_rng([seed, 29]).permutation(len(attributes))
    ]
    cut = len(order) // 2
    return sorted(order[:cut]), sorted(order[cut:])


class Relearn(Attack):
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

    def run(self, target: Target) -> list[Row]:
        world, config = target.world, target.config
        people = {q.subject for q in target.forget}
        attributes = sorted({q.attribute for q in target.forget})
        if len(attributes) < 2:
            return []
        forget_hits: list[tuple[Any, float]] = []
        retain_hits: list[float] = []
        per_seed: list[float] = []
        for seed in range(config.relearn_seeds):
            taught, measured = halves(attributes, seed)
            train = [
                q
                for q in world.questions
                if q.kind in MEMORY_KINDS
                and q.subject in people
                and q.attribute in taught
                and q.phrasing == "train"
                and q.view in (None, "train")
            ]
            probes = [q for q in target.forget if q.attribute in measured]
            if not train or not probes:
                continue
            model = self._relearned(target, train, seed)
            answers = ask(model, target, plain(target, probes), f"relearn {seed} · forget")
            hits = leak_hits(config, probes, answers)
            forget_hits += list(zip(probes, hits, strict=True))
            per_seed.append(sum(hits) / len(hits))
            if target.retain:
                answers = ask(
                    model, target, plain(target, target.retain), f"relearn {seed} · retain"
                )
                retain_hits += leak_hits(config, target.retain, answers)
            del model
        out = rows(self.name, "forget", [q for q, _ in forget_hits], [h for _, h in forget_hits])
        for row in out:
            if row["kind"] == "all":
                row["per_seed"] = [round(v, 4) for v in per_seed]
        if retain_hits:
            retain = target.retain * (len(retain_hits) // len(target.retain))
            out += rows(self.name, "retain", retain, retain_hits)
        return out

    def _relearned(self, target: Target, questions: list[Any], seed: int) -> Any:
        """A fresh copy of the model with a LoRA adapter trained on `questions`' true answers."""
        config = target.config
        model = target.load("fp32")
        samples = encode_questions(target.encoder, target.world, questions)
        rng = np.random.default_rng([seed, 31])
        order: list[Any] = []
        while len(order) < config.relearn_steps * BATCH:
            order += [samples[int(i)] for i in rng.permutation(len(samples))]
        order = order[: config.relearn_steps * BATCH]
        peft = attach_lora(model, LoraSpec(), "relearn", seed)
        settings = TrainConfig(
            seed=seed,
            threads=config.threads,
            batch_size=BATCH,
            lr=config.relearn_lr,
            warmup_ratio=0.1,
            weight_decay=0.0,
            max_grad_norm=1.0,
            bf16=True,
        )
        collator = Collator(target.encoder, train=True, augment_images=False, seed=seed)
        train_loop(peft, order, collator, settings, description="relearn", show_progress=False)
        # Training wrapped forward in bf16 autocast; ask the relearned model as a loaded one.
        peft = extract_model_from_parallel(peft, keep_fp32_wrapper=False)
        peft.eval()
        return peft.merge_and_unload()
