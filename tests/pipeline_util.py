"""Helpers for the tests that run, kill and rerun ``animelib run``: processes, leftovers, histories, figures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image

from animelib.runs import read_history

STORED_HISTORIES = Path(__file__).parent / "fixtures" / "histories"  # see make_history_fixtures.py
MARKER = "ANIMELIB_TEST_MARK"  # an environment variable that the runner and its kernels inherit
LOCK_FILES = {".lock"}


def start_run(figures: Path, runs: Path, *options: str, marker: str, log: Path) -> subprocess.Popen:
    """``python -m animelib run --profile smoke ...`` in a session of its own (so its group can be killed)."""
    env = {k: v for k, v in os.environ.items() if k != "ANIMELIB_FAULT"}
    env[MARKER] = marker
    cmd = [sys.executable, "-m", "animelib", "run", "--profile", "smoke", "--figures-dir", str(figures),
           "--runs-dir", str(runs), *options]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def new_marker() -> str:
    return uuid.uuid4().hex


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the runner's whole process group and reap the runner."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


def marked_processes(marker: str) -> list[tuple[int, str]]:
    """Live processes (pid, command line) whose environment holds ``MARKER=marker``: the runner and its kernels."""
    try:
        import psutil  # optional: used when installed
    except ImportError:
        psutil = None
    needle = f"{MARKER}={marker}"
    found = []
    if psutil is not None:
        for p in psutil.process_iter():
            try:
                if p.status() != psutil.STATUS_ZOMBIE and p.environ().get(MARKER) == marker:
                    found.append((p.pid, " ".join(p.cmdline())))
            except (psutil.Error, OSError):
                continue
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle.encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except OSError:
            continue
    return found


def kernels(marker: str) -> list[tuple[int, str]]:
    return [(pid, cmd) for pid, cmd in marked_processes(marker) if "ipykernel" in cmd]


def seconds_until_no_kernels(marker: str, limit: float = 10.0) -> float:
    """How long the kernels started under ``marker`` took to go (``limit`` if some are still there)."""
    start = time.monotonic()
    while kernels(marker):
        if time.monotonic() - start > limit:
            return limit
        time.sleep(0.02)
    return time.monotonic() - start


def leftovers(*folders: Path) -> list[Path]:
    """Temporary files left in ``folders`` (recursively): any hidden file but the lock files, or ``*.tmp*``."""
    return sorted(p for folder in folders for p in folder.rglob("*") if p.is_file() and p.name not in LOCK_FILES
                  and (p.name.startswith(".") or ".tmp" in p.name))


def assert_figures_load(figures: Path) -> list[str]:
    """Every entry of the manifest names a file that loads as a whole image; returns the ids."""
    manifest = json.loads((figures / "manifest.json").read_text())
    for entry in manifest["figures"]:
        with Image.open(figures / entry["file"]) as image:
            image.load()  # a truncated PNG raises here
    return [entry["id"] for entry in manifest["figures"]]


def comparable(history: list[dict]) -> list[dict]:
    """Step, epoch and metrics records without wall-clock fields (resume events and timings differ)."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history if r.get("event") in (None, "epoch",
                                                                                                 "metrics")]


def assert_history_as_uninterrupted(run_dir: Path, model: str) -> None:
    """The run's history holds each step once and equals an uninterrupted smoke run's trained on this machine."""
    history = read_history(run_dir)
    steps = [r["step"] for r in history if "event" not in r]
    assert steps == list(range(1, len(steps) + 1)), f"{run_dir.name}: steps {steps}"
    assert_same_histories(history, reference_history(model), model)


def assert_same_histories(history: list[dict], reference: list[dict], model: str) -> None:
    got, want = comparable(history), comparable(reference)
    assert [(r.get("event"), r["step"]) for r in got] == [(r.get("event"), r["step"]) for r in want], model
    for a, b in zip(got, want, strict=True):
        assert a.keys() == b.keys(), (model, a, b)
        for key, value in b.items():
            expected = pytest.approx(value, rel=1e-4, abs=1e-6) if isinstance(value, float) else value
            assert a[key] == expected, (model, key, a["step"])


def reference_folder() -> Path:
    """The uninterrupted smoke histories trained once per test session, in a process of its own started with this
    environment (as the notebooks' kernels are): floating-point results differ between machines, not between runs."""
    out = Path(os.environ["ANIMELIB_CACHE"]) / "reference-histories"
    if not (out / "machine.json").exists():
        done = subprocess.run([sys.executable, str(Path(__file__).parent / "make_history_fixtures.py"), "--out",
                               str(out)], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"the reference runs failed:\n{done.stderr[-3000:]}"
    return out


def reference_history(model: str) -> list[dict]:
    return read_histories(reference_folder())[model]


def read_histories(folder: Path) -> dict[str, list[dict]]:
    """``{model: records}`` from the ``<model>-smoke-s0.jsonl`` files of ``folder``."""
    return {path.name.split("-")[0]: [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            for path in folder.glob("*-smoke-s0.jsonl")}


def assert_each_step_once(runs: Path) -> None:
    """Every run folder under ``runs`` (ablation forks included) logged each of its steps exactly once."""
    for history_file in runs.glob("*/history.jsonl"):
        steps = [r["step"] for r in read_history(history_file.parent) if "event" not in r]
        assert steps and steps == list(range(1, len(steps) + 1)), f"{history_file.parent.name}: steps {steps}"
