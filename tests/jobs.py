"""Worker jobs for the tests of smfa.workers, in a module that imports nothing heavy, so a
spawned worker unpickles them in a fraction of a second."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class SleepsForever:
    """Writes its process id to `folder`/`name`, then sleeps (until its process is ended)."""

    folder: str
    name: str

    def execute(self, progress: Any) -> None:
        (Path(self.folder) / self.name).write_text(str(os.getpid()))
        time.sleep(600)
