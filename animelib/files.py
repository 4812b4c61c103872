"""Atomic file writes and advisory file locks, the one place each is done.

Atomic writes (:func:`atomic_write`): a file is written to ``.<name>.<pid>-<host>.<random>.tmp`` beside it
and renamed over it, so a reader sees the old file or the new one, whole. A process killed with SIGKILL cannot
remove its temporary file; the next writer in that folder does (:func:`remove_stale_temporaries`): a temporary
file is stale when the process named in it no longer runs on this machine (one written on another machine
sharing the folder, when it is older than an hour). A temporary file of a writer still at work is never touched.

File locks (:func:`file_lock`): an exclusive ``flock`` on a file or folder, held for a ``with`` block. The
operating system drops it when the process dies, so a killed holder never leaves a stale lock behind. Without
``fcntl`` (Windows) nothing is locked; renames still keep every file whole.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None

# This machine in four hex digits: enough to tell the machines sharing a folder apart.
HOST_TAG = f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFF:04x}"
TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)-(?P<host>[0-9a-f]{4})\.[A-Za-z0-9_]+\.tmp")
OTHER_HOST_STALE_SECONDS = 3600


def temporary_beside(path: Path) -> tuple[int, Path]:
    """A new temporary file (descriptor, path) in ``path``'s folder, named after ``path`` and this process."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-{HOST_TAG}.", suffix=".tmp")
    return fd, Path(tmp)


def atomic_write(path: str | Path, data: bytes | memoryview | str | Callable[[BinaryIO], object],
                 sync: bool = False) -> None:
    """Write ``data`` into a temporary file beside ``path``, then rename it over ``path``: old or new, whole.

    ``data``: bytes, text (written as UTF-8), or a function ``write(file)`` that writes into the open binary
    temporary file. ``sync``: fsync before the rename (checkpoints; a figure can be drawn again). The file gets
    mode 0o644. A failed write removes the temporary file and raises.
    """
    if isinstance(data, str):
        data = data.encode()
    write = data if callable(data) else lambda f: f.write(data)
    path = Path(path)
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def file_lock(path: str | Path, wait: bool = True, on_busy: Callable[[int], object] | None = None,
              create: bool = True, mode: int = 0o644) -> Iterator[int | None]:
    """Hold an exclusive advisory lock (``flock``) on ``path`` for the ``with`` block; yields its open descriptor.

    ``create``: open ``path`` for reading and writing, made with ``mode`` if missing (the holder may write into
    it, e.g. its pid); else open an existing file or folder read-only (``flock`` needs no write permission).
    When another process holds the lock, ``on_busy(fd)`` is called first (to say who holds it, or to raise
    instead of waiting); then with ``wait`` this process waits for the lock, and without it
    :class:`BlockingIOError` is raised. Leaving the block releases the lock. Without ``fcntl`` (Windows)
    nothing is opened or locked and the block gets None.
    """
    if fcntl is None:
        yield None
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT if create else os.O_RDONLY, mode)
    try:
        if not _try_flock(fd):
            if on_busy is not None:
                on_busy(fd)
            if not wait:
                raise BlockingIOError(errno.EWOULDBLOCK, f"{path} is locked by another process")
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)  # released even where a forked child shares the descriptor
    finally:
        os.close(fd)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _process_runs(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def is_stale(path: Path, now: float | None = None) -> bool:
    """Whether ``path`` is a temporary file (see :data:`TEMPORARY`) whose writer is gone."""
    match = TEMPORARY.fullmatch(path.name)
    if match is None:
        return False
    if match["host"] == HOST_TAG:
        return not _process_runs(int(match["pid"]))
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    return age > OTHER_HOST_STALE_SECONDS


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporary files that killed writers left in ``folder`` (not below it); returns them."""
    removed = []
    try:
        candidates = [p for p in Path(folder).iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for path in candidates:
        if is_stale(path):
            try:
                path.unlink()
            except FileNotFoundError:  # another writer removed it first
                continue
            removed.append(path)
    return removed
