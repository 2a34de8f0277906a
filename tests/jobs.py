"""Worker jobs for the tests of smfa.workers (test_workers.py, test_hardening.py), and the
polling helper they share, in a module that imports nothing heavy, so a spawned worker
unpickles them in a fraction of a second."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def wait_for(predicate: Callable[[], bool], seconds: float = 60.0) -> None:
    """Poll `predicate` every 50 ms until it holds; fail after `seconds`."""
    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


@dataclass
class SleepsForever:
    """Writes its process id to `folder`/`name`, then sleeps (until its process is ended)."""

    folder: str
    name: str

    def execute(self, progress: Any) -> None:
        from smfa.io import atomic_write_text

        # Atomic: the test reads the id as soon as the file exists, never an empty one.
        atomic_write_text(Path(self.folder) / self.name, str(os.getpid()))
        time.sleep(600)


@dataclass
class StagesForever:
    """Stages an output and never finishes (until its process is ended)."""

    out: str
    name: str = "stages"

    def execute(self, progress: Any) -> None:
        from smfa.io import out_lock, staged_dir

        with out_lock(Path(self.out)), staged_dir(Path(self.out)):
            progress("staged", 1, 1, None)
            time.sleep(600)


@dataclass
class FailsOnceStaged:
    """Fails as soon as another job's staging directory stands beside `out`."""

    out: str
    name: str = "fails"

    def execute(self, progress: Any) -> None:
        from smfa.errors import SmfaError

        wait_for(lambda: any(p.name.endswith(".partial") for p in Path(self.out).parent.iterdir()))
        raise SmfaError("the input is bad")
