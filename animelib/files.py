"""Atomic file writes whose temporary files name their writer, so that what a killed writer left is removed.

A file is written to ``.<name>.<pid>-<host>.<random>.tmp`` beside it and renamed over it, so a reader sees
the old file or the new one, whole. A process killed with SIGKILL cannot remove its temporary file; the
next writer in that folder does (:func:`remove_stale_temporaries`): a temporary file is stale when the
process named in it no longer runs on this machine (one written on another machine sharing the folder,
when it is older than an hour). A temporary file of a writer still at work is never touched.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# This machine in four hex digits: enough to tell the machines sharing a folder apart.
HOST_TAG = f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFF:04x}"
TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)-(?P<host>[0-9a-f]{4})\.[A-Za-z0-9_]+\.tmp")
OTHER_HOST_STALE_SECONDS = 3600


def temporary_beside(path: Path) -> tuple[int, Path]:
    """A new temporary file (descriptor, path) in ``path``'s folder, named after ``path`` and this process."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-{HOST_TAG}.", suffix=".tmp")
    return fd, Path(tmp)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object], sync: bool = False) -> None:
    """``write(file)`` into a temporary file beside ``path``, then rename it over ``path``: old or new, whole.

    ``sync``: fsync before the rename (checkpoints; a figure can be drawn again). The file gets mode 0o644.
    """
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
