"""Precision: the unlearned model run in bf16, or with its language model quantized to int8.

Unlearning by small weight changes can sit below the rounding step of a lower precision, so the
quantized model answers like the model before unlearning (Zhang et al., "Catastrophic Failure of
LLM Unlearning via Quantization", ICLR 2025). bf16 is the model loaded in bfloat16; int8 is
torch's own dynamic quantization (`quantize_dynamic`: int8 weights, per-tensor scales, int8
activations computed on the fly; CPU kernels) of every linear layer of the language model's
decoder, the layers unlearning adapts. Each is asked plainly and with the answer prefilled.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import torch

from smfa.data.records import Question
from smfa.eval.probe import Answer, Probe, Prompt, Session, ask_both, value_prefix
from smfa.models.adapters import LoraSpec, target_modules


def int8_language_model(model: Any) -> Any:
    """`model` with its decoder's linear layers dynamically quantized to int8 (in place)."""
    names = target_modules(model, LoraSpec(targets="language"))
    with warnings.catch_warnings():  # torch marks its eager quantization API as deprecated
        warnings.simplefilter("ignore")
        from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

        return quantize_dynamic(
            model,
            {name: default_dynamic_qconfig for name in names},
            dtype=torch.qint8,
            inplace=True,
        )


class PrecisionAttack(Probe):
    family = "precision"
    precision: ClassVar[str] = ""
    prefilled: ClassVar[bool] = False

    def ask(self, session: Session) -> list[Answer]:
        if self.precision == "int8":
            model = int8_language_model(session.load("fp32"))
        else:
            model = session.load(self.precision)
        model.eval()

        def prompt(q: Question) -> Prompt:
            prefill = value_prefix(q) if self.prefilled else ""
            return Prompt(q, q.question, session.image(q), prefill)

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ask_both(model, session, prompt, self.name)
        finally:
            del model


class Bf16(PrecisionAttack):
    name = "bf16"
    precision = "bf16"
    summary = "the model in bfloat16"


class Int8(PrecisionAttack):
    name = "int8"
    precision = "int8"
    summary = "the language model quantized to int8 (torch dynamic quantization)"


class Bf16Prefill(PrecisionAttack):
    name = "bf16_prefill"
    precision = "bf16"
    prefilled = True
    summary = "bfloat16, answer template prefilled"


class Int8Prefill(PrecisionAttack):
    name = "int8_prefill"
    precision = "int8"
    prefilled = True
    summary = "int8 language model, answer template prefilled"
