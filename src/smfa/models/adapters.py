"""LoRA adapters (through PEFT) and dense weight deltas: the currency every method pays in.

An unlearning method ends as a set of dense deltas, one per changed weight matrix, keyed by the
plain model's parameter name (`model.language_model.layers.0.self_attn.q_proj.weight`). A LoRA
adapter's delta is PEFT's own `get_delta_weight` (scaling * B @ A). Merging adds deltas to the
base weights; nothing here writes into the directory a model was loaded from.

LoRA targets are a regular expression over module names, because a LLaVA's vision tower has
modules with the same short names (`q_proj`, ...) as its language model: a bare list would
adapt both. The presets below name the language model only; for a family whose decoder sits
elsewhere (Idefics3's `text_model`) the preset is rewritten to that module (see families.py).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file

from smfa.errors import ConfigError, SmfaError
from smfa.io import atomic_write_bytes
from smfa.models.families import text_stack

_ATTN = r"self_attn\.(q_proj|k_proj|v_proj|o_proj)"
_MLP = r"mlp\.(gate_proj|up_proj|down_proj)"
TARGET_PRESETS: dict[str, str] = {
    # Every attention and MLP projection of the language model (the re-implementation's choice).
    "language": rf".*language_model\.layers\.\d+\.({_ATTN}|{_MLP})",
    "language-attention": rf".*language_model\.layers\.\d+\.{_ATTN}",
    "language-mlp": rf".*language_model\.layers\.\d+\.{_MLP}",
    # The same projections in the vision tower too (what a bare module-name list would do).
    "all": rf".*({_ATTN}|{_MLP}|self_attn\.out_proj|mlp\.fc1|mlp\.fc2)",
}
PEFT_PREFIX = "base_model.model."
# PEFT asks transformers a deprecated question on every wrap; the notice is not ours to fix.
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


@dataclass(frozen=True)
class LoraSpec:
    r: int = 16
    alpha: int = 16
    dropout: float = 0.05
    targets: str = "language"  # a preset name from TARGET_PRESETS or a regular expression

    @property
    def pattern(self) -> str:
        return TARGET_PRESETS.get(self.targets, self.targets)

    def pattern_for(self, model: Any) -> str:
        """The pattern for `model`'s family: a preset follows its language model's module name."""
        stack = text_stack(model)
        if self.targets in TARGET_PRESETS and stack != "language_model":
            return self.pattern.replace(r"language_model\.", rf"{stack}\.")
        return self.pattern


def target_modules(model: Any, spec: LoraSpec) -> list[str]:
    """Names of the linear modules `spec` adapts; an error if it matches none."""
    try:
        regex = re.compile(spec.pattern_for(model))
    except re.error as exc:
        raise ConfigError(f"lora targets '{spec.targets}' is not a valid pattern: {exc}") from None
    names = [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and regex.fullmatch(name)
    ]
    if not names:
        presets = ", ".join(TARGET_PRESETS)
        raise ConfigError(
            f"lora targets '{spec.targets}' match no linear layer of this model "
            f"(presets: {presets}; or give a regular expression over module names)"
        )
    return names


def attach_lora(model: Any, spec: LoraSpec, name: str, seed: int) -> PeftModel:
    """Add a trainable LoRA adapter `name` (wrapping the model on first use); only it trains."""
    if spec.r < 1:
        raise ConfigError(f"lora r must be at least 1, got {spec.r}")
    if not isinstance(model, PeftModel):  # a wrapped model's layers were checked on first use
        target_modules(model, spec)
    config = LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=spec.pattern_for(model),
        bias="none",
    )
    torch.manual_seed(seed)  # LoRA's A matrix is random: seed it so runs repeat
    if isinstance(model, PeftModel):
        model.add_adapter(name, config)
    else:
        model = get_peft_model(model, config, adapter_name=name)
    model.set_adapter(name)
    train_only(model, name)
    return model


def train_only(model: PeftModel, name: str) -> None:
    """Make exactly adapter `name`'s LoRA weights trainable."""
    for param_name, param in model.named_parameters():
        param.requires_grad_("lora_" in param_name and f".{name}." in param_name)


def lora_layers(model: PeftModel) -> Iterator[tuple[str, Any]]:
    """(plain weight name, PEFT LoRA layer) for every adapted linear layer."""
    for module_name, module in model.named_modules():
        if hasattr(module, "get_delta_weight") and hasattr(module, "lora_A"):
            plain = module_name.removeprefix(PEFT_PREFIX)
            yield f"{plain}.weight", module


@torch.no_grad()
def dense_deltas(model: PeftModel, name: str) -> dict[str, torch.Tensor]:
    """Adapter `name` as dense deltas, `scaling * B @ A`, one per adapted weight matrix."""
    deltas = {
        weight: layer.get_delta_weight(name).detach().float().cpu().clone()
        for weight, layer in lora_layers(model)
        if name in layer.lora_A
    }
    if not deltas:
        raise SmfaError(f"the model has no LoRA adapter named '{name}'")
    return deltas


def unwrap(model: Any) -> Any:
    """The plain model under a PEFT wrapper, LoRA layers removed, base weights untouched."""
    return model.unload() if isinstance(model, PeftModel) else model


@contextmanager
def lora_session(model: Any) -> Iterator[dict[str, Any]]:
    """Scope for methods that wrap a model in adapters: the plain model is restored on exit."""
    holder: dict[str, Any] = {"model": model}
    try:
        yield holder
    finally:
        unwrap(holder["model"])


def base_weights(model: Any, names: list[str] | dict[str, Any]) -> dict[str, torch.Tensor]:
    """Copies of the named plain-model weights (the W0 a delta is added to)."""
    params = dict(model.named_parameters())
    missing = [n for n in names if n not in params]
    if missing:
        raise SmfaError(f"delta names weights the model does not have: {', '.join(missing[:3])}")
    return {n: params[n].detach().clone() for n in names}


@torch.no_grad()
def set_weights(model: Any, base: dict[str, torch.Tensor], deltas: dict[str, torch.Tensor]) -> None:
    """Set each named weight to `base + delta` (W = W0 + dW), in the weight's own dtype."""
    params = dict(model.named_parameters())
    for name, w0 in base.items():
        delta = deltas.get(name)
        value = w0 if delta is None else (w0.float() + delta.to(w0.device).float()).to(w0.dtype)
        params[name].copy_(value)


def save_deltas(path: Path, deltas: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    """Dense deltas to one safetensors file, atomically."""
    tensors = {name: tensor.contiguous() for name, tensor in deltas.items()}
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    save_file(tensors, str(tmp), metadata=meta)
    atomic_write_bytes(Path(path), tmp.read_bytes())
    tmp.unlink()


def load_deltas(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (OSError, ValueError) as exc:
        raise SmfaError(f"{path}: not a safetensors delta file ({exc})") from None
