"""Fault tests: runs killed anywhere resume exactly; divergence, locks, damaged checkpoints, full disks.

The kill tests run ``python -m animelib train MODEL --profile smoke`` in a subprocess and kill it with
SIGKILL: at exact points through ``ANIMELIB_FAULT`` (see ``animelib.faults``), and from outside at a
moment the test picks by watching the history.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from animelib.models import config_class, spec, train
from animelib.runs import CheckpointError, Run, RunLockedError, read_checkpoint, read_history
from animelib.training import TrainingDiverged

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


def test_full_disk_on_a_real_small_filesystem(tmp_path):
    """The checkpoints folder on a tmpfs with room for one checkpoint only: the second write fails for real."""
    import shutil

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
