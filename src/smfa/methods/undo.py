"""UNDO: distil a value-erased teacher into shrunk-and-perturbed weights.

After "Distillation Robustifies Unlearning" (Lee et al., 2025, arXiv 2506.06278): unlearning
that only suppresses leaves the values encoded in the weights, where a little fine-tuning finds
them again. UNDO unlearns (the teacher), damages a copy of the weights (shrink and perturb,
Ash & Adams, 2020, arXiv 1910.08475: w' = (1 - alpha) * w + alpha * beta * noise) and distils
the teacher's output distributions into the damaged copy: only what the teacher expresses is
restored, and the latent capacity the teacher no longer shows is what the noise took.

Here:

1. teacher: VERA (vera.py) run on the budget as it stands (its defaults; `teacher_k`,
   `teacher_rank`, `teacher_epochs`, `teacher_rehearse_every`, `teacher_text_anchors` are its
   knobs of those names; `teacher_text_anchors` stays off even where VERA's are turned on:
   with them, relearning brought back 8.2% of the student's forget values instead of 1.6%, on
   validation), its default variant merged onto a copy of the model;
2. student: a copy of the teacher (`start=teacher`, the paper's; `vanilla`: of the model
   given) whose adapted language-model matrices (`unlearn.lora_targets`) are shrunk and
   perturbed, seeded: w' = (1 - alpha) * w + alpha * beta * rms(w) * N(0, 1);
3. distillation: full-weight training of those matrices on KL(teacher || student) at every
   position of the distillation inputs (`positions=all`; `answer`: the answers only), all from
   the budget: the forget questions with their refusals and with their true answers (the
   teacher's erased distributions under the prefill the answer gives), the few-shot retain
   sample, and self-generated inputs, the teacher's own greedy answers (vera_data's anchors,
   asked of the teacher): the forget pictures asked the retain sample's understanding
   questions, the retain pictures asked the attributes the sample does not answer (not VERA's
   text anchors: distilled on, they gave back retain memory and relearning, 18.0%, together),
   and questions about fresh pictures of shapes drawn by the world's scene generator
   (undo_scenes.py), `scenes` (0.35) of the whole set: the budget has no scene question.

`sweep` adds one student per extra alpha, distilled from the one teacher and inputs.

Output: the student's weights less the vanilla ones (dense deltas, the method contract).

Choices that are ours, not the paper's: the noise per matrix scaled by the matrix's own RMS
(so `beta=1` is noise of the weights' own size; the paper draws it from the initialisation),
only the LoRA-target matrices are damaged and trained (embeddings, norms and the head stay),
the distillation set (the paper distils on its pre-training corpus; the budget has only a few
hundred questions), and the teacher (VERA, not gradient ascent or RMU).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from smfa.data.batches import Sample
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
from smfa.methods.undo_scenes import scene_inputs
from smfa.methods.vera import Vera
from smfa.methods.vera_data import memory_anchors, visual_anchors
from smfa.models.adapters import base_weights, save_deltas, set_weights, target_modules
from smfa.models.logprobs import log_distribution
from smfa.train import TrainResult

Batch = dict[str, torch.Tensor]


class Undo(Method):
    name = "undo"
    revision = Vera.revision  # its teacher is VERA: what moves VERA's results moves its own
    summary = "VERA as teacher, distilled into shrunk-and-perturbed weights (UNDO)"

    @dataclass
    class Params:
        alpha: float = 0.3  # shrink: w' = (1 - alpha) w + alpha * beta * rms(w) * noise
        # The weights w the student starts from: the teacher's (the paper's "a noised copy of
        # itself"; alpha = 0 is the teacher) or the vanilla model's
        start: str = "teacher"
        beta: float = 1.0  # the noise's scale, relative to each matrix's RMS
        epochs: int = 3  # passes over the distillation set (0: unlearn.epochs)
        lr: float = 0.0  # distillation learning rate (0: unlearn.lr)
        positions: str = "all"  # all: KL at every position; answer: at the answer's only
        temperature: float = 1.0  # of both distributions in the KL
        anchors: bool = True  # the teacher's answers about the forget and retain pictures
        anchor_tokens: int = 24  # longest self-answer kept
        # Questions about fresh scenes drawn by the world's generator (undo_scenes.py), asked
        # and answered by the teacher, as this share of the distillation set: the budget has
        # no scene question to keep picture reading with
        scenes: float = 0.35
        # The teacher is VERA at its defaults but for these (vera.py: k, rank, epochs,
        # rehearse_every); the cheaper settings are for tests
        teacher_k: float = 1.0
        teacher_rank: int = 128
        teacher_epochs: int = 2
        teacher_rehearse_every: int = 1
        teacher_text_anchors: bool = False
        seed: int = 0  # of the noise (beside unlearn.seed)
        # Extra alpha values, one student each, distilled from the one teacher and inputs
        sweep: list[float] = field(default_factory=list)

        def __post_init__(self) -> None:
            check_knobs("undo", self, [
                ("alpha", 0.0 <= self.alpha <= 1.0, "between 0 and 1"),
                ("sweep", all(0.0 <= a <= 1.0 for a in self.sweep), "alphas between 0 and 1"),
                ("beta", self.beta >= 0, ">= 0"),
                ("epochs", self.epochs >= 0, ">= 0"),
                ("lr", self.lr >= 0, ">= 0"),
                ("positions", self.positions in ("all", "answer"), "all or answer"),
                ("start", self.start in ("teacher", "vanilla"), "teacher or vanilla"),
                ("temperature", self.temperature > 0, "> 0"),
                ("anchor_tokens", self.anchor_tokens >= 1, ">= 1"),
                ("scenes", 0.0 <= self.scenes < 1.0, "in [0, 1)"),
            ])  # fmt: skip

    def run(self, job: Job) -> MethodOutput:
        p: Undo.Params = job.params or self.Params()
        clock = [time.perf_counter()]
        teacher_delta, teacher_stats = _teacher(job, p)
        teacher = copy.deepcopy(job.model)
        set_weights(teacher, base_weights(teacher, list(teacher_delta)), teacher_delta)
        teacher.eval()
        clock.append(time.perf_counter())
        inputs = distillation_inputs(job, teacher, p)
        clock.append(time.perf_counter())
        timings = {
            s: round(b - a, 3)
            for s, a, b in zip(("teacher", "inputs"), clock[:-1], clock[1:], strict=True)
        }
        variants: dict[str, Variant] = {}
        stats: dict[str, Any] = {"inputs": len(inputs), "teacher": teacher_stats}
        for alpha in dict.fromkeys([p.alpha, *p.sweep]):
            label = f"alpha={alpha:g}"
            started = time.perf_counter()
            deltas, result = distil(job, p, teacher, inputs, alpha)
            timings[f"distil_{label}" if variants else "distil"] = round(
                time.perf_counter() - started, 3
            )
            if not variants:  # the default's
                stats.update(steps=result.steps, final_loss=result.final_loss)
                stats["first_loss"] = result.losses[0] if result.losses else float("nan")
            variants[label] = Variant({**params_dict(p), "alpha": alpha}, lambda d=deltas: d)
        return MethodOutput(variants, default=next(iter(variants)), stats=stats, timings=timings)


def distil(
    job: Job, p: Undo.Params, teacher: Any, inputs: list[Sample], alpha: float
) -> tuple[Deltas, TrainResult]:
    """A copy of the teacher (or of the model), shrunk and perturbed by `alpha`, trained to the
    teacher's outputs; its weights less the model's."""
    names = [f"{m}.weight" for m in target_modules(job.model, job.lora)]
    w0 = base_weights(job.model, names)
    student = copy.deepcopy(teacher if p.start == "teacher" else job.model)
    shrink_perturb(student, names, alpha, p.beta, p.seed + job.config.seed)
    for name, param in student.named_parameters():
        param.requires_grad_(name in w0)
    config = dataclasses.replace(job.config, lr=p.lr or job.config.lr)
    rows = epochs_of(inputs, p.epochs or job.config.epochs, job.config.seed + 5)
    loss = Distill(teacher, p.positions, p.temperature)
    result = dataclasses.replace(job, config=config).train(student, rows, "undo: distil", loss)
    params = dict(student.named_parameters())
    return {n: (params[n].detach().float() - w0[n].float()).cpu() for n in names}, result


def _teacher(job: Job, p: Undo.Params) -> tuple[Deltas, dict[str, Any]]:
    """VERA on the same budget; its default variant's deltas, and its statistics."""
    vera_params = Vera.Params(
        k=p.teacher_k,
        rank=p.teacher_rank,
        epochs=p.teacher_epochs,
        rehearse_every=p.teacher_rehearse_every,
        text_anchors=p.teacher_text_anchors,
    )
    artifacts = job.artifacts / "teacher"
    artifacts.mkdir(parents=True, exist_ok=True)
    output = Vera().run(dataclasses.replace(job, params=vera_params, artifacts=artifacts))
    deltas = output.variants[output.default].deltas()
    save_deltas(artifacts / "delta.safetensors", deltas, {"variant": output.default})
    return deltas, {"steps": output.stats["steps"], "timings": output.timings}


@torch.no_grad()
def shrink_perturb(model: Any, names: list[str], alpha: float, beta: float, seed: int) -> None:
    """w <- (1 - alpha) * w + alpha * beta * rms(w) * N(0, 1), per named matrix, seeded."""
    generator = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    for name in names:
        w = params[name]
        rms = w.float().pow(2).mean().sqrt()
        noise = torch.randn(w.shape, generator=generator, dtype=torch.float32)
        w.copy_(((1 - alpha) * w.float() + alpha * beta * rms * noise).to(w.dtype))


def distillation_inputs(job: Job, teacher: Any, p: Undo.Params) -> list[Sample]:
    """What the teacher is asked: the budget's questions (forget ones with refusals and with
    their true answers, the retain sample) and the teacher's answers about the pictures."""
    data = job.data
    inputs = [*data.forget_refusals, *data.forget, *data.retain]
    if p.anchors and data.forget_questions and data.retain_questions:
        encoder = data.collator.encoder
        pairs = list(zip(data.forget_questions, data.forget, strict=True))
        kept = list(zip(data.retain_questions, data.retain, strict=True))
        inputs += visual_anchors(teacher, encoder, pairs, data.retain_questions, p.anchor_tokens)
        inputs += memory_anchors(teacher, encoder, kept, p.anchor_tokens)
    pictures = [s.image for s in [*data.retain, *data.forget] if s.image is not None]
    folder = job.artifacts / "scenes"
    encoder = data.collator.encoder
    wanted = round(p.scenes * len(inputs) / (1 - p.scenes))
    inputs += scene_inputs(teacher, encoder, pictures, folder, wanted, p.seed, p.anchor_tokens)
    return inputs


class Distill:
    """KL(teacher || student) per position, averaged over the chosen positions."""

    def __init__(self, teacher: Any, positions: str, temperature: float) -> None:
        self.teacher = teacher
        self.positions = positions
        self.temperature = temperature

    def mask(self, batch: Batch) -> torch.Tensor:
        if self.positions == "answer":
            return batch["labels"][:, 1:] != -100
        return batch["attention_mask"][:, 1:].bool()

    def __call__(self, model: Any, batch: Batch) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        with torch.no_grad():
            target = log_distribution(self.teacher(**inputs).logits[:, :-1] / self.temperature)
        student = log_distribution(model(**inputs).logits[:, :-1] / self.temperature)
        return masked_kl(target, student, self.mask(batch)) * self.temperature**2


def masked_kl(target: torch.Tensor, student: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over masked positions of KL(p || q), both given as log-probabilities."""
    per_position = (target.exp() * (target - student)).sum(dim=-1)
    mask = mask.to(per_position.dtype)
    return (per_position * mask).sum() / mask.sum().clamp(min=1)
