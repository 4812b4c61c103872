"""Fault tests: runs killed anywhere resume exactly; divergence, locks, damaged checkpoints, full disks.

The kill tests run ``python -m animelib train MODEL --profile smoke`` in a subprocess and kill it with
SIGKILL: at exact points through ``ANIMELIB_FAULT`` (see ``animelib.faults``), and from outside at a
moment the test picks by watching the history.
"""

from __future__ import annotations

import errno
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import pytest
import torch
from PIL import Image
from pipeline_util import (
    assert_each_step_once,
    assert_figures_load,
    assert_history_as_uninterrupted,
    kernels,
    kill_group,
    leftovers,
    new_marker,
    seconds_until_no_kernels,
    start_run,
)

from animelib import compare, plots
from animelib.errors import ConfigError
from animelib.kernels import DIE_WITH_PARENT
from animelib.manifest import FIGURES, FigureBook, read_manifest, save_figure
from animelib.models import config_class, dcgan, load_generator, spec, train
from animelib.nets.landmarks import load_regressor
from animelib.plan import PlannedRun
from animelib.runs import CheckpointError, Run, RunLockedError, history_summary, read_checkpoint, read_history
from animelib.training import FinishedRun, TrainingDiverged
from animelib.widgets import latent_explorer

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

MODELS = ("dcgan", "cyclegan", "cartoongan")


def smoke(model: str, **changes):
    return config_class(model).from_profile("smoke", **changes)


def cli_train(model: str, run_dir, fault: str | None = None, extra: tuple[str, ...] = (), background: bool = False):
    """``animelib train MODEL --profile smoke`` in a subprocess (``background``: started, not waited for)."""
    env = {k: v for k, v in os.environ.items() if k != "ANIMELIB_FAULT"}
    if fault:
        env["ANIMELIB_FAULT"] = fault
    cmd = [sys.executable, "-m", "animelib", "train", model, "--profile", "smoke", "--run-dir", str(run_dir), *extra]
    if background:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def steps_and_metrics(run_dir) -> list[dict]:
    """The history without timings and resume markers: every step record and every metrics record."""
    return [r for r in read_history(run_dir) if r.get("event") in (None, "metrics")]


def assert_same_history(got: list[dict], want: list[dict]) -> None:
    assert [(r.get("event"), r["step"]) for r in got] == [(r.get("event"), r["step"]) for r in want]
    for a, b in zip(got, want, strict=True):
        assert a.keys() == b.keys()
        for k, v in b.items():
            if isinstance(v, float):
                assert a[k] == pytest.approx(v, abs=1e-5), (k, a["step"])
            else:
                assert a[k] == v, (k, a["step"])


def assert_same_weights(run_a, run_b) -> None:
    a = read_checkpoint(run_a / "checkpoints" / "last.pt")
    b = read_checkpoint(run_b / "checkpoints" / "last.pt")
    assert a["epoch"] == b["epoch"] and a["step"] == b["step"]
    for name, weights in b["nets"].items():
        for key, value in weights.items():
            assert torch.allclose(a["nets"][name][key].float(), value.float(), atol=1e-5), (name, key)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted smoke runs of the three models, trained once for this module."""
    folders = {}
    for model in MODELS:
        folders[model] = tmp_path_factory.mktemp(f"reference-{model}")
        train(smoke(model), folders[model], progress=False)
    return folders


@pytest.mark.slow  # the fast set resumes interrupted runs in-process (test_training.py)
@pytest.mark.parametrize("model", MODELS)
def test_sigkill_anywhere_then_resume_equals_uninterrupted(tmp_path, model, reference):
    cfg = smoke(model)
    steps = spec(model).trainer_class(cfg, tmp_path / "probe", progress=False).steps_per_epoch()
    run = tmp_path / "run"
    kills = [
        f"step:{steps // 2}",  # mid-epoch 1, before any checkpoint
        "checkpoint:1",  # right after the first checkpoint is on disk
        f"step:{steps + steps // 2 + 1}",  # mid-epoch 2
        "checkpoint-write:2",  # half-way through writing the second checkpoint
    ]
    for fault in kills:
        result = cli_train(model, run, fault)
        assert result.returncode == -signal.SIGKILL, (fault, result.stderr[-2000:])
        if fault == "checkpoint-write:2":  # the half-written file is beside the previous, whole checkpoint
            assert list((run / "checkpoints").glob(".last.pt.*"))
            assert read_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1
    result = cli_train(model, run)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not list((run / "checkpoints").glob(".last.pt.*"))  # the stale half-written file was removed
    history = read_history(run)
    resumes = [r["epoch"] for r in history if r.get("event") == "resume"]
    assert resumes and all(e >= 1 for e in resumes)
    steps_logged = [r["step"] for r in history if "event" not in r]
    assert steps_logged == list(range(1, len(steps_logged) + 1))  # each step exactly once
    assert_same_history(steps_and_metrics(run), steps_and_metrics(reference[model]))
    assert_same_weights(run, reference[model])


@pytest.mark.slow  # the fast set kills a run with test_sigkill_anywhere_then_resume_equals_uninterrupted[dcgan]
def test_sigkill_from_outside_mid_epoch_with_steps_logged(tmp_path, reference):
    """Killed at a moment the test picks (after some steps of epoch 2 are in the history), not at a hook."""
    run = tmp_path / "run"
    proc = cli_train("dcgan", run, extra=("--set", "log_every=1"), background=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if any(r.get("epoch") == 2 and "event" not in r for r in read_history(run)):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert any(r.get("epoch") == 2 and "event" not in r for r in read_history(run))  # steps past the checkpoint
    result = cli_train("dcgan", run, extra=("--set", "log_every=1"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert_same_history(steps_and_metrics(run), steps_and_metrics(reference["dcgan"]))
    assert_same_weights(run, reference["dcgan"])


def test_non_finite_loss_stops_with_step_and_loss_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    cls = spec("dcgan").trainer_class
    original = cls.train_step

    def poisoned(self, batch):
        losses = original(self, batch)
        if self.step + 1 == 6:  # the step being taken is step 6 (epoch 2 of the smoke profile)
            losses["loss_D"] = losses["loss_D"] * float("nan")
        return losses

    monkeypatch.setattr(cls, "train_step", poisoned)
    cfg = smoke("dcgan", log_every=1)
    with pytest.raises(TrainingDiverged, match=r"loss_D = nan at step 6 \(epoch 2\).*epoch 1, step 4"):
        train(cfg, tmp_path, progress=False)
    assert read_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 4
    assert read_history(tmp_path)[-1] == {"event": "diverged", "epoch": 2, "step": 6, "losses": ["loss_D"]}
    monkeypatch.setattr(cls, "train_step", original)  # resumes from the good checkpoint and finishes
    trainer = train(cfg, tmp_path, progress=False)
    assert trainer.step == 8 and [r["step"] for r in read_history(tmp_path) if "event" not in r] == list(range(1, 9))


@pytest.mark.slow  # the same stop as the test above, seen from the command line
def test_non_finite_loss_on_the_command_line_is_one_line(tmp_path):
    code = ("import sys, torch; from animelib.models.dcgan import DCGANTrainer as T; f = T.train_step\n"
            "T.train_step = lambda self, b: {**f(self, b), 'loss_G': torch.tensor(float('inf'))}\n"
            "from animelib.cli import main; sys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", code, "train", "dcgan", "--profile", "smoke", "--run-dir",
                             str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "loss_G = inf at step 1" in result.stderr and "none yet" in result.stderr


def test_a_second_writer_is_refused_and_a_stale_lock_does_not_block(tmp_path):
    cfg = smoke("dcgan", epochs=1)
    with Run.create(tmp_path, cfg).lock():
        with pytest.raises(RunLockedError, match=f"being written by pid {os.getpid()}"):
            spec("dcgan").trainer_class(cfg, tmp_path, progress=False)
        result = cli_train("dcgan", tmp_path, extra=("--epochs", "1"))
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "is being written by pid" in result.stderr
    # a process that takes the lock and dies without releasing it
    code = ("import os, signal, sys; from animelib.models.dcgan import DCGANConfig; from animelib.runs import Run\n"
            "cm = Run.create(sys.argv[1], DCGANConfig.from_profile('smoke', epochs=1)).lock(); cm.__enter__()\n"
            "os.kill(os.getpid(), signal.SIGKILL)")
    assert subprocess.run([sys.executable, "-c", code, str(tmp_path)], timeout=120).returncode == -signal.SIGKILL
    assert "pid" in (tmp_path / ".lock").read_text()  # the lock file is left behind ...
    assert train(cfg, tmp_path, progress=False).epoch == 1  # ... and does not block


def test_a_trainer_opened_earlier_picks_up_what_another_session_trained(tmp_path):
    cfg = smoke("dcgan")
    early = spec("dcgan").trainer_class(cfg, tmp_path, progress=False)  # opened, not fitted yet
    train(cfg, tmp_path, progress=False)  # another session trains the run to the end meanwhile
    assert early.fit().step == 8  # reloaded from disk: nothing trained twice, nothing overwritten
    assert [r["step"] for r in read_history(tmp_path) if "event" not in r] == list(range(1, 9))


def test_a_run_written_before_a_field_existed_reopens_at_that_fields_default(tmp_path):
    """A run folder of an older version lacks the fields added since; at their defaults they keep its behaviour,
    so the run reopens (here: DCGAN's lr_decay_start, added after runs had been trained)."""
    import json

    run_dir = tmp_path / "old"
    cfg = smoke("dcgan", epochs=2)
    train(cfg, run_dir, progress=False)
    config_file, ckpt = run_dir / "config.json", run_dir / "checkpoints" / "last.pt"
    settings = json.loads(config_file.read_text())
    del settings["lr_decay_start"]
    config_file.write_text(json.dumps(settings))
    state = read_checkpoint(ckpt)
    torch.save({**state, "config": {k: v for k, v in state["config"].items() if k != "lr_decay_start"}}, ckpt)
    trainer = train(cfg, run_dir, progress=False)  # reopens the older run, at lr_decay_start's default
    assert trainer.epoch == 2
    assert load_generator(run_dir) is not None
    with pytest.raises(ConfigError, match=r"other settings \(lr_decay_start: 0 -> 1\)"):
        train(cfg.replace(lr_decay_start=1), run_dir, progress=False)


def test_checkpoint_from_another_model_or_config_or_version_is_refused(tmp_path):
    dcgan, cyclegan = tmp_path / "dcgan", tmp_path / "cyclegan"
    train(smoke("dcgan", epochs=1), dcgan, progress=False)
    train(smoke("cyclegan", epochs=1), cyclegan, progress=False)
    ckpt = cyclegan / "checkpoints" / "last.pt"
    ckpt.write_bytes((dcgan / "checkpoints" / "last.pt").read_bytes())
    with pytest.raises(CheckpointError, match="is a dcgan checkpoint, not cyclegan"):
        spec("cyclegan").trainer_class(smoke("cyclegan", epochs=1), cyclegan, progress=False)

    other = tmp_path / "other"
    train(smoke("dcgan", epochs=1, lr=1e-4), other, progress=False)
    (dcgan / "checkpoints" / "last.pt").write_bytes((other / "checkpoints" / "last.pt").read_bytes())
    with pytest.raises(CheckpointError, match=r"other settings \(lr: 0.0001 -> 0.0003\)"):
        spec("dcgan").trainer_class(smoke("dcgan", epochs=1), dcgan, progress=False)

    state = read_checkpoint(other / "checkpoints" / "last.pt")
    torch.save({**state, "format": 99}, other / "checkpoints" / "last.pt")
    with pytest.raises(CheckpointError, match="format 99.*newer animelib: upgrade"):
        spec("dcgan").trainer_class(smoke("dcgan", epochs=1, lr=1e-4), other, progress=False)


def test_truncated_or_unsafe_checkpoint_is_a_clear_error(tmp_path):
    cfg = smoke("dcgan", epochs=1)
    train(cfg, tmp_path, progress=False)
    ckpt = tmp_path / "checkpoints" / "last.pt"
    whole = ckpt.read_bytes()
    ckpt.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CheckpointError, match="is damaged"):
        spec("dcgan").trainer_class(cfg, tmp_path, progress=False)
    torch.save({"format": 1, "payload": Run}, ckpt)  # a pickled class: not plain weights
    with pytest.raises(CheckpointError, match="weights_only=True refused it"):
        spec("dcgan").trainer_class(cfg, tmp_path, progress=False)
    result = cli_train("dcgan", tmp_path, extra=("--epochs", "1"))
    assert result.returncode == 2 and "Traceback" not in result.stderr and "weights_only" in result.stderr


def test_full_disk_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, reference):
    cfg = smoke("dcgan")
    trainer = spec("dcgan").trainer_class(cfg, tmp_path, progress=False)
    trainer.fit(stop_at_epoch=1)
    before = (tmp_path / "checkpoints" / "last.pt").read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("animelib.runs.os.fsync", full)
    with pytest.raises(CheckpointError, match="the disk is full. The previous checkpoint is kept"):
        trainer.fit()
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == before
    assert read_checkpoint(tmp_path / "checkpoints" / "last.pt")["epoch"] == 1
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.pt"]  # no temporary left
    monkeypatch.undo()  # space freed: the same command resumes and ends as if nothing happened
    train(cfg, tmp_path, progress=False)
    assert_same_history(steps_and_metrics(tmp_path), steps_and_metrics(reference["dcgan"]))
    assert_same_weights(tmp_path, reference["dcgan"])


def test_read_only_history_is_a_clear_error(tmp_path, monkeypatch):
    cfg = smoke("dcgan", epochs=1)

    def refuse(path, text):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("animelib.runs._append_text", refuse)
    with pytest.raises(CheckpointError, match="Read-only file system"):
        train(cfg, tmp_path, progress=False)


@pytest.mark.slow  # the fast set fills the disk by a fault injection (the test above)
def test_full_disk_on_a_real_small_filesystem(tmp_path):
    """The checkpoints folder on a tmpfs with room for one checkpoint only: the second write fails for real."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    cfg = smoke("dcgan")
    probe = tmp_path / "probe"
    spec("dcgan").trainer_class(cfg, probe, progress=False).fit(stop_at_epoch=1)
    size = (probe / "checkpoints" / "last.pt").stat().st_size
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    room = f"{(size * 3 // 2) // 1024 + 8}k"  # one checkpoint, not a second one beside it
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={room}", "tmpfs", str(run / "checkpoints")],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        trainer = spec("dcgan").trainer_class(cfg, run, progress=False)
        trainer.fit(stop_at_epoch=1)
        before = (run / "checkpoints" / "last.pt").read_bytes()
        with pytest.raises(CheckpointError, match="the disk is full. The previous checkpoint is kept"):
            trainer.fit()
        assert (run / "checkpoints" / "last.pt").read_bytes() == before
        assert read_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1
        assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.pt"]
    finally:
        subprocess.run(["umount", str(run / "checkpoints")], capture_output=True)


# --- figures killed half-way, read-only run folders, the whole pipeline killed and run again ----------------------

HALF_SAVE = """
import io, os, shutil, signal, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from animelib.manifest import save_figure
fig_dir, fig_id, first = sys.argv[1], sys.argv[2], sys.argv[3] == "first"
fig = plt.figure()
plt.plot([0, 1], [1, 0])
if not first:  # a previous, whole version of the figure, and a copy of it to compare with
    shutil.copy(save_figure(fig, fig_id, fig_dir, "the previous version"), f"{fig_dir}/../previous.png")
draw = fig.savefig

def half_then_die(f, **kwargs):  # the real PNG, half written, then the process is killed
    buffer = io.BytesIO()
    draw(buffer, **kwargs)
    f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)

fig.savefig = half_then_die
save_figure(fig, fig_id, fig_dir, "the new version")
"""


def test_a_kill_while_saving_a_figure_leaves_the_previous_one_or_none_and_the_next_save_cleans_up(tmp_path):
    figures = tmp_path / "figures"
    for fig_id, which in (("fig5", "again"), ("fig6a", "first")):
        killed = subprocess.run([sys.executable, "-c", HALF_SAVE, str(figures), fig_id, which], capture_output=True,
                                text=True, timeout=300)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (figures / "fig5.png").read_bytes() == (tmp_path / "previous.png").read_bytes()  # the previous one
    with Image.open(figures / "fig5.png") as image:
        image.load()
    assert not (figures / "fig6a.png").exists()  # or none
    entries = {f["id"]: f["caption"] for f in read_manifest(figures)["figures"]}
    assert entries == {"fig5": "the previous version"}
    half = leftovers(figures)  # the two half-written PNGs are beside them, under names the report never reads
    assert len(half) == 2 and all(p.name.endswith(".tmp") for p in half)
    save_figure(plt.figure(), "fig2a", figures, "the next figure")  # the next save removes them
    assert leftovers(figures) == []


def snapshot(folder):
    """Every path under ``folder`` with its bytes, mode and modification time (files) or mode (folders)."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None, p.stat().st_mode,
                                               p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def make_read_only(folder, how: str) -> None:
    """``chmod -R a-w`` (root still writes: the snapshot catches that), or a read-only bind mount."""
    if how == "bind-mount":
        if shutil.which("mount") is None:
            pytest.skip("no mount command")
        bound = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
        if bound.returncode != 0:
            pytest.skip(f"cannot bind-mount here: {bound.stderr.strip()}")
        remounted = subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], capture_output=True, text=True)
        if remounted.returncode != 0:
            subprocess.run(["umount", str(folder)], capture_output=True)
            pytest.skip(f"cannot make the bind mount read-only: {remounted.stderr.strip()}")
        return
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)


@pytest.mark.parametrize("how", ["chmod", "bind-mount"])
def test_a_read_only_run_folder_opens_loads_draws_and_drives_the_widgets_without_a_write(tmp_path, reference, how):
    shared = tmp_path / "shared" / "dcgan-smoke-s0"
    shutil.copytree(reference["dcgan"], shared)
    make_read_only(shared, how)
    try:
        before = snapshot(shared)
        run = Run.open(shared)
        cfg = config_class(run.model).from_dict(run.settings)
        G = load_generator(shared, device="cpu")
        history = read_history(shared)
        book = FigureBook(tmp_path / "figures", cfg, "01_dcgan.ipynb")
        book.save("fig5", plots.plot_losses(history, {"losses": ["loss_G", "loss_D"]}), "Figure 5")
        epochs = dcgan.snapshot_epochs(cfg.epochs)
        images = dcgan.epoch_samples(shared, epochs, rows=2)  # (2 * len(epochs), 64, 64, 3)
        book.save("fig6c", plots.image_grid(images, nrow=len(epochs)), "Figure 6c")
        explorer = latent_explorer(G, k=2).explorer
        first = explorer.controls["image"].value
        explorer.controls["directions"][0].value = 2.0
        assert explorer.controls["image"].value != first
        assert snapshot(shared) == before  # nothing inside it was written, created or touched
        assert {f["id"] for f in read_manifest(tmp_path / "figures")["figures"]} == {"fig5", "fig6c"}
    finally:
        if how == "bind-mount":
            subprocess.run(["umount", str(shared)], capture_output=True)
        for path in [shared, *shared.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)  # so that pytest can remove it


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory):
    """A runs folder with one small DCGAN run, trained to its end in two sessions (as a notebook's plan has it)."""
    runs = tmp_path_factory.mktemp("finished-runs")
    cfg = smoke("dcgan", num_train=32, batch_size=8, epochs=2)
    planned = PlannedRun("dcgan", cfg, runs / cfg.run_name, interrupt_at=(1,))
    return runs, planned, planned.train(progress=False)


@pytest.mark.parametrize("how", ["chmod", "bind-mount"])
def test_a_notebook_run_again_on_a_read_only_copy_of_its_runs_trains_nothing_and_writes_nothing(
        tmp_path, finished_runs, how):
    """Run All of a notebook whose runs are finished, on a read-only copy of runs/: ``train()`` builds no trainer and
    writes nothing (no lock, config, notes or history), and the notebook's loading and measuring read the folder."""
    runs, planned, trained = finished_runs
    shared = tmp_path / "runs"
    shutil.copytree(runs, shared)
    make_read_only(shared, how)
    try:
        before = snapshot(shared)
        cfg, run_dir = planned.config, shared / planned.name
        for again in (PlannedRun("dcgan", cfg, run_dir, interrupt_at=(1,)).train(progress=False),
                      train(cfg, run_dir, progress=False), train(cfg, run_dir, progress=False, wait=False)):
            assert type(again) is FinishedRun
            assert (again.epoch, again.step, again.notes) == (2, trained.step, trained.notes)
        # what notebook 01 reads and measures next
        history = read_history(run_dir)
        assert history_summary(history).startswith("2 epochs, 8 steps") and "resumed after epoch 1" in \
            history_summary(history)
        G = load_generator(run_dir, device="cpu")
        held_out = dcgan.load_data(cfg, progress=False)[1].images
        samples = dcgan.generate(G, dcgan.noise(len(held_out), cfg.nz, seed=300))
        findings = [compare.loss_trend_finding(history), compare.dcgan_finding(samples, held_out, n_boot=20),
                    compare.early_finding(run_dir, held_out, [0, 1, 2], n_boot=20)]
        images = dcgan.epoch_samples(run_dir, [0, 1, 2], rows=2)
        book = FigureBook(tmp_path / "figures", cfg, "01_dcgan.ipynb")
        book.save("fig6c", plots.image_grid(images, nrow=3), "Figure 6c", text="\n".join(map(str, findings)))
        assert snapshot(shared) == before  # nothing inside it was written, created or touched
    finally:
        if how == "bind-mount":
            subprocess.run(["umount", str(shared)], capture_output=True)
        for path in [shared, *shared.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)  # so that pytest can remove it


# The whole pipeline, killed at seeded moments and run again each time. A kill moment is a trigger seen in one
# notebook during an attempt (the runner starts the notebook, a figure of it is saved, or its model finishes an
# epoch) plus a seeded delay; triggers rather than clock times put the kills in the same places on a fast and on a
# slow machine. ANIMELIB_SOAK_SEED and ANIMELIB_SOAK_KILLS draw other moments (to soak by hand).
SOAK_SEED = int(os.environ.get("ANIMELIB_SOAK_SEED", "7"))
SOAK_KILLS = int(os.environ.get("ANIMELIB_SOAK_KILLS", "3"))
BOOKS = ("00_datasets", "01_dcgan", "02_cyclegan", "03_cartoongan", "04_comparison")
TRAINS = {"01_dcgan": "dcgan", "02_cyclegan": "cyclegan", "03_cartoongan": "cartoongan"}
DELAYS = {"start": (0.5, 4.0), "figure": (0.0, 1.0), "epoch": (0.0, 1.5)}


def kill_plan(rng: random.Random, kills: int) -> list[tuple[str, str, float]]:
    """(notebook, trigger, delay) per kill, in run order, distinct notebooks; one kill mid-training at least."""
    training = rng.choice(sorted(TRAINS))
    books = sorted([training, *rng.sample([b for b in BOOKS if b != training], kills - 1)])
    plan = []
    for book in books:
        trigger = "epoch" if book == training else rng.choice(["start", "figure"] + (["epoch"] if book in TRAINS
                                                                                     else []))
        plan.append((book, trigger, round(rng.uniform(*DELAYS[trigger]), 2)))
    return plan


class Attempt:
    """One start of the pipeline, watched for a notebook's trigger."""

    def __init__(self, figures, runs, log, marker):
        self.figures, self.runs, self.log = figures, runs, log
        self.log_start = log.stat().st_size if log.exists() else 0
        self.started = time.time()
        self.epochs_before = {b: self.epochs(b) for b in TRAINS}
        self.proc = start_run(figures, runs, marker=marker, log=log)

    def output(self) -> str:
        with self.log.open("rb") as f:
            f.seek(self.log_start)
            return f.read().decode(errors="replace")

    def epochs(self, book: str) -> int:
        return sum(r.get("event") == "epoch" for r in read_history(self.runs / f"{TRAINS[book]}-smoke-s0"))

    def happened(self, book: str, trigger: str) -> bool:
        if trigger == "start":
            return f": {book}.ipynb (profile smoke)" in self.output()
        if trigger == "epoch":
            return self.epochs(book) > self.epochs_before[book]
        ids = [i for i, (nb, _) in FIGURES.items() if nb == f"{book}.ipynb"]
        return any((self.figures / f"{i}.png").exists() and (self.figures / f"{i}.png").stat().st_mtime > self.started
                   for i in ids)

    def where(self) -> str:
        """The notebook the runner was in (its last start line)."""
        starts = re.findall(r"notebook \d/\d: (\S+)\.ipynb", self.output())
        return starts[-1] if starts else "before the first notebook"


@pytest.mark.slow  # a soak: the smoke pipeline killed three times and run again (minutes)
def test_the_whole_pipeline_killed_at_random_moments_and_run_again_ends_as_if_never_interrupted(tmp_path, capsys):
    load_regressor(progress=False)  # the cached landmark net (about a minute, once per cache): not what is tested
    figures, runs, log, marker = tmp_path / "figures", tmp_path / "runs", tmp_path / "run.log", new_marker()
    plan = kill_plan(random.Random(SOAK_SEED), SOAK_KILLS)
    assert any(book in TRAINS and trigger == "epoch" for book, trigger, _ in plan)
    outcomes, start = [], time.monotonic()
    for book, trigger, delay in plan:
        attempt = Attempt(figures, runs, log, marker)
        try:
            deadline = time.monotonic() + 900
            while not attempt.happened(book, trigger) and attempt.proc.poll() is None:
                assert time.monotonic() < deadline, f"no {trigger} in {book} after 900 s"
                time.sleep(0.05)
            time.sleep(delay)
            landed = attempt.where()
        finally:
            kill_group(attempt.proc)
        assert attempt.proc.returncode == -signal.SIGKILL, (f"the run ended before the kill {book}/{trigger}",
                                                            attempt.output()[-3000:])
        gone = seconds_until_no_kernels(marker)
        outcomes.append(f"{trigger} in {book} + {delay} s: killed in {landed}, kernels gone after {gone:.2f} s")
        assert gone < 2.0, outcomes[-1]
    final = Attempt(figures, runs, log, marker)
    assert final.proc.wait(timeout=1800) == 0, final.output()[-3000:]
    resumed = {m: [r["epoch"] for r in read_history(runs / f"{m}-smoke-s0") if r.get("event") == "resume"]
               for m in TRAINS.values()}
    with capsys.disabled():
        print(f"\nsoak (seed {SOAK_SEED}): " + "; ".join(outcomes) + f"; resumed after epochs {resumed}; total "
              f"{time.monotonic() - start:.0f} s")
    ids = assert_figures_load(figures)  # every figure of the manifest is there, whole
    assert set(FIGURES) <= set(ids)
    for model in TRAINS.values():
        assert_history_as_uninterrupted(runs / f"{model}-smoke-s0", model)  # each step once, same numbers
    assert_each_step_once(runs)  # the ablation's forks too
    assert kernels(marker) == []
    assert leftovers(figures, runs) == []


KERNEL_RUNNER = """
import asyncio, sys
from jupyter_client.manager import AsyncKernelManager
from animelib.kernels import RunnerKernelManager

async def main():
    manager = (RunnerKernelManager if sys.argv[1] == "runner" else AsyncKernelManager)(kernel_name="python3")
    await manager.start_kernel(independent=True)  # no JPY_PARENT_PID: ipykernel does not watch its parent
    print(manager.provisioner.process.pid, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_kernel_of_the_runner_dies_with_it_even_where_ipykernel_does_not_watch_its_parent():
    kernel_pids = {}
    for kind in ("runner", "plain"):
        runner = subprocess.Popen([sys.executable, "-c", KERNEL_RUNNER, kind], stdout=subprocess.PIPE, text=True,
                                  stderr=subprocess.DEVNULL)
        kernel_pids[kind] = int(runner.stdout.readline())
        runner.kill()  # SIGKILL: no clean-up of its kernel
        runner.wait(timeout=60)
    deadline = time.monotonic() + 3
    while running(kernel_pids["runner"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert not running(kernel_pids["runner"])  # the runner's kernel went with it ...
        assert running(kernel_pids["plain"])  # ... where a plain jupyter_client kernel lives on
    finally:
        for pid in kernel_pids.values():
            if running(pid):
                os.kill(pid, signal.SIGKILL)


KERNEL_OVER_SOCKETS = """
import asyncio, glob
from animelib.kernels import RunnerKernelManager

async def main():
    manager = RunnerKernelManager(kernel_name="python3")
    await manager.start_kernel()
    client = manager.client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    client.execute("print(6 * 7)")
    while (msg := await client.get_iopub_msg(timeout=60))["msg_type"] != "stream":
        pass
    print(manager.transport, msg["content"]["text"].strip(), len(glob.glob(manager.ip + "-*")))
    client.stop_channels()
    await manager.shutdown_kernel()
    print(len(glob.glob(manager.ip + "-*")))

asyncio.run(main())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets")
def test_a_kernel_of_the_runner_talks_over_unix_sockets_and_removes_them():
    done = subprocess.run([sys.executable, "-c", KERNEL_OVER_SOCKETS], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ipc", "42", "5", "0"]  # five sockets while it runs, none after
    assert "without encryption" not in done.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_kernel_whose_runner_is_already_gone_does_not_start():
    started = subprocess.run([sys.executable, "-c", DIE_WITH_PARENT, "1", sys.executable, "-c", "print('kernel')"],
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 1 and "kernel" not in started.stdout
    assert "runner ended before its kernel started" in started.stderr
