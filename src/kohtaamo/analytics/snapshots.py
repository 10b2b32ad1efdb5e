"""Settled snapshots of the archive, so every worker reads reports (ADR 0015).

DuckDB lets one process open a file read-write, or many open it read-only, never both at once.
So one process at a time fills the live file (`KOHTAAMO_ANALYTICS_PATH`), holding an exclusive
`flock` on `<path>.lock` for the pass; after a pass that brought something new it checkpoints and
closes the file, copies it to the next generation `<stem>.<n><suffix>` and atomically replaces
the pointer `<path>.current` (which holds `n`). Readers in every process open the generation the
pointer names read-only and reopen when it moves. Generations older than the previous one are
removed; a reader still holding one keeps reading it (an unlinked open file lives on in Linux).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path


def pointer_path(path: str) -> Path:
    return Path(path + ".current")


def lock_path(path: str) -> Path:
    return Path(path + ".lock")


def generation_path(path: str, n: int) -> Path:
    p = Path(path)
    return p.with_name(f"{p.stem}.{n}{p.suffix}")


def current(path: str) -> int:
    """The published generation (0: none yet)."""
    try:
        text = pointer_path(path).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return 0
    return int(text) if text.isdigit() else 0


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)  # in the kernel (sendfile) on Linux
    with target.open("rb+") as fh:
        os.fsync(fh.fileno())


def publish(path: str) -> int:
    """Copy the live file (checkpointed and closed by the caller, who holds the fill lock) to the
    next generation and point readers at it; returns that generation."""
    n = current(path) + 1
    target = generation_path(path, n)
    partial = target.with_name(target.name + ".partial")
    _copy(Path(path), partial)
    os.replace(partial, target)
    pointer = pointer_path(path)
    staged = pointer.with_name(pointer.name + ".partial")
    staged.write_text(f"{n}\n", encoding="ascii")
    with staged.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(staged, pointer)  # atomic: a reader sees the old generation or the new one
    _fsync_dir(pointer.parent)
    prune(path, keep_from=n - 1)
    return n


def prune(path: str, *, keep_from: int) -> None:
    """Remove generations older than `keep_from`: a reader that read the pointer just before it
    moved still finds the previous one; readers holding older ones keep their open file."""
    p = Path(path)
    pattern = re.compile(rf"^{re.escape(p.stem)}\.(\d+){re.escape(p.suffix)}(\.partial)?$")
    for entry in p.parent.iterdir():
        found = pattern.match(entry.name)
        if found and int(found[1]) < keep_from:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


@dataclass
class Progress:
    """What the fill processes tell each other in the lock file (epoch seconds)."""

    passed: float = 0.0  # the last pass, by any process
    published: float = 0.0  # the last snapshot
    pending: bool = False  # a pass brought rows that no snapshot holds yet


class FillLock:
    """The one-writer rule across processes and threads: an exclusive `flock` (per open file, so
    two threads of one process exclude each other too), released by the kernel if the holder
    dies. The file also carries the `Progress` of the fill."""

    def __init__(self, path: str) -> None:
        self.path = lock_path(path)
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        assert self._fd is None, "already held"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def acquire(self, *, timeout: float, poll: float = 0.2) -> bool:
        """Wait (bounded) for a pass in another process to end."""
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() > deadline:
                return False
            time.sleep(poll)
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def progress(self) -> Progress:
        assert self._fd is not None, "read under the lock"
        raw = os.pread(self._fd, 4096, 0).rstrip(b"\0 \n")
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:  # torn by a crash mid-write: publish at the next pass to be sure
            data = {"pending": True}
        return Progress(
            float(data.get("passed", 0.0)),
            float(data.get("published", 0.0)),
            bool(data.get("pending", False)),
        )

    def save(self, progress: Progress) -> None:
        assert self._fd is not None, "written under the lock"
        raw = json.dumps(asdict(progress)).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, raw, 0)
