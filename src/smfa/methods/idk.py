"""IDK tuning: fine-tune a LoRA adapter on the forget set relabelled with refusals ("I don't
know"), mixed with the few-shot retain sample. It is SMFA's Memory Forgetting Adapter alone.

Paper: the refusal-tuning baseline of TOFU (Maini et al., 2024, "TOFU: A Task of Fictitious
Unlearning for LLMs"), as used in the SMFA paper (arXiv 2511.20196) with LoRA r=16, alpha=16,
dropout 0.05, lr 1e-4, 5 epochs, batch 2. Here the LoRA shape, lr, epochs and batch come from
`unlearn.*`. Known failure: it over-generalizes, refusing retained people and general questions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from smfa.methods.base import Job, Method, MethodOutput, Variant, epochs_of
from smfa.models.adapters import attach_lora, dense_deltas, lora_session


class IDKTuning(Method):
    name = "idk"
    summary = "LoRA on forget-set refusals + few-shot retain (SMFA's forgetting adapter alone)"

    @dataclass
    class Params:
        pass

    def run(self, job: Job) -> MethodOutput:
        started = time.perf_counter()
        c = job.config
        mixture = epochs_of(job.data.forget_refusals + job.data.retain, c.epochs, c.seed)
        with lora_session(job.model) as session:
            session["model"] = attach_lora(job.model, job.lora, "forget", c.seed)
            result = job.train(session["model"], mixture, "idk: forget adapter")
            deltas = dense_deltas(session["model"], "forget")
            session["model"].save_pretrained(str(job.artifacts / "adapters"))
        return MethodOutput(
            variants={"": Variant({}, lambda: deltas)},
            stats={"steps": result.steps, "final_loss": result.final_loss},
            timings={"forget_adapter": round(time.perf_counter() - started, 3)},
        )
