"""NPO: the forget term starts at (2/beta) log 2, follows its formula once the adapter moves,
and the method trains only its adapter."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn.functional import logsigmoid

from smfa.data.batches import Collator
from smfa.errors import ConfigError
from smfa.methods.base import answer_logprobs, get_method, make_params
from smfa.methods.npo import npo_forget, npo_start
from smfa.models.adapters import attach_lora

from .conftest import check_output


@torch.no_grad()
def test_npo_forget_term_by_hand(method_job) -> None:  # type: ignore[no-untyped-def]
    job = method_job()
    batch = Collator(job.data.collator.encoder, train=True)(job.data.forget[:4])
    job.model.eval()
    logp_ref = answer_logprobs(job.model, batch)  # the plain model, before any adapter

    peft = attach_lora(job.model, job.lora, "forget", 0)
    peft.train()
    # Step 0: B = 0, so logp_theta == logp_ref and the term is -(2/b) logsigmoid(0) = (2/b) log 2.
    assert npo_start(0.1) == pytest.approx(20 * math.log(2), abs=1e-12)
    assert float(npo_forget(peft, peft, batch, 0.1)) == pytest.approx(20 * math.log(2), abs=1e-5)
    assert float(npo_forget(peft, peft, batch, 0.5)) == pytest.approx(4 * math.log(2), abs=1e-5)

    for name, param in peft.named_parameters():
        if "lora_B" in name:
            param.normal_(0, 0.05)
    peft.eval()
    logp_theta = answer_logprobs(peft, batch)
    assert (logp_theta - logp_ref).abs().max() > 0.1  # the adapter really moved the model
    expected = -(2 / 0.1) * logsigmoid(-0.1 * (logp_theta - logp_ref)).mean()
    assert float(npo_forget(peft, peft, batch, 0.1)) == pytest.approx(float(expected), abs=1e-4)


def test_npo_trains_only_the_adapter(method_job) -> None:  # type: ignore[no-untyped-def]
    method = get_method("npo")
    job = method_job(make_params(method, {"beta": 0.1}))
    before = {n: p.detach().clone() for n, p in job.model.named_parameters()}
    output = method().run(job)
    deltas = check_output(job, output, before)
    assert any(d.abs().sum() > 0 for d in deltas.values())
    with pytest.raises(ConfigError, match="beta"):
        method().run(method_job(make_params(method, {"beta": 0.0})))
