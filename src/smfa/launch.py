"""Whether this process is one of several a launcher started, read from the environment only.

`torchrun` (which `accelerate launch` runs) sets WORLD_SIZE in every process it starts; MPI
launchers set their own size variable (accelerate reads the same ones for multi-CPU runs).
Commands that run their own worker processes, or have nothing to share out (world build,
import, verify, stream, compare, export-lora, demo), refuse such a launch here, before
importing torch, accelerate or transformers: a command that loads no model starts in about a
second. `smfa.distributed` owns everything else about data-parallel runs.
"""

from __future__ import annotations

import os

from smfa.errors import SmfaError

# The process-count variables of torchrun, Intel MPI / MPICH (PMI), Open MPI and MVAPICH2.
SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


class LaunchError(SmfaError):
    """A command or setting that cannot run under this `accelerate launch` configuration."""


def launched_processes() -> int:
    """How many processes the launcher says it started (1 when not launched)."""
    sizes = [1]
    for name in SIZE_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            try:
                sizes.append(int(value))
            except ValueError:
                raise LaunchError(f"{name}={value!r} in the environment is not a number") from None
    return max(sizes)


def require_single(command: str) -> None:
    """Refuse a command that runs its own worker processes instead of data-parallel ones."""
    if launched_processes() > 1:
        raise LaunchError(
            f"`smfa {command}` runs its own worker processes and is not data-parallel; "
            "run it without `accelerate launch` (unlearn, train and eval scale out)"
        )
