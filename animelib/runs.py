"""One folder per run: config.json, history.jsonl, checkpoints/ and samples/.

Checkpoints are one dict written atomically (temporary file, fsync, then rename) and loaded with
``torch.load(weights_only=True)``; a process killed while writing leaves the previous checkpoint
whole. The checkpoint records how long ``history.jsonl`` was when it was written; on resume the
history is cut back to that point, so steps logged after the last checkpoint by a killed run are not
counted twice, and a ``resume`` event marks where training continued. A run writing to the folder
holds an advisory lock on ``.lock``; the operating system drops it when the process dies, so a
killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import pickle
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from animelib import faults
from animelib.config import RUNTIME_FIELDS, Config
from animelib.errors import AnimelibError, ConfigError
from animelib.files import atomic_write, file_lock, remove_stale_temporaries

CHECKPOINT_FORMAT = 1
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.jsonl"
CHECKPOINT_FILE = "checkpoints/last.pt"


class CheckpointError(AnimelibError):
    """A checkpoint that cannot be read or written, or belongs to another run."""


class RunLockedError(AnimelibError):
    """Another process is writing to the run folder."""


class Run:
    """A run folder: ``Run.create(path, config)`` to train in it, ``Run.open(path)`` to read a trained one.

    ``settings`` is the run's ``config.json`` as a dict (``model`` plus every config field). An opened run
    never writes: figures can be drawn from a folder shared read-only.
    """

    def __init__(self, path: str | Path, settings: dict[str, Any], defaults: dict[str, Any] | None = None):
        self.path = Path(path)
        self.settings = settings
        # the config class's defaults: a field that a run written by an older version lacks counts as its default
        self.defaults = defaults or {}

    @classmethod
    def create(cls, path: str | Path, config: Config) -> Run:
        """Make (or reopen for training) the run folder of ``config``; one with other settings is refused."""
        path = Path(path)
        cls.check_settings(path, config)
        run = cls(path, config.to_dict(), type(config).default_settings())
        for folder in (run.path, run.checkpoint_file.parent, run.samples_dir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise CheckpointError(f"cannot create run folder {folder}: {e.strerror or e}") from None
        run._write(_atomic_write_text, run.config_file, json.dumps(run.settings, indent=2) + "\n")
        return run

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """A trained run folder, read only (nothing is created or written)."""
        path = Path(path)
        config_file = path / CONFIG_FILE
        if not config_file.is_file():
            raise AnimelibError(f"{path} is not a run folder (no {CONFIG_FILE})")
        try:
            settings = json.loads(config_file.read_text())
        except (OSError, ValueError) as e:
            raise AnimelibError(f"{config_file} cannot be read ({e})") from None
        if not isinstance(settings, dict) or "model" not in settings:
            raise AnimelibError(f"{config_file} is not an animelib run config (no model)")
        return cls(path, settings)

    @staticmethod
    def check_settings(path: str | Path, config: Config) -> None:
        """Refuse a run folder that holds a trained run with other settings (writes nothing)."""
        path = Path(path)
        config_file = path / CONFIG_FILE
        if config_file.exists() and (path / CHECKPOINT_FILE).exists():
            diff = config_diff(json.loads(config_file.read_text()), config.to_dict(), type(config).default_settings())
            if diff:
                raise ConfigError(f"run folder {path} holds a run with other settings ({diff}); "
                                  "use another run folder, or delete this one to start again")

    @classmethod
    def fork(cls, source: str | Path, target: str | Path, config: Config) -> Run:
        """A new run of ``config`` starting from another run's last checkpoint and history.

        The copied checkpoint is re-labelled with the new config (the checkpoint check refuses one written with
        other settings); the history is copied first, so a fork killed half-way has no checkpoint yet and is
        simply forked again. The fork is made under the new folder's lock, and a folder that already holds a
        checkpoint (forked by another process meanwhile) is kept as it is.
        """
        state = read_checkpoint(Path(source) / CHECKPOINT_FILE)
        run = cls.create(target, config)
        with run.lock(wait=True):
            if run.has_checkpoint():  # another process forked it meanwhile (and may have trained it further)
                return run
            shutil.copy2(Path(source) / HISTORY_FILE, run.history_file)
            run._write(_atomic_save, run.checkpoint_file, {**state, "config": run.settings})
        return run

    @property
    def model(self) -> str:
        return self.settings["model"]

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    # --- lock ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, wait: bool = False, log: Callable[[str], object] = print) -> Iterator[None]:
        """Hold the run folder's write lock; a second writer gets a clear error, or with ``wait`` waits for it.

        Whoever takes the lock removes what killed writers left in the folder: half-written checkpoints and other
        temporary files.
        """
        def busy(fd: int) -> None:
            message = f"run folder {self.path} is being written by {_holder(fd)}"
            if not wait:
                raise RunLockedError(f"{message}; wait for it to finish, or use another run folder")
            log(f"[animelib] {message}; waiting for it to finish (interrupt to stop waiting)")

        with file_lock(self.path / ".lock", on_busy=busy) as fd:
            if fd is not None:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
            for stale in self.checkpoint_file.parent.glob(f".{self.checkpoint_file.name}.*"):
                stale.unlink(missing_ok=True)  # half-written checkpoints of a killed run
            for folder in (self.path, self.samples_dir):
                remove_stale_temporaries(folder)  # config, notes and samples a killed process left half-written
            yield

    # --- history -------------------------------------------------------------------------------
    @property
    def history_file(self) -> Path:
        return self.path / HISTORY_FILE

    def log(self, record: dict[str, Any]) -> None:
        self.log_many([record])

    def log_many(self, records: list[dict[str, Any]]) -> None:
        if records:
            self._write(_append_text, self.history_file, "".join(json.dumps(r) + "\n" for r in records))

    def _write(self, write, path: Path, *args: Any) -> None:
        """``write(path, *args)``, turning a full disk or a read-only folder into one clear message."""
        try:
            write(path, *args)
        except OSError as e:
            reason = "the disk is full" if e.errno in (errno.ENOSPC, errno.EDQUOT) else (e.strerror or str(e))
            kept = " The previous checkpoint is kept;" if self.has_checkpoint() else ""
            raise CheckpointError(f"could not write {path}: {reason}.{kept} free some space (or fix the folder) "
                                  "and run the same command again to resume") from None

    def history_size(self) -> int:
        return self.history_file.stat().st_size if self.history_file.exists() else 0

    def truncate_history(self, size: int) -> None:
        """Cut the history back to ``size`` bytes (where the checkpoint was written)."""
        if not self.history_file.exists():
            if size:
                raise ConfigError(f"{self.history_file} is missing but the checkpoint expects {size} bytes of "
                                  "history; restore it or delete the run folder to start again")
            return
        if self.history_file.stat().st_size < size:
            raise ConfigError(f"{self.history_file} is shorter than when the checkpoint was written; restore it or "
                              "delete the run folder to start again")
        with self.history_file.open("r+") as f:
            f.truncate(size)

    def history(self) -> list[dict[str, Any]]:
        return read_history(self.path)

    # --- checkpoints ---------------------------------------------------------------------------
    @property
    def checkpoint_file(self) -> Path:
        return self.path / CHECKPOINT_FILE

    def has_checkpoint(self) -> bool:
        return self.checkpoint_file.exists()

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        state = {**state, "format": CHECKPOINT_FORMAT, "config": self.settings, "history_size": self.history_size()}
        self._write(_atomic_save, self.checkpoint_file, state, state.get("epoch", 0))
        faults.point("checkpoint", state.get("epoch", 0))

    def load_checkpoint(self, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
        """The last checkpoint (None if there is none), checked to be whole and to belong to this run."""
        if not self.has_checkpoint():
            return None
        path = self.checkpoint_file
        state = read_checkpoint(path, map_location)
        saved = state.get("config", {})
        if saved.get("model") != self.model:
            raise CheckpointError(f"{path} is a {saved.get('model')} checkpoint, not {self.model}; "
                                  "use another run folder")
        diff = config_diff(saved, self.settings, self.defaults)
        if diff:
            raise CheckpointError(f"{path} was written with other settings ({diff}); use another run folder, "
                                  "or delete this one to start again")
        return state

    # --- samples and notes ---------------------------------------------------------------------
    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    def samples_file(self, kind: str, epoch: int) -> Path:
        """Where images of ``kind`` (``fixed``, ``test_A2B``, ...) after ``epoch`` are kept."""
        return self.samples_dir / f"{kind}_e{epoch:03d}.npy"

    def save_samples(self, kind: str, epoch: int, images: np.ndarray) -> None:
        """Keep (N, H, W, 3) uint8 images of ``kind`` after ``epoch`` for later figures."""
        self._write(_atomic_save_array, self.samples_file(kind, epoch), images)

    def load_samples(self, kind: str, epoch: int) -> np.ndarray:
        return np.load(self.samples_file(kind, epoch))

    def write_note(self, name: str, text: str) -> None:
        """A short text file in the run folder (which VGG19 a run used, ...), for captions."""
        self._write(_atomic_write_text, self.path / name, text.rstrip("\n") + "\n")

    def read_note(self, name: str) -> str | None:
        path = self.path / name
        return path.read_text() if path.is_file() else None


def read_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of a run's history.jsonl (step records and ``event`` records)."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint file loaded with ``weights_only=True``; damaged, foreign or newer files are clear errors."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path} holds more than weights and plain values, so it is not loaded "
                              f"(weights_only=True refused it: {str(e).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path} is damaged (truncated or not a checkpoint: {str(e).splitlines()[0]}); "
                              "restore a copy, or delete it to start the run again") from None
    if not isinstance(state, dict) or "format" not in state:
        raise CheckpointError(f"{path} is not an animelib checkpoint (no format version)")
    if state["format"] != CHECKPOINT_FORMAT:
        newer = isinstance(state["format"], int) and state["format"] > CHECKPOINT_FORMAT
        raise CheckpointError(f"{path} has checkpoint format {state['format']}, this animelib reads format "
                              f"{CHECKPOINT_FORMAT}" + ("; it was written by a newer animelib: upgrade to resume it"
                                                        if newer else ""))
    return state


def config_diff(saved: dict[str, Any], current: dict[str, Any], defaults: dict[str, Any] | None = None) -> str:
    """The settings (runtime ones aside) that differ, as ``name: saved -> current``; empty if none.

    A field missing from either side (written before the field existed) is taken at its value in ``defaults`` (the
    config class's defaults: what that older version did), so adding a field at a default that keeps the old
    behaviour leaves earlier run folders usable."""
    defaults = defaults or {}
    saved, current = _jsonable({**defaults, **saved}), _jsonable({**defaults, **current})
    names = sorted(k for k in set(saved) | set(current)
                   if k not in RUNTIME_FIELDS and saved.get(k) != current.get(k))
    return ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in names)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _append_text(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, text, sync=True)


def _atomic_save(path: Path, obj: Any, epoch: int = 0) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    _atomic_write_bytes(path, buffer.getbuffer(), fault=("checkpoint-write", epoch))


def _atomic_save_array(path: Path, images: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, images)
    _atomic_write_bytes(path, buffer.getbuffer())


def _atomic_write_bytes(path: Path, data: bytes | memoryview, fault: tuple[str, int] | None = None) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it: readers see old or new, whole."""

    def write_halves(f) -> None:
        half = len(data) // 2
        f.write(data[:half])
        if fault:
            f.flush()
            faults.point(*fault)  # the tests kill the process here, half-way through the write
        f.write(data[half:])

    atomic_write(path, write_halves, sync=True)


def wait_while_locked(path: str | Path, log: Callable[[str], object] = print) -> bool:
    """Block while another process writes to the run folder ``path`` (holds its lock); True if it waited."""
    lock_file = Path(path) / ".lock"
    if not lock_file.is_file():
        return False
    waited = []

    def busy(fd: int) -> None:
        waited.append(fd)
        log(f"[animelib] run folder {path} is being written by {_holder(fd)}; waiting for it to finish "
            "(interrupt to stop waiting)")

    with file_lock(lock_file, on_busy=busy, create=False):  # read-only: flock needs no write permission
        return bool(waited)


def _holder(fd: int) -> str:
    """Who holds a run folder's lock, as its lock file says (``pid 1234``)."""
    return os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"


def history_summary(history: list[dict[str, Any]]) -> str:
    """One line: epochs, steps, training time and where the run was resumed."""
    epochs = [r for r in history if r.get("event") == "epoch"]
    if not epochs:
        return "no epoch finished yet"
    seconds = sum(r["seconds"] for r in epochs)
    resumes = [r["epoch"] for r in history if r.get("event") == "resume"]
    text = (f"{epochs[-1]['epoch']} epochs, {epochs[-1]['step']:,} steps, {seconds:.0f} s of training "
            f"({epochs[-1]['step'] / max(seconds, 1e-9):.1f} steps/s)")
    if resumes:
        text += f"; resumed after epoch{'s' if len(resumes) > 1 else ''} {', '.join(map(str, resumes))}"
    return text
