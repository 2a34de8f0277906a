"""The persistent worker pool: results by name, jobs share a few processes, failures surface."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from smfa.errors import SmfaError
from smfa.workers import run_jobs


@dataclass
class Square:
    value: int

    @property
    def name(self) -> str:
        return f"square-{self.value}"

    def execute(self, progress: Any) -> dict[str, int]:
        progress("compute", 1, 1, None)
        return {"value": self.value * self.value, "pid": os.getpid()}


@dataclass
class Fails:
    name: str = "fails"

    def execute(self, progress: Any) -> None:
        raise SmfaError("the input is bad")


@dataclass
class Dies:
    name: str = "dies"

    def execute(self, progress: Any) -> None:
        os._exit(3)


@dataclass
class Stamp:
    """Sleeps, then leaves a file; reports whether the files of `needs` were there at start."""

    name: str
    folder: str
    seconds: float = 0.0
    after: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()

    def execute(self, progress: Any) -> dict[str, Any]:
        started = time.time()
        seen = all(os.path.exists(os.path.join(self.folder, n)) for n in self.needs)
        time.sleep(self.seconds)
        open(os.path.join(self.folder, self.name), "w").close()
        return {"seen": seen, "started": started, "ended": time.time()}


def test_a_job_starts_after_the_jobs_it_waits_on_and_others_go_on(tmp_path: Path) -> None:
    folder = str(tmp_path)
    jobs = [
        Stamp("train", folder, seconds=2.0),
        Stamp("method", folder, after=("train",), needs=("train",)),
        Stamp("other", folder),
    ]
    results = run_jobs(jobs, workers=2)
    assert results["method"]["seen"]  # never handed out before "train" was done
    assert results["method"]["started"] >= results["train"]["ended"]
    # "other" did not wait behind the waiting job: it ran while "train" still did.
    assert results["other"]["started"] < results["train"]["ended"]


def test_a_job_may_only_wait_on_earlier_jobs(tmp_path: Path) -> None:
    with pytest.raises(SmfaError, match=r"job first waits on \['later'\], not earlier jobs"):
        run_jobs([Stamp("first", str(tmp_path), after=("later",)), Stamp("later", str(tmp_path))])


def test_every_job_runs_once_in_at_most_workers_processes() -> None:
    results = run_jobs([Square(v) for v in range(5)], workers=2)
    assert {name: r["value"] for name, r in results.items()} == {
        f"square-{v}": v * v for v in range(5)
    }
    pids = {r["pid"] for r in results.values()}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids


def test_a_failing_job_raises_its_error_with_its_name() -> None:
    with pytest.raises(SmfaError, match="fails: the input is bad"):
        run_jobs([Square(2), Fails()], workers=1)


def test_a_dead_worker_is_reported() -> None:
    with pytest.raises(SmfaError, match=r"worker process died \(exit 3\).*dies"):
        run_jobs([Dies()], workers=1)


def test_names_must_be_unique_and_no_jobs_is_no_results() -> None:
    with pytest.raises(SmfaError, match="unique"):
        run_jobs([Square(1), Square(1)])
    assert run_jobs([]) == {}
