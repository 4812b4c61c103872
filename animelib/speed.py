"""Speed switches: settings that change how fast a run goes, not what it computes (see ``RUNTIME_FIELDS``).

``amp`` (bf16 autocast of the forward passes), ``channels_last``, ``compile`` and ``deterministic`` are config
fields; fused Adam and the cuDNN/TF32 defaults apply on CUDA by themselves. On the CPU channels-last and compile
really run, and amp does where the CPU computes bf16 natively (:func:`cpu_bf16_is_native`); the CUDA-only parts
are no-ops there.
"""

from __future__ import annotations

import contextlib
import functools
import os

import torch
from torch import nn

from animelib.config import Config
from animelib.errors import ConfigError
from animelib.utils import select_device


def apply_speed_switches(cfg: Config, device: torch.device, nets: dict[str, nn.Module]) -> None:
    """The config's speed switches on ``nets``, and the CUDA defaults (no-ops where they do not apply)."""
    if device.type == "cuda":
        fast = not cfg.deterministic
        torch.backends.cudnn.benchmark = fast
        torch.backends.cudnn.deterministic = not fast
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = fast
    if cfg.channels_last:
        for net in nets.values():
            net.to(memory_format=torch.channels_last)
    if cfg.compile:
        for net in nets.values():
            net.compile()  # compiles forward in place; state_dict names stay the same


@functools.cache
def cpu_bf16_is_native() -> bool:
    """Whether this CPU computes bf16 convolutions natively (oneDNN's bf16 support: AVX512 with BF16 or AMX).

    Without it bf16 is emulated: on an AVX2-only AMD EPYC a DCGAN step at the quick widths took 6.9-7.5 s under
    bf16 autocast against 0.35-0.44 s in float32 (``benchmarks/bf16_check.py``), so amp is skipped there.
    ``ANIMELIB_CPU_BF16=1`` (or ``0``) overrides the check.
    """
    forced = os.environ.get("ANIMELIB_CPU_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN: no fast bf16 either
        return False


def amp_runs(amp: bool, device: torch.device) -> bool:
    """Whether ``amp`` really autocasts on ``device``: on CUDA, and on a CPU with native bf16 (else float32)."""
    return amp and (device.type == "cuda" or (device.type == "cpu" and cpu_bf16_is_native()))


def amp_note(amp: bool, device: torch.device) -> str | None:
    """One line saying that amp was asked for and skipped on this CPU, or None."""
    if amp and device.type == "cpu" and not amp_runs(amp, device):
        return ("amp (bf16 autocast) is skipped: this CPU has no native bf16, where float32 runs many times faster "
                "(ANIMELIB_CPU_BF16=1 forces it)")
    return None


def amp_skipped_here(cfg: Config) -> bool:
    """Whether ``cfg`` asks for amp and this machine skips it (a CPU without native bf16): captions say so."""
    try:
        device = select_device(cfg.device)
    except ConfigError:  # a device this machine lacks (a run trained elsewhere): nothing to say about it
        return False
    return amp_note(cfg.amp, device) is not None


def autocast(amp: bool, device: torch.device):
    """bf16 autocast for forward passes when ``amp`` is on and runs on ``device`` (:func:`amp_runs`), else
    nothing."""
    if amp_runs(amp, device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def adam(params, cfg: Config, device: torch.device, lr: float | None = None) -> torch.optim.Adam:
    """Adam with the config's betas (and ``lr`` unless given); the fused kernel on CUDA (one launch for all)."""
    return torch.optim.Adam(params, lr=lr or cfg.lr, betas=(cfg.beta1, cfg.beta2),
                            fused=True if device.type == "cuda" else None)
