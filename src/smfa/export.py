"""Export an unlearned model's weight change as a PEFT LoRA adapter, by low-rank re-factorization.

SMFA's sculpted delta is dense (the mask breaks the LoRA factors), and most methods change a
few weight matrices only, so a deployment can ship a small adapter instead of a whole merged
checkpoint. Per changed matrix, the delta `W_unlearned - W_vanilla` is factorized with a
truncated SVD, `delta ~ B @ A` with `B = U_r * S_r` and `A = V_r^T`, which is the best rank-r
approximation in the Frobenius norm. The share of the delta's energy (sum of squared singular
values) that rank r keeps is reported per matrix and overall. The adapter is written with
`lora_alpha = r` (scaling 1), so stock `PeftModel.from_pretrained(vanilla, adapter)` applies it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model

from smfa.errors import SmfaError
from smfa.io import atomic_write_json, check_out_dir, out_lock, staged_dir
from smfa.models.adapters import PEFT_PREFIX
from smfa.models.io import load_model

EXPORT_META = "export.json"


@torch.no_grad()
def weight_deltas(base: Any, changed: Any, atol: float = 0.0) -> dict[str, torch.Tensor]:
    """`changed - base` for every 2-D weight that differs (by more than `atol` somewhere)."""
    before = dict(base.named_parameters())
    deltas = {}
    for name, weight in changed.named_parameters():
        if name not in before or weight.dim() != 2 or not name.endswith(".weight"):
            continue
        delta = weight.detach().float() - before[name].detach().float()
        if delta.abs().max() > atol:
            deltas[name] = delta
    return deltas


def factorize(delta: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(A, B, kept): delta ~ B @ A at `rank`, and the share of its energy that rank keeps."""
    if rank < 1 or rank > min(delta.shape):
        raise SmfaError(f"rank {rank} is out of range for a {tuple(delta.shape)} matrix")
    u, s, vh = torch.linalg.svd(delta.double(), full_matrices=False)
    energy = float((s**2).sum())
    kept = float((s[:rank] ** 2).sum()) / energy if energy > 0 else 1.0
    b = (u[:, :rank] * s[:rank]).float()
    a = vh[:rank].float()
    return a, b, kept


def check_rank(rank: int) -> None:
    """Refuse an adapter rank below 1 (a rank above a matrix's side is refused per matrix)."""
    if rank < 1:
        raise SmfaError(f"the adapter's rank (--rank) must be at least 1, got {rank}")


@torch.no_grad()
def export_lora(vanilla: Path, unlearned: Path, rank: int, out: Path) -> dict[str, Any]:
    """Write `out` (a PEFT adapter for `vanilla`) approximating `unlearned`; returns the stats.

    `out` is replaced whole, so it must be new, empty or an earlier export (with export.json).
    """
    check_rank(rank)
    check_out_dir(Path(out), EXPORT_META, "export-lora")  # before the models load
    with out_lock(Path(out)):
        check_out_dir(Path(out), EXPORT_META, "export-lora")
        return _export_lora(vanilla, unlearned, rank, out)


@torch.no_grad()
def _export_lora(vanilla: Path, unlearned: Path, rank: int, out: Path) -> dict[str, Any]:
    base, _ = load_model(vanilla)
    target, _ = load_model(unlearned)
    deltas = weight_deltas(base, target)
    if not deltas:
        raise SmfaError(f"{unlearned} has the same weights as {vanilla}: nothing to export")
    small = {n: d.shape for n, d in deltas.items() if rank > min(d.shape)}
    if small:
        name, shape = next(iter(small.items()))
        raise SmfaError(f"rank {rank} exceeds the smallest side of {name} {tuple(shape)}")
    modules = [name.removesuffix(".weight") for name in deltas]
    config = LoraConfig(r=rank, lora_alpha=rank, lora_dropout=0.0, target_modules=modules)
    peft = get_peft_model(base, config)
    layers = {n.removeprefix(PEFT_PREFIX): m for n, m in peft.named_modules()}
    kept: dict[str, float] = {}
    energy: dict[str, float] = {}
    for name, delta in deltas.items():
        a, b, share = factorize(delta, rank)
        layer = layers[name.removesuffix(".weight")]
        layer.lora_A["default"].weight.copy_(a)
        layer.lora_B["default"].weight.copy_(b)
        kept[name] = share
        energy[name] = float(delta.double().pow(2).sum())
    total = sum(energy.values())
    stats = {
        "vanilla": str(vanilla),
        "unlearned": str(unlearned),
        "rank": rank,
        "matrices": len(deltas),
        "kept_energy": sum(kept[n] * energy[n] for n in kept) / total if total else 1.0,
        "kept_energy_per_matrix": kept,
        "adapter_parameters": sum(rank * sum(d.shape) for d in deltas.values()),
        "dense_parameters": sum(d.numel() for d in deltas.values()),
    }
    with staged_dir(Path(out)) as stage:
        peft.save_pretrained(str(stage))
        atomic_write_json(stage / EXPORT_META, stats)
    return stats


def run_source(run_dir: Path) -> tuple[Path, Path]:
    """(vanilla, unlearned model) of an `smfa unlearn` output directory."""
    meta_path = Path(run_dir) / "run.json"
    if not meta_path.is_file():
        raise SmfaError(f"{run_dir}: not an smfa unlearn output (no run.json)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        model = meta["variants"][meta["default"]]["model"]
        vanilla = Path(meta["vanilla"])
    except (ValueError, KeyError, TypeError):
        raise SmfaError(f"{meta_path}: not an smfa unlearn record (no default variant)") from None
    if not model or not (Path(run_dir) / model).is_dir():
        raise SmfaError(f"{run_dir}: its unlearned model '{model}' is missing; rerun smfa unlearn")
    return vanilla, Path(run_dir) / model


def compare_export(
    vanilla: Path, unlearned: Path, adapter: Path, world_dir: Path, config: Any
) -> list[tuple[str, str, str]]:
    """Headline figures of the exact merge and of vanilla + the exported adapter, side by side.

    Both are scored on the reported slice (held-out phrasings) of `world_dir`'s forget set at
    `config.forget_ratio`; the adapter is merged into a temporary copy of vanilla for this.
    """
    import tempfile

    from peft import PeftModel

    from smfa.compare_jobs import reported_slice
    from smfa.data.format import load_world
    from smfa.eval.evaluate import Ask, evaluate
    from smfa.models.io import save_model
    from smfa.protocol.figures import FIGURES
    from smfa.report.summary import headline

    world = load_world(Path(world_dir))
    with tempfile.TemporaryDirectory() as scratch:
        model, processor = load_model(vanilla)
        merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        approx_dir = save_model(merged, processor, Path(scratch) / "adapter-merged")
        rows = []
        ask = Ask.of(reported_slice(config), world.splits.forget[config.forget_ratio])
        for name, path in (("exact", unlearned), ("adapter", approx_dir)):
            rows += evaluate(path, world, ask, config.eval, Path(scratch), name=name).rows
    models = {"exact": {"role": "method"}, "adapter": {"role": "method"}}
    head = headline({"models": models, "rows": rows})
    out = []
    for figure in FIGURES:
        exact, approx = head["exact"].get(figure.key), head["adapter"].get(figure.key)
        if exact is not None or approx is not None:
            out.append((figure.key, _percent(exact), _percent(approx)))
    return out


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:5.1f}%"
