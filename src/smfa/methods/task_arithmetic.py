"""Task arithmetic (task negation): learn the forget task harder, then subtract what was learned.

This module owns the `task_arithmetic` method. It fine-tunes a LoRA adapter on the forget set
with its TRUE answers, takes the adapter's dense delta as the task vector tau (PEFT's
`scaling * B @ A` per adapted matrix) and returns `-scale * tau`, so the merged model is
`W0 - scale * tau`. Nothing else is trained; the retain sample is not used.

Paper: Ilharco et al., 2023, "Editing Models with Task Arithmetic" (ICLR). A task vector is
`tau = theta_ft - theta_pre`; negating it (`theta_pre - lambda * tau`) makes a model forget the
task. The scaling coefficient lambda is chosen on held-out validation data (the paper searches
lambda in {0.0, 0.05, ..., 1.0}; the values it picks for negation are typically 0.3-1.0). The
paper fine-tunes every weight; here, like the other baselines, the task vector is a LoRA
adapter of the shape and targets in `unlearn.lora_*` (language model only by default), trained
with `unlearn.lr`, `unlearn.epochs` and `unlearn.batch_size`. `scale` defaults to 1.0 (plain
negation); pick it on the validation phrasings like the paper does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from smfa.errors import ConfigError
from smfa.methods.base import Deltas, Job, Method, MethodOutput, Variant, epochs_of
from smfa.models.adapters import attach_lora, dense_deltas, lora_session

ADAPTER = "task"


def negate(tau: Deltas, scale: float) -> Deltas:
    """The negated, scaled task vector `-scale * tau`, one dense delta per matrix."""
    return {name: -scale * delta for name, delta in tau.items()}


class TaskArithmetic(Method):
    name = "task_arithmetic"
    summary = "LoRA on forget-set true answers (task vector tau), returned as -scale * tau"

    @dataclass
    class Params:
        scale: float = 1.0  # lambda in W0 - lambda * tau; the paper picks it on validation

    def run(self, job: Job) -> MethodOutput:
        params: TaskArithmetic.Params = job.params or TaskArithmetic.Params()
        if not math.isfinite(params.scale):
            raise ConfigError(f"methods.{self.name}.scale must be finite, got {params.scale}")
        started = time.perf_counter()
        c = job.config
        schedule = epochs_of(job.data.forget, c.epochs, c.seed)
        with lora_session(job.model) as session:
            session["model"] = attach_lora(job.model, job.lora, ADAPTER, c.seed)
            result = job.train(session["model"], schedule, "task_arithmetic: task vector")
            tau = dense_deltas(session["model"], ADAPTER)
            session["model"].save_pretrained(str(job.artifacts / "adapters"))
        deltas = negate(tau, params.scale)
        tau_norm = math.sqrt(sum(float(t.pow(2).sum()) for t in tau.values()))
        return MethodOutput(
            variants={"": Variant({"scale": params.scale}, lambda: deltas)},
            stats={
                "steps": result.steps,
                "final_loss": result.final_loss,  # forget NLL while learning the task vector
                "tau_norm": tau_norm,
                "matrices": len(tau),
            },
            timings={"task_vector": round(time.perf_counter() - started, 3)},
        )
