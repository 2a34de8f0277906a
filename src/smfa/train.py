"""The one training loop, readable top to bottom: plain PyTorch, Accelerate for devices.

Everything that trains (the reference models here, every unlearning method later) calls
`train_loop` with an ordered list of samples and, optionally, its own loss. The caller decides
order and repeats (a seeded schedule), so the loop itself holds no hidden randomness.
Launched as several processes (`accelerate launch`), each global batch of `batch_size` is
shared by the processes and each loss weighted so the averaged gradient is the single-process
one (see `smfa.distributed`); the order, the batches and the schedule stay the same.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from transformers import get_cosine_schedule_with_warmup

from smfa import distributed as dist
from smfa.config import LoopConfig
from smfa.data.batches import Collator, Sample
from smfa.errors import SmfaError
from smfa.terminal import progress_bar

LossFn = Callable[[Any, dict[str, torch.Tensor]], torch.Tensor]


@dataclass
class TrainResult:
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        tail = self.losses[-20:]
        return sum(tail) / len(tail) if tail else math.nan


def default_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Next-token cross-entropy on the answer tokens (labels are -100 elsewhere)."""
    return model(**batch).loss


def set_determinism(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def train_loop(
    model: Any,
    samples: Sequence[Sample],
    collator: Collator,
    config: LoopConfig,
    *,
    loss_fn: LossFn = default_loss,
    description: str = "train",
    accelerator: Accelerator | None = None,
    show_progress: bool = True,
    on_step: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Train the parameters of `model` that require grad, one pass over `samples` in order."""
    if not samples:
        raise SmfaError(f"{description}: nothing to train on (empty sample list)")
    if dist.is_distributed():
        return _train_data_parallel(
            model, samples, collator, config, loss_fn, description, show_progress, on_step
        )
    set_determinism(config.seed, config.threads)
    accelerator = accelerator or single_accelerator(config.bf16)
    params = _trainable(model, description)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    loader = DataLoader(list(samples), batch_size=config.batch_size, collate_fn=collator)
    scheduler = _schedule(optimizer, config, len(loader))
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    model.train()
    result = TrainResult(steps=0, seconds=0.0)
    start = time.perf_counter()
    with progress_bar(disable=not (show_progress and accelerator.is_main_process)) as bar:
        task = bar.add_task(description, total=len(loader), loss=math.nan)
        for batch in loader:
            with accelerator.autocast():
                loss = loss_fn(model, batch)
            _check_finite(float(loss.detach()), description, result.steps)
            _update(accelerator, loss, params, optimizer, scheduler, config.max_grad_norm)
            result.steps += 1
            result.losses.append(float(loss.detach()))
            bar.update(task, advance=1, loss=result.final_loss)
            if on_step is not None:
                on_step(result.steps, len(loader), result.final_loss)
    result.seconds = time.perf_counter() - start
    model.eval()
    accelerator.wait_for_everyone()
    return result


def single_accelerator(bf16: bool) -> Accelerator:
    """An Accelerator for one process at this loop's precision.

    Accelerate keeps one process-wide state and refuses a second precision; one process may
    train at two (an unlearn at `unlearn.bf16=false`, then its record's relearning attack in
    bf16), so a single process's state is reset to the precision asked for.
    """
    wanted = mixed_precision(bf16)
    if AcceleratorState._shared_state and AcceleratorState().mixed_precision != wanted:
        AcceleratorState._reset_state()
    return Accelerator(mixed_precision=wanted)


def cpu_computes_bf16() -> bool:
    """Whether this CPU has bf16 arithmetic (oneDNN's check: AVX-512 cores, AMX, Arm's BF16).
    Without it bf16 autocast is emulated: a training step x17.3 an fp32 one on an AVX2-only AMD
    EPYC, where it is x1.7 faster on an AMX Xeon (benchmarks/results/precision.json)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def mixed_precision(bf16: bool) -> str:
    """Accelerate's mixed precision for `bf16` autocast: "bf16" on a GPU or on a CPU that
    computes it, else "no" (fp32): asked for bf16, a CPU without it trains in fp32, as fast as
    it can and with the same weights on disk (autocast never changes the stored dtype)."""
    if bf16 and (torch.cuda.is_available() or cpu_computes_bf16()):
        return "bf16"
    return "no"


def _trainable(model: Any, description: str) -> list[torch.nn.Parameter]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise SmfaError(f"{description}: the model has no trainable parameters")
    return params


def _schedule(optimizer: torch.optim.Optimizer, config: LoopConfig, total: int) -> Any:
    return get_cosine_schedule_with_warmup(
        optimizer, max(1, int(config.warmup_ratio * total)), total
    )


def _update(
    accelerator: Accelerator,
    loss: torch.Tensor,
    params: list[torch.nn.Parameter],
    optimizer: Any,
    scheduler: Any,
    max_grad_norm: float,
) -> None:
    """One optimizer step: backward, clip, step, schedule, clear."""
    accelerator.backward(loss)
    if max_grad_norm > 0:
        accelerator.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


class NonFiniteLoss(SmfaError):
    """The loss turned NaN or infinite; the weights are still those of the last step."""


def _check_finite(loss: float, description: str, step: int) -> None:
    if not math.isfinite(loss):
        raise NonFiniteLoss(f"{description}: loss became {loss} at step {step}")


def _train_data_parallel(
    model: Any,
    samples: Sequence[Sample],
    collator: Collator,
    config: LoopConfig,
    loss_fn: LossFn,
    description: str,
    show_progress: bool,
    on_step: Callable[[int, int, float], None] | None,
) -> TrainResult:
    """`train_loop` as one of several processes: the same global batches, each process its share.

    The model is wrapped by the shared Accelerator (DDP, or DeepSpeed per the launch config);
    the caller keeps its own reference to the unwrapped model, whose weights DDP keeps in sync.
    """
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    accelerator = dist.shared_accelerator(mixed_precision(config.bf16))
    set_seed(config.seed, device_specific=True)  # dropout differs per process, runs repeat
    params = _trainable(model, description)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    # The global batches, in order; each process collates only its share of each.
    batches = DataLoader(list(samples), batch_size=config.batch_size, collate_fn=list)
    scheduler = _schedule(optimizer, config, len(batches))
    dist.prepare_deepspeed_batch(accelerator, config.batch_size)
    wrapped, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    wrapped.train()
    # Token means through the model's own loss are made global where the model allows it.
    counts_tokens = dist.accepts_loss_kwargs(model)
    fallback = not counts_tokens and loss_fn is default_loss
    result = TrainResult(steps=0, seconds=0.0)
    start = time.perf_counter()
    with progress_bar(disable=not (show_progress and accelerator.is_main_process)) as bar:
        task = bar.add_task(description, total=len(batches), loss=math.nan)
        for items in batches:
            batch, share = dist.local_batch(items, collator, accelerator.device)
            weight = dist.step_weight(accelerator, batch, share, len(items), fallback)
            seen = dist.ShareModel(wrapped, accelerator, share / len(items))
            with accelerator.autocast():
                loss = loss_fn(seen if counts_tokens else wrapped, batch) * weight
            value = dist.global_loss(accelerator, loss)  # the same on every process
            _check_finite(value, description, result.steps)
            _update(accelerator, loss, params, optimizer, scheduler, config.max_grad_norm)
            result.steps += 1
            result.losses.append(value)
            bar.update(task, advance=1, loss=result.final_loss)
            if on_step is not None:
                on_step(result.steps, len(batches), result.final_loss)
    result.seconds = time.perf_counter() - start
    model.eval()
    accelerator.wait_for_everyone()
    accelerator.free_memory()  # drop the wrapper; the next run wraps its own model
    return result
