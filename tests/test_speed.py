"""Speed paths on the CPU: the bench command, the speed switches, and a hot loop that never waits on losses."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import pytest
import torch

from animelib import speed, utils
from animelib.bench import bench, describe, plain_dcgan
from animelib.manifest import caption
from animelib.models import config_class, spec
from animelib.training import LossLog

MODELS = ("dcgan", "cyclegan", "cartoongan")


def smoke(model: str, **changes):
    cfg = config_class(model).from_profile("smoke", **changes)
    return cfg.replace(pretrain_epochs=0) if model == "cartoongan" else cfg


@pytest.mark.slow  # the fast set times the models in-process (the test below)
def test_bench_command_json(tmp_path):
    result = subprocess.run([sys.executable, "-m", "animelib", "bench", "dcgan", "--profile", "smoke", "--steps", "2",
                             "--warmup", "2", "--json", "--plain"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    ours, plain = (json.loads(line) for line in result.stdout.splitlines())
    assert (ours["loop"], plain["loop"]) == ("animelib", "plain")
    for out in (ours, plain):
        assert out["model"] == "dcgan" and out["device"] == "cpu" and out["batch_size"] == 16
        assert out["images_per_second"] > 0 and out["ms_per_step"] > 0 and out["peak_memory_mib"] > 0
        assert out["images_per_second"] == pytest.approx(16 * 1000 / out["ms_per_step"], rel=1e-2)
    assert ours["gflop_per_step"] > 0.1  # counted on the second warm-up step: G forward, D on real and fake, backwards


@pytest.mark.usefixtures("native_bf16")
@pytest.mark.parametrize("model", [m if m == "dcgan" else pytest.param(m, marks=pytest.mark.slow) for m in MODELS])
def test_bench_times_each_model_with_its_options(model):
    r = bench(model, "smoke", "cpu", batch_size=4, image_size=None if model == "dcgan" else 32, steps=2,
              warmup=1, amp=True, channels_last=True)
    assert r["amp"] and r["channels_last"] and r["batch_size"] == 4 and r["images_per_second"] > 0


def test_bench_refuses_bad_sizes():
    from animelib.errors import ConfigError

    with pytest.raises(ConfigError, match="64x64 images only"):
        bench("dcgan", "smoke", "cpu", image_size=128)
    with pytest.raises(ConfigError, match="steps=0"):
        bench("cyclegan", "smoke", "cpu", steps=0)
    assert plain_dcgan("smoke", "cpu", steps=1, warmup=0)["loop"] == "plain"


def one_step_outputs(model: str, **switches):
    """Losses of two training steps and the generator's output for fixed inputs, with the given switches."""
    import tempfile

    with tempfile.TemporaryDirectory() as run_dir:
        trainer = spec(model).trainer_class(smoke(model, **switches), run_dir, progress=False)
        for net in trainer.nets.values():
            net.train()
        record = trainer.train_steps(itertools.islice(trainer.endless_batches(), 2))
        gen = trainer.nets["G" if model != "cyclegan" else "G_A2B"].eval()
        size = trainer.cfg.image_size
        x = torch.randn(2, trainer.cfg.nz) if model == "dcgan" else torch.rand(2, 3, size, size) * 2 - 1
        with torch.no_grad(), trainer.autocast():
            out = gen(x)
    return record, out


def forced_bf16(monkeypatch, native: bool):
    """The CPU's bf16 check answers ``native`` for one test (on a CPU without it bf16 is slow, not wrong)."""
    monkeypatch.setenv("ANIMELIB_CPU_BF16", "1" if native else "0")
    speed.cpu_bf16_is_native.cache_clear()
    yield
    speed.cpu_bf16_is_native.cache_clear()


@pytest.fixture
def native_bf16(monkeypatch):
    yield from forced_bf16(monkeypatch, True)


@pytest.fixture
def no_native_bf16(monkeypatch):
    yield from forced_bf16(monkeypatch, False)


def test_amp_is_skipped_on_a_cpu_without_native_bf16(no_native_bf16, tmp_path, capsys, monkeypatch):
    cpu = torch.device("cpu")
    assert not speed.amp_runs(True, cpu) and speed.amp_runs(True, torch.device("cuda"))
    with speed.autocast(True, cpu):
        assert torch.nn.Linear(2, 2)(torch.ones(1, 2)).dtype == torch.float32
    monkeypatch.setattr(utils, "_said", set())
    trainer = spec("dcgan").trainer_class(smoke("dcgan", amp=True), tmp_path, progress=False)
    assert "no native bf16" in capsys.readouterr().err  # said as the run starts
    spec("dcgan").trainer_class(smoke("dcgan", amp=True), tmp_path, progress=False)  # reopened: not said again
    assert "no native bf16" not in capsys.readouterr().err
    assert "no native bf16" in trainer.run.read_note("amp.txt")
    assert "amp=True (bf16 autocast; skipped on this CPU: no native bf16)" in caption("x", trainer.cfg)
    r = bench("dcgan", "smoke", "cpu", steps=1, warmup=0, amp=True)
    assert r["amp"] and not r["amp_ran"] and "amp (skipped" in describe(r)


def test_amp_runs_where_the_cpu_has_native_bf16(native_bf16):
    with speed.autocast(True, torch.device("cpu")):
        assert torch.nn.Linear(2, 2)(torch.ones(1, 2)).dtype == torch.bfloat16
    assert "amp=True (bf16 autocast)" in caption("x", smoke("dcgan", amp=True))
    assert speed.amp_note(True, torch.device("cpu")) is None and speed.amp_note(False, torch.device("cpu")) is None


@pytest.mark.usefixtures("native_bf16")
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("switches", [{"amp": True}, {"channels_last": True}, {"amp": True, "channels_last": True}],
                         ids=lambda s: "+".join(s))
def test_speed_switches_keep_losses_finite_and_shapes(model, switches):
    base_record, base_out = one_step_outputs(model)
    record, out = one_step_outputs(model, **switches)
    losses = {k: v for k, v in record.items() if k.startswith("loss")}
    assert losses and all(math.isfinite(v) for v in losses.values())
    assert set(record) == set(base_record)
    assert out.shape == base_out.shape and torch.isfinite(out.float()).all()
    if switches.get("amp"):  # bf16 really ran: the losses differ from float32's, but only a little
        assert out.dtype == torch.bfloat16
        assert record["loss_G"] != base_record["loss_G"]
        assert record["loss_G"] == pytest.approx(base_record["loss_G"], rel=0.1)
    else:  # channels-last alone is a layout: the same numbers up to summation order
        assert record["loss_G"] == pytest.approx(base_record["loss_G"], rel=1e-4)


@pytest.mark.slow  # torch.compile takes 30-60 s to start
def test_compile_switch_trains_and_keeps_checkpoint_names(tmp_path):
    from animelib.models import train
    from animelib.runs import read_checkpoint

    trainer = train(smoke("dcgan", compile=True, r1_gamma=0.0, epochs=1), tmp_path, progress=False)
    state = read_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert not any("_orig_mod" in k for k in state["nets"]["G"])  # loadable without compile
    assert trainer.step == 4
    fake = trainer.G(torch.randn(3, trainer.cfg.nz))
    assert fake.shape == (3, 3, 64, 64) and torch.isfinite(fake).all()


@pytest.mark.parametrize("model", ["dcgan", "cartoongan"])
def test_the_hot_loop_never_reads_a_loss_back(model, tmp_path, monkeypatch):
    """Between two log points no loss is read back (on a GPU each read would wait for the device)."""
    trainer = spec(model).trainer_class(smoke(model, log_every=50), tmp_path, progress=False)
    trainer.nets["G"].train()
    batches = list(itertools.islice(trainer.endless_batches(), 4))
    trainer.train_steps(batches[:1])  # creates the optimizers' state
    # Adam keeps its step counts as CPU tensors and reads them with .item(): host memory, no device wait
    counters = {id(s["step"]) for o in trainer.optimizers.values() for s in o.state.values()}
    reads, item = [], torch.Tensor.item
    monkeypatch.setattr(torch.Tensor, "item", lambda t: item(t) if id(t) in counters else reads.append("item"))
    monkeypatch.setattr(LossLog, "flush", lambda log: reads.append(f"log {len(log)}") if len(log) else None)
    trainer.train_steps(batches[1:])
    assert reads == ["log 3"]  # one read-back, at the end, for all three steps


def test_losses_waiting_for_the_read_back_hold_no_graph(tmp_path, monkeypatch):
    """CycleGAN's identity warm-up logs GAN and cycle terms that no backward pass goes through: kept with their
    graphs until the read-back, log_every steps of them held every activation (8.5 GB in the quick profile)."""
    trainer = spec("cyclegan").trainer_class(smoke("cyclegan", log_every=50, identity_warmup_epochs=1), tmp_path,
                                             progress=False)
    pending = []
    monkeypatch.setattr(LossLog, "flush", lambda log: pending.extend(log.pending))
    trainer.train_steps(itertools.islice(trainer.endless_batches(), 2))
    assert trainer.epoch < trainer.cfg.identity_warmup_epochs and len(pending) == 2
    assert all(v.grad_fn is None for p in pending for v in p.values() if torch.is_tensor(v))


def test_data_stays_uint8_until_a_batch_is_drawn(tmp_path):
    trainer = spec("dcgan").trainer_class(smoke("dcgan"), tmp_path, progress=False)
    assert trainer.images.data.dtype == torch.uint8 and trainer.images.data.device.type == "cpu"
    batch = next(iter(trainer.batches()))
    assert batch.dtype == torch.float32 and batch.shape == (16, 3, 64, 64)
    assert batch.min() >= -1 and batch.max() <= 1
