"""Atomic file and directory writes, hashing and JSON helpers shared by every writer.

A write goes to a temporary sibling first and is renamed into place, so an interrupted run never
leaves a half-written file under its final name.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from smfa.errors import SmfaError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_out_dir(out: Path, marker: str, command: str, also: tuple[str, ...] = ()) -> None:
    """Refuse an output path that a command would write over without having made it.

    `out` may be absent, an empty directory, or a directory holding `marker` (the file that
    `smfa COMMAND` leaves in its own outputs) or one of `also`; a file or any other directory is
    refused before any work starts, so nobody's data is ever replaced.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SmfaError(f"{out} exists and is not a directory; choose another --out")
    ours = any((out / name).is_file() for name in (marker, *also))
    if out.is_dir() and not ours and any(out.iterdir()):
        raise SmfaError(
            f"{out} is not empty and holds no {marker} from `smfa {command}`; refusing to "
            "write over it, choose an empty or new --out"
        )


@contextlib.contextmanager
def out_lock(out: Path, enabled: bool = True, wait: bool = False) -> Iterator[None]:
    """Hold `out` for this run: a second run writing to the same output is refused at once,
    or, with `wait` (a cache entry, which the other run is making for both), waits for it with
    a message, so that it can reuse what the other run wrote.

    The lock is `fcntl.flock` on `.NAME.smfa-lock` beside `out` (not inside: a finished run
    renames a staging directory onto `out`), holding the holder's pid for the message. It is
    removed on release; a lock file whose inode changed while we waited is retried, so two
    runs never hold two different files for one output.
    """
    import fcntl

    if not enabled:
        yield
        return
    out = Path(out)
    above = next((p for p in out.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise SmfaError(f"{above} is a file, so {out} cannot be made under it; choose another path")
    made = [p for p in out.parents if not p.exists()]  # removed again if the run writes nothing
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.parent / f".{out.name}.smfa-lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            if not wait:
                os.close(fd)
                raise SmfaError(
                    f"{out} is in use by another smfa run (pid {holder}); wait for it to "
                    "finish or choose another output"
                ) from None
            from smfa.terminal import console

            console(stderr=True).print(
                f"waiting for {out}: another smfa run (pid {holder}) is writing it",
                highlight=False,
                markup=False,
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:  # Ctrl-C while waiting
                os.close(fd)
                raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed it meanwhile: take the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)
        for folder in made:  # innermost first; a folder holding anything stays
            try:
                folder.rmdir()
            except OSError:
                break


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and fixed separators: the same object always gives the same bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", socket.gethostname()).strip("-") or "host"


def _temp_prefix(name: str) -> str:
    """Temporary siblings of `name` carry smfa's mark, the host and the writer's pid, so a later
    run can tell leftovers (a writer killed with SIGKILL) from a live run's work; the host keeps
    a run from judging pids of another machine sharing the file system."""
    return f".{name}.smfa-{_host()}-{os.getpid()}."


def clean_stale(parent: Path, name: str, suffix: str) -> list[Path]:
    """Remove the temporaries of `name` in `parent` (files or staging directories ending in
    `suffix`) that smfa made and whose writing process is gone; returns what was removed.

    A stale backup (`.old`: the previous `name`, moved aside just before the new one was renamed
    into place) is put back instead when `name` itself is missing: the writer died between its
    two renames, and the previous output is the one known to be whole.
    """
    pattern = re.compile(
        rf"\.{re.escape(name)}\.smfa-{re.escape(_host())}-(\d+)\..*{re.escape(suffix)}"
    )
    removed = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or _owner_alive(int(match.group(1))):
            continue
        final = Path(parent) / name
        if suffix == ".old" and not final.exists() and not final.is_symlink():
            os.replace(entry, final)
            continue
        _remove(entry)
        removed.append(entry)
    return removed


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Name `path` in an OSError that names no file: a write to a full disk (ENOSPC) or past
    the file-size limit (EFBIG) says only "No space left on device" or "File too large"."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def remove_own_temporaries(parent: Path, prefix: str, suffix: str) -> None:
    """Remove this process's temporaries `prefix*suffix` in `parent`: what an interrupt (SIGTERM,
    Ctrl-C) left when it landed after the temporary was made and before it had a name here."""
    for left in Path(parent).glob(glob.escape(prefix) + "*" + suffix):
        _remove(left)


def _remove(path: Path) -> None:
    """Remove a temporary: a staging directory with what it holds, or a file (or link)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path.parent, path.name, ".tmp")
    prefix = _temp_prefix(path.name)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
        with writing(path):
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            # mkstemp creates 0600; give the file the permissions a plain open() would have.
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
    except BaseException:
        if tmp is None:
            remove_own_temporaries(path.parent, prefix, ".tmp")
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any, indent: int | None = 2) -> None:
    text = json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False)
    atomic_write_text(path, text + "\n")


def atomic_write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(canonical_json(row) + "\n" for row in rows))


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory beside `final`; on success it replaces `final`.

    On any error the staging directory is removed and `final` is left exactly as it was, so a
    failed build or training run leaves nothing half-written behind.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(final.parent, final.name, ".old")  # left by a run killed with SIGKILL
    clean_stale(final.parent, final.name, ".partial")
    prefix = _temp_prefix(final.name)
    stage = None
    try:
        stage = Path(tempfile.mkdtemp(prefix=prefix, suffix=".partial", dir=final.parent))
        os.chmod(stage, 0o777 & ~_umask())
        yield stage
    except BaseException:
        if stage is None:
            remove_own_temporaries(final.parent, prefix, ".partial")
        else:
            shutil.rmtree(stage, ignore_errors=True)
        raise
    backup = None
    if final.exists():
        backup = final.with_name(f"{_temp_prefix(final.name)}backup.old")
        shutil.rmtree(backup, ignore_errors=True)
        os.replace(final, backup)
    os.replace(stage, final)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
