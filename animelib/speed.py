"""Speed switches: settings that change how fast a run goes, not what it computes (see ``RUNTIME_FIELDS``).

``amp`` (bf16 autocast of the forward passes), ``channels_last``, ``compile`` and ``deterministic`` are config
fields; fused Adam and the cuDNN/TF32 defaults apply on CUDA by themselves. On the CPU amp, channels-last and
compile really run; the CUDA-only parts are no-ops there.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from animelib.config import Config


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


def autocast(amp: bool, device: torch.device):
    """bf16 autocast for forward passes when ``amp`` is on (CUDA or CPU), else nothing."""
    if amp and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def adam(params, cfg: Config, device: torch.device, lr: float | None = None) -> torch.optim.Adam:
    """Adam with the config's betas (and ``lr`` unless given); the fused kernel on CUDA (one launch for all)."""
    return torch.optim.Adam(params, lr=lr or cfg.lr, betas=(cfg.beta1, cfg.beta2),
                            fused=True if device.type == "cuda" else None)
