"""One folder per run: config.json, history.jsonl, checkpoints/ and samples/.

Checkpoints are one dict written atomically (temporary file, then rename) and loaded with
``torch.load(weights_only=True)``. The checkpoint records how long ``history.jsonl`` was when it was
written; on resume the history is cut back to that point, so steps logged after the last checkpoint
by a killed run are not counted twice, and a ``resume`` event marks where training continued.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from animelib.config import Config
from animelib.errors import ConfigError

CHECKPOINT_FORMAT = 1


class Run:
    """A run folder. ``Run(path, config)`` creates it or reopens it (the config must match)."""

    def __init__(self, path: str | Path, config: Config):
        self.path = Path(path)
        self.config = config
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "checkpoints").mkdir(exist_ok=True)
        (self.path / "samples").mkdir(exist_ok=True)
        config_file = self.path / "config.json"
        if config_file.exists():
            old = json.loads(config_file.read_text())
            new = config.to_dict()
            # the device may change between sessions (a run started on CPU may resume on a GPU)
            diff = sorted(k for k in set(old) | set(new) if k != "device" and old.get(k) != _jsonable(new.get(k)))
            if diff and self.has_checkpoint():
                raise ConfigError(
                    f"run folder {self.path} holds a run with other settings ({', '.join(diff)}); "
                    "use another run folder, or delete this one to start again"
                )
        _atomic_write_text(config_file, json.dumps(config.to_dict(), indent=2) + "\n")

    # --- history -------------------------------------------------------------------------------
    @property
    def history_file(self) -> Path:
        return self.path / "history.jsonl"

    def log(self, record: dict[str, Any]) -> None:
        with self.history_file.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def log_many(self, records: list[dict[str, Any]]) -> None:
        if records:
            with self.history_file.open("a") as f:
                f.write("".join(json.dumps(r) + "\n" for r in records))

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
        return self.path / "checkpoints" / "last.pt"

    def has_checkpoint(self) -> bool:
        return self.checkpoint_file.exists()

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        state = {**state, "format": CHECKPOINT_FORMAT, "config": self.config.to_dict(),
                 "history_size": self.history_size()}
        _atomic_save(state, self.checkpoint_file)

    def load_checkpoint(self, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
        if not self.has_checkpoint():
            return None
        state = torch.load(self.checkpoint_file, map_location=map_location, weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ConfigError(f"{self.checkpoint_file} has checkpoint format {state.get('format')}, "
                              f"this animelib reads format {CHECKPOINT_FORMAT}")
        return state

    def sample_file(self, name: str) -> Path:
        return self.path / "samples" / name


def read_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of a run's history.jsonl (step records and ``event`` records)."""
    path = Path(run_dir) / "history.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _atomic_save(obj: Any, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
