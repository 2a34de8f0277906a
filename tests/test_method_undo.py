"""UNDO: shrink-and-perturb leaves the stated mix of weights and noise (the same seed, the same
noise), the KL is the textbook one, and after distillation the damaged student answers the
forget questions as the VERA teacher does."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from PIL import Image

from smfa.data.batches import Sample
from smfa.errors import ConfigError
from smfa.eval.decode import generate
from smfa.methods.base import get_method, make_params
from smfa.methods.undo import masked_kl, shrink_perturb
from smfa.methods.undo_scenes import draw_scenes, scene_inputs
from smfa.models.adapters import base_weights, load_deltas, set_weights


class _Two(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Parameter(torch.randn(200, 100) * 3.0 + 1.0)
        self.b = torch.nn.Parameter(torch.randn(50, 50))


def test_shrink_and_perturb_mixes_the_weights_with_noise_of_the_stated_scale() -> None:
    model = _Two()
    w = model.a.detach().clone()
    b = model.b.detach().clone()
    rms = float(w.pow(2).mean().sqrt())  # sqrt(3^2 + 1^2) = 3.16
    assert rms == pytest.approx(math.sqrt(10), rel=0.02)
    # alpha = 1: only noise, of standard deviation beta * rms(w), unrelated to w; b untouched.
    shrink_perturb(model, ["a"], alpha=1.0, beta=0.5, seed=3)
    noise = model.a.detach().clone()
    assert float(noise.mean()) == pytest.approx(0.0, abs=0.02 * rms)
    assert float(noise.std()) == pytest.approx(0.5 * rms, rel=0.02)
    assert abs(float(torch.corrcoef(torch.stack([noise.flatten(), w.flatten()]))[0, 1])) < 0.03
    assert torch.equal(model.b.detach(), b)
    # alpha = 0.25, the same seed: 0.75 w plus a quarter of the very same noise.
    model.a.data.copy_(w)
    shrink_perturb(model, ["a"], alpha=0.25, beta=0.5, seed=3)
    assert torch.allclose(model.a.detach(), 0.75 * w + 0.25 * noise, atol=1e-5)
    # The same seed, the same noise; another seed, another.
    for seed, same in ((3, True), (4, False)):
        model.a.data.copy_(w)
        shrink_perturb(model, ["a"], alpha=1.0, beta=0.5, seed=seed)
        assert torch.equal(model.a.detach(), noise) == same
    # alpha = 0 leaves the weights as they were.
    model.a.data.copy_(w)
    shrink_perturb(model, ["a"], alpha=0.0, beta=0.5, seed=3)
    assert torch.equal(model.a.detach(), w)


def test_masked_kl_is_the_mean_kl_over_the_chosen_positions() -> None:
    p = torch.tensor([[[0.5, 0.5], [0.9, 0.1]]]).log()
    q = torch.tensor([[[0.25, 0.75], [0.1, 0.9]]]).log()
    # Position 0: 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75) = 0.5 ln(4/3) = 0.14384; position 1 masked.
    kl = masked_kl(p, q, torch.tensor([[True, False]]))
    assert float(kl) == pytest.approx(0.5 * math.log(4 / 3), abs=1e-5)
    both = 0.5 * math.log(4 / 3) + 0.9 * math.log(9) + 0.1 * math.log(1 / 9)
    assert float(masked_kl(p, q, torch.tensor([[True, True]]))) == pytest.approx(both / 2, abs=1e-5)
    assert float(masked_kl(p, p, torch.tensor([[True, True]]))) == pytest.approx(0.0, abs=1e-6)


def _answers(model, job, samples: list[Sample]) -> list[str]:  # type: ignore[no-untyped-def]
    encoder = job.data.collator.encoder
    return generate(model, encoder, samples, batch_size=16, max_new_tokens=8)


def test_the_student_answers_the_forget_questions_as_the_teacher_does(method_job) -> None:  # type: ignore[no-untyped-def]
    method = get_method("undo")
    # 10 distillation epochs: the student agrees with the teacher on 7 of 8 forget prompts and
    # the noised copy on 0, as after 20 (the KL 0.035 -> 0.011; 0.006 after 20).
    settings = {
        **{"alpha": 0.3, "epochs": 10, "anchors": False, "sweep": [0.3], "scenes": 0},
        **{"teacher_rank": 4, "teacher_epochs": 1, "teacher_rehearse_every": 4},
    }
    job = method_job(make_params(method, settings), lr=5e-3)
    before = {n: p.detach().clone() for n, p in job.model.named_parameters()}
    output = method().run(job)
    assert list(output.variants) == ["alpha=0.3"]  # a sweep value equal to alpha adds none
    deltas = output.variants["alpha=0.3"].deltas()
    after = dict(job.model.named_parameters())  # the model given is left as it was
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert deltas and all(".language_model." in n for n in deltas)
    assert output.stats["final_loss"] < output.stats["first_loss"] / 2  # the KL came down
    assert output.stats["inputs"] == 2 * len(job.data.forget) + len(job.data.retain)
    # Every adapted matrix moved from vanilla (shrunk, noised, distilled), and only those.
    assert all(bool(d.abs().sum() > 0) for d in deltas.values())
    teacher, student = copy.deepcopy(job.model), copy.deepcopy(job.model)
    vera = load_deltas(job.artifacts / "teacher" / "delta.safetensors")
    set_weights(teacher, base_weights(teacher, list(vera)), vera)
    set_weights(student, base_weights(student, list(deltas)), deltas)
    prompts = [Sample(s.key, s.prompt_ids, (), s.image) for s in job.data.forget]
    damaged = copy.deepcopy(teacher)  # the student before distillation (seed 0 + 0)
    shrink_perturb(damaged, list(deltas), alpha=0.3, beta=1.0, seed=0)
    taught = _answers(teacher, job, prompts)

    def agree(model) -> int:  # type: ignore[no-untyped-def]
        return sum(a == b for a, b in zip(taught, _answers(model, job, prompts), strict=True))

    assert agree(student) >= 0.75 * len(prompts) > agree(damaged)


def test_undo_checks_its_knobs() -> None:
    method = get_method("undo")
    for bad, name in (
        ({"alpha": 1.5}, "alpha"),
        ({"sweep": [0.5, -0.1]}, "sweep"),
        ({"beta": -1}, "beta"),
        ({"positions": "prompt"}, "positions"),
        ({"temperature": 0}, "temperature"),
        ({"start": "oracle"}, "start"),
        ({"scenes": 1.0}, "scenes"),
    ):
        with pytest.raises(ConfigError, match=rf"methods\.undo\.{name} must be "):
            make_params(method, bad)


def test_fresh_scenes_are_drawn_seeded_and_answered_by_the_teacher(method_job, tmp_path) -> None:  # type: ignore[no-untyped-def]
    drawn = draw_scenes(tmp_path / "a", 3, 32, seed=7)
    again = draw_scenes(tmp_path / "b", 3, 32, seed=7)
    assert [q for _, q in drawn] == [q for _, q in again]  # the same seed, the same scenes
    for (path, questions), (twin, _) in zip(drawn, again, strict=True):
        assert path.read_bytes() == twin.read_bytes() and Image.open(path).size == (32, 32)
        assert questions[0] == "count" and 3 <= len(questions) <= 7  # 1 + 2 per shape
    job = method_job()
    pictures = [s.image for s in job.data.retain if s.image is not None]
    encoder = job.data.collator.encoder
    asked = scene_inputs(job.model, encoder, pictures, tmp_path / "c", 7, seed=7, max_tokens=3)
    # 7 questions: 3 scenes drawn (each has at least 3), the first 7 of their questions asked
    shown = draw_scenes(tmp_path / "d", 3, 32, 7)
    wanted = [f"scene:{p.stem}:{q}" for p, qs in shown for q in qs][:7]
    assert asked and {s.key for s in asked} <= set(wanted)  # an empty self-answer is dropped
    assert all(not s.augment and s.image.parent == tmp_path / "c" for s in asked)
    assert all(s.answer_ids for s in asked)
    assert scene_inputs(job.model, encoder, pictures, tmp_path / "e", 0, 7, 3) == []
