"""Time the training steps on this machine (``python -m animelib bench``).

:func:`bench` builds a model's real trainer (same data path, nets, optimizers, loss logging) in a
temporary run folder and times :meth:`Trainer.train_steps`, the loop ``fit`` runs every epoch, after
warm-up steps. :func:`plain_dcgan` times a hand-written DCGAN loop of the same networks with none of
the project's machinery, so the overhead of the training loop can be measured in the same process.
"""

from __future__ import annotations

import itertools
import platform
import resource
import sys
import tempfile
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from animelib.config import PROFILES
from animelib.errors import ConfigError
from animelib.models import spec
from animelib.models.dcgan import Discriminator, Generator
from animelib.speed import amp_runs
from animelib.utils import select_device


def bench_config(model: str, profile: str = "quick", device: str = "auto", batch_size: int | None = None,
                 image_size: int | None = None, batches: int = 4, **switches: Any):
    """The profile's config for ``model``, with just ``batches`` batches of data (rendered once, then cached)."""
    entry = spec(model)
    if profile not in PROFILES:
        raise ConfigError(f"profile={profile!r} is not one of {', '.join(PROFILES)}")
    cfg = entry.config_class.from_profile(profile, device=device, batch_size=batch_size, image_size=image_size,
                                          epochs=2, **{**entry.bench_settings, **switches})
    n = cfg.batch_size * batches
    return cfg.replace(**{name: n for name in cfg.DATA_FIELDS}, num_test=2)


def bench(model: str, profile: str = "quick", device: str = "auto", batch_size: int | None = None,
          image_size: int | None = None, steps: int = 10, warmup: int = 3, **switches: Any) -> dict[str, Any]:
    """Images per second of ``model``'s training loop (both nets, optimizers, loss logging), after warm-up.

    ``switches`` are config speed switches (``amp``, ``channels_last``, ``compile``, ``deterministic``).
    Peak memory is the CUDA allocator's peak on a GPU, else the process's peak resident size.
    """
    if steps < 1 or warmup < 0:
        raise ConfigError(f"steps={steps} must be at least 1 and warmup={warmup} not negative")
    cfg = bench_config(model, profile, device, batch_size, image_size, **switches)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = spec(model).trainer_class(cfg, run_dir, progress=False)
        for net in trainer.nets.values():
            net.train()
        batches = trainer.endless_batches()
        flops = None
        if not cfg.compile and warmup > 1:  # count the floating-point operations of one warm-up step ...
            trainer.train_steps(itertools.islice(batches, 1))  # ... after the first (DCGAN's lazy R1 penalty)
            warmup -= 1
            with FlopCounterMode(display=False) as counter:
                trainer.train_steps(itertools.islice(batches, 1))
            flops, warmup = counter.get_total_flops(), warmup - 1
        trainer.train_steps(itertools.islice(batches, warmup))
        seconds = _timed(trainer.device, lambda: trainer.train_steps(itertools.islice(batches, steps)))
        dev = trainer.device
    result = _result(model, cfg, dev, steps, seconds, switches, loop="animelib")
    result["gflop_per_step"] = round(flops / 1e9, 3) if flops else None
    result["achieved_tflops"] = round(flops * steps / seconds / 1e12, 4) if flops else None
    return result


def plain_dcgan_step(cfg, device: torch.device):
    """One step of the same DCGAN networks in a plain hand-written loop (fixed random batch, no logging)."""
    torch.manual_seed(cfg.seed)
    net_G, net_D = Generator(cfg.nz, cfg.ngf).to(device), Discriminator(cfg.ndf).to(device)
    opt_G = torch.optim.Adam(net_G.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_D = torch.optim.Adam(net_D.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    n = cfg.batch_size
    real = torch.rand(n, 3, 64, 64, device=device) * 2 - 1
    ones, zeros = torch.ones(n, device=device), torch.zeros(n, device=device)

    def step():
        fake = net_G(torch.randn(n, cfg.nz, device=device))
        opt_D.zero_grad()
        loss_D = (F.binary_cross_entropy_with_logits(net_D(real), ones)
                  + F.binary_cross_entropy_with_logits(net_D(fake.detach()), zeros))
        loss_D.backward()
        opt_D.step()
        opt_G.zero_grad()
        F.binary_cross_entropy_with_logits(net_D(fake), ones).backward()
        opt_G.step()

    return step


def plain_dcgan(profile: str = "quick", device: str = "auto", batch_size: int | None = None, steps: int = 10,
                warmup: int = 3) -> dict[str, Any]:
    """Time :func:`plain_dcgan_step` (float32, no speed switches), for comparison with :func:`bench`."""
    switches_off = {"amp": False, "channels_last": False, "compile": False}
    cfg = bench_config("dcgan", profile, device, batch_size, batches=1, **switches_off)
    dev = select_device(device)
    step = plain_dcgan_step(cfg, dev)
    for _ in range(warmup):
        step()
    seconds = _timed(dev, lambda: [step() for _ in range(steps)])
    return _result("dcgan", cfg, dev, steps, seconds, {}, loop="plain")


def _timed(device: torch.device, work) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    work()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _result(model: str, cfg, device: torch.device, steps: int, seconds: float, switches: dict[str, Any],
            loop: str) -> dict[str, Any]:
    if device.type == "cuda":
        peak, kind = torch.cuda.max_memory_allocated(device) / 2**20, "CUDA allocated"
        name = torch.cuda.get_device_name(device)
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak, kind = rss / (2**20 if sys.platform == "darwin" else 2**10), "process peak RSS"
        name = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return {
        "model": model, "loop": loop, "profile": cfg.profile, "device": str(device), "device_name": name,
        "batch_size": cfg.batch_size, "image_size": cfg.image_size, "steps": steps,
        "images_per_second": round(cfg.batch_size * steps / seconds, 2),
        "ms_per_step": round(1000 * seconds / steps, 2),
        "peak_memory_mib": round(peak, 1), "peak_memory_kind": kind,
        "amp": cfg.amp, "amp_ran": amp_runs(cfg.amp, device), "channels_last": cfg.channels_last,
        "compile": cfg.compile, **{k: v for k, v in switches.items() if k not in ("amp", "channels_last", "compile")},
        "torch": torch.__version__,
    }


def describe(r: dict[str, Any]) -> str:
    """One line for a result of :func:`bench` or :func:`plain_dcgan`."""
    on = [k for k in ("amp", "channels_last", "compile") if r.get(k)]
    if r.get("amp") and not r.get("amp_ran", True):
        on[0] = "amp (skipped: no native bf16 on this CPU)"
    return (f"{r['model']:<10} {r['loop']:<8} {r['device']} ({r['device_name']}): batch {r['batch_size']} at "
            f"{r['image_size']} px, {r['ms_per_step']:.1f} ms/step, {r['images_per_second']:.1f} images/s, "
            f"peak {r['peak_memory_mib']:.0f} MiB ({r['peak_memory_kind']})"
            + (f", {r['achieved_tflops'] * 1000:.0f} GFLOP/s" if r.get("achieved_tflops") else "")
            + (f", {'+'.join(on)}" if on else ""))
