"""KL minimisation: the KL to the adapter-free model is exactly 0 at the start and grows once
the adapter moves; the method trains only its adapter."""

from __future__ import annotations

import torch

from smfa.data.batches import Collator
from smfa.methods.base import get_method, make_params
from smfa.methods.kl import retain_kl
from smfa.methods.shared import reference_logprobs
from smfa.models.adapters import attach_lora

from .conftest import check_output


@torch.no_grad()
def test_kl_is_zero_before_training_and_positive_after_the_adapter_moves(method_job) -> None:  # type: ignore[no-untyped-def]
    job = method_job()
    batch = Collator(job.data.collator.encoder, train=True)(job.data.retain[:4])
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    job.model.eval()
    plain = torch.log_softmax(job.model(**inputs).logits[:, :-1].float(), dim=-1)

    peft = attach_lora(job.model, job.lora, "forget", 0)
    peft.train()  # as in the training loop: LoRA dropout on
    assert float(retain_kl(peft, peft, batch)) == 0.0  # B = 0: current == reference exactly
    for name, param in peft.named_parameters():
        if "lora_B" in name:
            param.normal_(0, 0.05)
    assert float(retain_kl(peft, peft, batch)) > 1e-4
    # The reference is the plain model (adapters off, eval mode), and the mode is restored.
    assert torch.allclose(reference_logprobs(peft, peft, batch), plain, atol=1e-5)
    assert peft.training


def test_kl_trains_only_the_adapter(method_job) -> None:  # type: ignore[no-untyped-def]
    method = get_method("kl")
    job = method_job(make_params(method, {}))
    before = {n: p.detach().clone() for n, p in job.model.named_parameters()}
    output = method().run(job)
    deltas = check_output(job, output, before)
    assert any(d.abs().sum() > 0 for d in deltas.values())
