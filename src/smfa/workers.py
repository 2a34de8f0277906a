"""Long jobs in a few persistent worker processes, with one live progress bar per job.

A job is any picklable object with a `name` and `execute(progress) -> result`, and optionally
`after`: the names of earlier jobs it needs finished. Jobs are handed out in the order given
(put the long ones first), each as soon as a worker is free and its `after` jobs are done, to
`workers` processes that each live for the whole run, so the price of starting Python and
importing torch and transformers (several seconds of CPU each time) is paid once per worker,
not once per job. Every job seeds its own
randomness, so the process a job lands in does not change its result.

Workers end with the process that started them, even one killed with SIGKILL (which runs no
clean-up): on Linux the kernel sends each worker SIGTERM when its parent dies
(`prctl(PR_SET_PDEATHSIG)`), and a watchdog thread in every worker does the same wherever that
is unavailable, so no worker is left holding its memory. The multiprocessing resource tracker
ends on its own once the last worker is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from smfa.errors import SmfaError
from smfa.terminal import console


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCH_SECONDS = 0.5  # how often the watchdog looks for its parent


def _parent_is_gone(parent: int) -> bool:
    return os.getppid() != parent  # an orphan is adopted by init or a subreaper


def _watch(parent: int) -> None:
    """Watchdog thread: SIGTERM this worker once `parent` is gone; SIGKILL if that hangs."""
    while not _parent_is_gone(parent):
        time.sleep(WATCH_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)  # the SIGTERM unwinding (staging directories, locks) had its time
    os.kill(os.getpid(), signal.SIGKILL)


def end_with_parent(parent: int) -> None:
    """Make this process end when `parent` (the process that started it) ends."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if _parent_is_gone(parent):  # it died before the line above took effect
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=_watch, args=(parent,), name="parent-watchdog", daemon=True).start()


def _serve(tasks: Any, messages: Any, parent: int) -> None:
    """Worker-process body: run jobs from `tasks` until the stop sign (None)."""
    # `_stop` terminates a worker with SIGTERM, and so does the death of the parent: unwind, so
    # its staging directories and output locks are removed instead of left behind.
    signal.signal(signal.SIGTERM, _terminated)
    end_with_parent(parent)
    while True:
        job = tasks.get()
        if job is None:
            return
        name = job.name

        def progress(
            label: str, done: int, total: int, loss: float | None, name: str = name
        ) -> None:
            messages.put(("progress", name, label, done, total, loss))

        messages.put(("start", name))
        try:
            messages.put(("done", name, job.execute(progress)))
        except SmfaError as exc:
            messages.put(("error", name, str(exc)))
        except Exception as exc:  # a bug in a job: surface it with its type, not silently
            messages.put(("error", name, f"{type(exc).__name__}: {exc}"))


def _stop(processes: list[Any], finished: bool) -> None:
    """Let finished workers exit on their own; terminate them when a job failed."""
    for process in processes:
        if not finished and process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()


def _after(job: Any) -> tuple[str, ...]:
    return tuple(getattr(job, "after", ()) or ())


COLUMNS = (
    TextColumn("[bold]{task.description}"),
    BarColumn(),
    MofNCompleteColumn(),
    TextColumn("{task.fields[note]}"),
    TimeElapsedColumn(),
)


class _Dispatch:
    """The jobs not handed out yet, and the workers free to take one."""

    def __init__(self, jobs: list[Any], count: int, tasks: Any) -> None:
        self.waiting = list(jobs)
        self.count = count
        self.free = count
        self.tasks = tasks

    def __call__(self, done: set[str]) -> None:
        """Hand free workers the first jobs whose `after` jobs are done; after the last job,
        one stop sign per worker."""
        while self.free > 0 and self.waiting:
            ready = next((j for j in self.waiting if set(_after(j)) <= done), None)
            if ready is None:
                return
            self.waiting.remove(ready)
            self.tasks.put(ready)
            self.free -= 1
            if not self.waiting:
                for _ in range(self.count):
                    self.tasks.put(None)


def _check_jobs(jobs: list[Any]) -> list[str]:
    names = [job.name for job in jobs]
    if len(set(names)) != len(names):
        raise SmfaError(f"job names must be unique, got {names}")
    for i, job in enumerate(jobs):
        unknown = set(_after(job)) - set(names[:i])
        if unknown:
            raise SmfaError(f"job {job.name} waits on {sorted(unknown)}, not earlier jobs")
    return names


def run_jobs(jobs: list[Any], workers: int = 2) -> dict[str, Any]:
    """Run `jobs` in up to `workers` processes; returns each job's result by name.

    A failing job stops the others and raises its error; so does a worker that dies.
    """
    names = _check_jobs(jobs)
    if not jobs:
        return {}
    context = mp.get_context("spawn")
    tasks, messages = context.Queue(), context.Queue()
    dispatch = _Dispatch(jobs, max(1, min(workers, len(jobs))), tasks)
    dispatch(set())
    processes = [
        context.Process(target=_serve, args=(tasks, messages, os.getpid()), daemon=True)
        for _ in range(dispatch.count)
    ]
    for process in processes:
        process.start()
    results: dict[str, Any] = {}
    finished = False
    try:
        with Progress(*COLUMNS, console=console(stderr=True)) as bar:
            shown = {n: bar.add_task(f"wait {n}", total=None, note="") for n in names}
            while len(results) < len(jobs):
                try:
                    message = messages.get(timeout=0.5)
                except queue.Empty:
                    _check_alive(processes, [n for n in names if n not in results])
                    continue
                _handle(message, bar, shown, results, dispatch)
        finished = True
    finally:
        _stop(processes, finished)
    return results


def _check_alive(processes: list[Any], missing: list[str]) -> None:
    """Raise when a worker died (or every worker ended) with jobs left unfinished."""
    dead = [p for p in processes if p.exitcode not in (None, 0)]
    if dead or all(p.exitcode is not None for p in processes):
        code = dead[0].exitcode if dead else 0
        raise SmfaError(
            f"a worker process died (exit {code}) before finishing {', '.join(missing)}"
        ) from None


def _handle(
    message: tuple[Any, ...],
    bar: Progress,
    shown: dict[str, Any],
    results: dict[str, Any],
    dispatch: _Dispatch,
) -> None:
    """One worker message: a job started, made progress, finished (hand out the next), failed."""
    kind, name = message[0], message[1]
    if kind == "start":
        bar.update(shown[name], description=name)
    elif kind == "progress":
        _, _, label, done, total, loss = message
        note = f"loss {loss:.4f}" if loss is not None else ""
        bar.update(shown[name], description=label, completed=done, total=total, note=note)
    elif kind == "done":
        results[name] = message[2]
        bar.update(shown[name], description=f"{name} done", note="")
        dispatch.free += 1
        dispatch(set(results))
    else:
        raise SmfaError(f"{name}: {message[2]}")
