"""Data-parallel runs under `accelerate launch`: who this process is and what it may do.

This module owns everything smfa needs to run as several processes: the one shared
`Accelerator` of a launched process, the split of a global training batch into this process's
share and the weight that makes the processes' averaged gradient equal the single-process one,
the split of evaluation batches and the gathering of their results, and main-process-only
output directories. Not launched (or launched with one process) every helper is the identity,
so a plain `smfa ...` run computes exactly what it computed before.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import (
    DataLoaderConfiguration,
    DistributedDataParallelKwargs,
    DistributedType,
    gather_object,
    parse_flag_from_env,
    send_to_device,
)

from smfa.data.batches import answer_tokens
from smfa.io import staged_dir
from smfa.launch import LaunchError

T = TypeVar("T")
R = TypeVar("R")
_shared: dict[str, Accelerator] = {}


def state() -> PartialState:
    """This process's place in the launch. On CPUs accelerate needs ACCELERATE_USE_CPU=1 to
    join torchrun's processes into one gloo group; without it each would run alone."""
    current = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if current.num_processes == 1 and launched > 1:
        raise LaunchError(
            f"launched as {launched} processes but accelerate sees only this one (no GPU "
            "found?); on CPUs launch with ACCELERATE_USE_CPU=1 (docs/scale-out.md)"
        )
    return current


def is_distributed() -> bool:
    """Whether this process is one of several launched by `accelerate launch`."""
    return state().num_processes > 1


def is_main() -> bool:
    return state().is_main_process


def barrier() -> None:
    """Wait until every process gets here (nothing to wait for when running alone)."""
    if is_distributed():
        state().wait_for_everyone()


@contextmanager
def main_process_first() -> Iterator[None]:
    """The main process runs the block first (e.g. to build a cache); the others then reuse it."""
    with state().main_process_first():
        yield


def shared_accelerator(mixed_precision: str) -> Accelerator:
    """The one Accelerator of a launched process, used by every training run in it.

    `split_batches`: a global batch of `batch_size` is shared by the processes, so the
    learning-rate schedule steps once per global step; unused parameters are tolerated because
    one process's share of a mixed batch may hold no image (the projector then gets no grad).
    """
    if "accelerator" not in _shared:
        _shared["accelerator"] = Accelerator(
            mixed_precision=mixed_precision,
            dataloader_config=DataLoaderConfiguration(split_batches=True),
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        )
    accelerator = _shared["accelerator"]
    if accelerator.state.distributed_type == DistributedType.FSDP:
        raise LaunchError(
            "FSDP shards the weights that smfa reads after training (LoRA deltas, merged "
            "models); train with DDP or DeepSpeed ZeRO-2 (configs/accelerate/ddp.yaml, "
            "deepspeed_zero2.yaml); fsdp.yaml serves `smfa eval` only (docs/scale-out.md)"
        )
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is not None and plugin.zero_stage == 3:
        raise LaunchError(
            "DeepSpeed ZeRO-3 shards the weights that smfa reads after training; use ZeRO-2 "
            "(configs/accelerate/deepspeed_zero2.yaml) or DDP"
        )
    if accelerator.state.distributed_type != DistributedType.DEEPSPEED and (
        accelerator.mixed_precision != mixed_precision
    ):
        raise LaunchError(
            f"this process already trains with mixed precision '{accelerator.mixed_precision}', "
            f"not '{mixed_precision}'; one launched command uses one precision"
        )
    return accelerator


def prepare_deepspeed_batch(accelerator: Accelerator, batch_size: int) -> None:
    """DeepSpeed asks for a per-process micro-batch when no DataLoader is prepared: give it."""
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is None:
        return
    config = plugin.deepspeed_config
    if config.get("train_micro_batch_size_per_gpu", "auto") == "auto":
        config["train_micro_batch_size_per_gpu"] = max(1, batch_size // state().num_processes)
    config.setdefault("gradient_accumulation_steps", 1)


def share_of(items: Sequence[T]) -> list[T]:
    """This process's contiguous share of `items` (accelerate's even split; possibly empty)."""
    with state().split_between_processes(list(items)) as mine:
        return list(mine)


def local_batch(
    items: Sequence[Any], collate: Callable[[Sequence[Any]], Any], device: torch.device
) -> tuple[Any, int]:
    """This process's share of a global batch, collated and on `device`, and its size.

    A share can be empty when the last batch holds fewer items than there are processes; the
    process then runs the batch's first item with weight 0, so every process takes the step.
    """
    mine = share_of(items)
    batch = collate(mine or list(items[:1]))
    return send_to_device(batch, device), len(mine)


def summed(accelerator: Accelerator, value: float) -> float:
    """`value` added up over every process."""
    count = torch.tensor(float(value), device=accelerator.device)
    return float(accelerator.reduce(count, reduction="sum"))


def accepts_loss_kwargs(model: Any) -> bool:
    """Whether the model's forward takes `num_items_in_batch` for its loss (as the HF Trainer
    decides it: the model says so, or its forward takes **kwargs)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    declared = getattr(base, "accepts_loss_kwargs", None)
    if declared is not None:
        return bool(declared)
    parameters = inspect.signature(base.forward).parameters.values()
    return any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters)


class ShareModel:
    """The model as a loss function sees it in one data-parallel step.

    A forward with labels gets `num_items_in_batch` = (the global batch's answer tokens) x
    (this process's share of the examples), so the model's token-mean loss, once the whole loss
    is weighted by `P x share` (see `step_weight`), is this process's token sum over the global
    count: DDP's average is then the single-process token mean, inside any loss function.
    """

    def __init__(self, model: Any, accelerator: Accelerator, fraction: float):
        self.model = model
        self.accelerator = accelerator
        self.fraction = fraction

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if "labels" in kwargs and "num_items_in_batch" not in kwargs:
            everyone = summed(self.accelerator, answer_tokens(kwargs) if self.fraction else 0)
            # An idle process (fraction 0) still needs a finite loss; its weight is 0.
            kwargs["num_items_in_batch"] = everyone * self.fraction or max(everyone, 1.0)
        return self.model(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def step_weight(
    accelerator: Accelerator, batch: Any, share: int, total: int, token_mean: bool
) -> float:
    """Scale of this process's loss so that DDP's gradient average is the global batch's.

    DDP averages gradients over P processes; a process whose loss is a mean over `n_p` of the
    global batch's `N` units contributes `loss_p * P * n_p / N`. Units are examples, which is
    exact for per-example means and, through `ShareModel`, for the model's token-mean loss.
    `token_mean` (a model that takes no `num_items_in_batch`, plain next-token loss): units are
    answer tokens instead, counted here.
    """
    if token_mean:
        mine = answer_tokens(batch) if share else 0
        everyone = summed(accelerator, mine)
        fraction = mine / everyone if everyone else 0.0
    else:
        fraction = share / total
    return fraction * accelerator.num_processes


def global_loss(accelerator: Accelerator, scaled: torch.Tensor) -> float:
    """The global batch's loss from each process's scaled loss (their mean)."""
    return float(accelerator.reduce(scaled.detach().float().clone(), reduction="mean"))


def mine_of(batches: Sequence[T]) -> list[tuple[int, T]]:
    """Whole batches dealt round-robin, with their positions: batch composition never changes,
    so each question gets exactly the single-process computation."""
    world = state().num_processes
    rank = state().process_index
    return [(i, b) for i, b in enumerate(batches) if i % world == rank]


def gather_pairs(local: list[tuple[int, R]]) -> list[tuple[int, R]]:
    """Every process's (index, result) pairs, gathered on every process (alone: `local`)."""
    if not is_distributed():
        return local
    return [pair for part in gather_object([local]) for pair in part]


@contextmanager
def output_dir(final: Path) -> Iterator[Path]:
    """Where a command writes its outputs: the main process stages `final` (see `staged_dir`);
    the others write to a scratch directory beside it that is deleted. Everyone waits at the end,
    so no process returns before the outputs are in place."""
    final = Path(final)
    if is_main():
        with staged_dir(final) as stage:
            yield stage
    else:
        final.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{final.name}.rank{state().process_index}."
        with tempfile.TemporaryDirectory(prefix=prefix, dir=final.parent) as scratch:
            yield Path(scratch)
    barrier()
