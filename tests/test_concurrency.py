"""Side by side: two processes saving figures into one folder, a run folder that another process trains, and two
``animelib run`` pipelines on the same runs and figures folders at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pipeline_util import (
    assert_figures_load,
    assert_history_as_uninterrupted,
    kernels,
    kill_group,
    leftovers,
    marked_processes,
    new_marker,
    start_run,
)

from animelib.files import HOST_TAG
from animelib.manifest import FIGURES, read_manifest, register
from animelib.models import train
from animelib.models.dcgan import DCGANConfig
from animelib.runs import Run, RunLockedError, read_history

WRITER = """
import sys, time
from pathlib import Path
from animelib.manifest import register
fig_dir, prefix, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
for i in range(100):
    register(fig_dir, f"{prefix}{i:03d}", f"{prefix}{i:03d}.png", f"figure {i} of writer {prefix}", notebook="t")
"""

HOLDER = """
import sys, time
from pathlib import Path
from animelib.models.dcgan import DCGANConfig
from animelib.runs import Run
with Run.create(sys.argv[1], DCGANConfig.from_profile("smoke")).lock():
    print("locked", flush=True)
    while not Path(sys.argv[2]).exists():
        time.sleep(0.01)
"""


def lock_waiters(lock_file: Path) -> int:
    """How many processes wait for the flock on ``lock_file`` (Linux's /proc/locks; -1 where there is none)."""
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return -1
    inode = f":{lock_file.stat().st_ino} "
    return sum(1 for line in table.splitlines() if "->" in line and "FLOCK" in line and inode in line + " ")


def wait_for_waiters(lock_file: Path, count: int, procs=(), limit: float = 300) -> bool:
    """Wait until ``count`` processes wait for ``lock_file``; False if a process in ``procs`` ended first."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        waiting = lock_waiters(lock_file)
        if waiting < 0:
            time.sleep(5)  # no /proc/locks: give the waiters time to arrive
            return True
        if waiting >= count:
            return True
        if any(p.poll() is not None for p in procs):
            return False
        time.sleep(0.05)
    return False


def test_two_processes_saving_100_figures_each_keep_all_200_and_readers_see_whole_manifests(tmp_path):
    figures, go = tmp_path / "figures", tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(figures), prefix, str(go)], text=True,
                                stdout=subprocess.PIPE) for prefix in ("a", "b")]
    for writer in writers:
        assert writer.stdout.readline().strip() == "ready"
    go.touch()  # both start at once
    reads, seen = 0, 0
    while any(w.poll() is None for w in writers):
        try:
            text = (figures / "manifest.json").read_text()
        except FileNotFoundError:
            continue
        count = len(json.loads(text)["figures"])  # a half-written manifest fails to parse here
        assert count >= seen, "an entry was lost"
        seen, reads = count, reads + 1
    assert [w.wait() for w in writers] == [0, 0]
    ids = sorted(f["id"] for f in read_manifest(figures)["figures"])
    assert ids == sorted(f"{p}{i:03d}" for p in "ab" for i in range(100))
    assert reads >= 5, "the reader read too rarely to have watched the writers"
    assert leftovers(figures) == []


def test_temporaries_of_killed_writers_are_removed_and_those_of_live_writers_kept(tmp_path):
    gone = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout)
    other_host = f"{(int(HOST_TAG, 16) + 1) % 0x10000:04x}"
    stale = tmp_path / f".fig5.png.{gone}-{HOST_TAG}.k1ll3d.tmp"  # its writer was killed
    live = tmp_path / f".fig6a.png.{os.getppid()}-{HOST_TAG}.w0rk1n.tmp"  # its writer is still at work
    remote_young = tmp_path / f".manifest.json.{gone}-{other_host}.r3m0te.tmp"  # another machine, a moment ago
    remote_old = tmp_path / f".fig7.png.{gone}-{other_host}.0ld0ne.tmp"  # another machine, two hours ago
    for path in (stale, live, remote_young, remote_old):
        path.write_bytes(b"\x89PNG half")
    os.utime(remote_old, (time.time() - 7200, time.time() - 7200))
    register(tmp_path, "fig1a", "fig1a.png", "caption")
    assert (stale.exists(), live.exists(), remote_young.exists(), remote_old.exists()) == (False, True, True, False)


@pytest.mark.slow  # a second process trains a whole run
def test_train_waits_for_a_run_folder_another_process_trains_and_continues_from_it(tmp_path, capsys):
    cfg = DCGANConfig.from_profile("smoke")
    release = tmp_path / "release"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "run"), str(release)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"being written by pid {holder.pid}; wait for it to finish"):
            train(cfg, tmp_path / "run", progress=False, wait=False)
        saw_waiter = []

        def release_when_waited_for():
            saw_waiter.append(wait_for_waiters(tmp_path / "run" / ".lock", 1, limit=120))
            release.touch()

        releaser = threading.Thread(target=release_when_waited_for)
        releaser.start()
        trainer = train(cfg, tmp_path / "run", progress=False)  # blocks until the holder lets go
        releaser.join()
    finally:
        release.touch()
        holder.wait(timeout=60)
    assert saw_waiter == [True]
    assert (f"run folder {tmp_path / 'run'} is being written by pid {holder.pid}; waiting for it to finish"
            in capsys.readouterr().out)
    assert trainer.step == 8
    assert [r["step"] for r in read_history(tmp_path / "run") if "event" not in r] == list(range(1, 9))


@pytest.mark.slow  # two whole smoke pipelines
def test_two_pipelines_on_the_same_folders_wait_for_the_locked_run_and_fill_the_manifest(tmp_path):
    """Both `animelib run` processes meet the DCGAN run folder held (by this test), wait, then one trains it, the
    other waits for that and reuses it; the figures of both notebooks end up in one whole manifest."""
    figures, runs, marker = tmp_path / "figures", tmp_path / "runs", new_marker()
    run_dir = runs / "dcgan-smoke-s0"
    procs = []
    try:
        with Run.create(run_dir, DCGANConfig.from_profile("smoke")).lock():
            procs = [start_run(figures, runs, "--only", "datasets", "dcgan", marker=marker, log=tmp_path / f"log{i}")
                     for i in range(2)]
            assert wait_for_waiters(run_dir / ".lock", 2, procs), [(tmp_path / f"log{i}").read_text()[-2000:]
                                                                   for i in range(2)]
        codes = [p.wait(timeout=900) for p in procs]
    finally:
        for proc in procs:
            kill_group(proc)
    assert codes == [0, 0], [(tmp_path / f"log{i}").read_text()[-2000:] for i in range(2)]
    ids = set(assert_figures_load(figures))
    assert {i for i, (book, _) in FIGURES.items() if book in ("00_datasets.ipynb", "01_dcgan.ipynb")} <= ids
    assert_history_as_uninterrupted(run_dir, "dcgan")  # trained once: each step once
    executed = (runs / "notebooks" / "01_dcgan.ipynb").read_text()
    assert f"is being written by pid {os.getpid()}; waiting for it to finish" in executed
    assert leftovers(figures, runs) == []
    assert kernels(marker) == []


def test_a_runner_killed_alone_takes_its_training_workers_along(tmp_path):
    """SIGKILL to the runner only (not its group, as an OOM killer or `kill -9 PID` sends it): its training workers,
    one of them waiting for the run folder this test holds, end too instead of training on under the lock."""
    figures, runs, marker, log = tmp_path / "figures", tmp_path / "runs", new_marker(), tmp_path / "log"
    run_dir = runs / "dcgan-smoke-s0"

    def workers() -> list[tuple[int, str]]:
        return [(pid, cmd) for pid, cmd in marked_processes(marker) if "spawn_main" in cmd]

    proc = None
    try:
        with Run.create(run_dir, DCGANConfig.from_profile("smoke")).lock():
            proc = start_run(figures, runs, "--only", "dcgan", "--workers", "2", marker=marker, log=log)
            assert wait_for_waiters(run_dir / ".lock", 1, [proc]), log.read_text()[-2000:]
            assert workers(), log.read_text()[-2000:]
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=60) == -signal.SIGKILL
            deadline = time.monotonic() + 10
            while workers() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert workers() == []
    finally:
        if proc is not None:
            kill_group(proc)
        for pid, _ in workers():  # whatever is left, so a failure does not leave trainers behind
            os.kill(pid, signal.SIGKILL)
