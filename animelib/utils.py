"""Device selection, seeding and RNG state capture (for exact resume)."""

from __future__ import annotations

import hashlib
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch

from animelib.errors import ConfigError


def select_device(device: str = "auto") -> torch.device:
    """``auto``: cuda, then mps, then cpu. A forced device that is not present is a clear error."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"device={device!r} is not a device name (auto, cpu, cuda, cuda:N, mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} asked for CUDA, but torch sees no CUDA device here")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device={device!r} asked for MPS, but it is not available here")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Every global RNG state, in a form ``torch.load(weights_only=True)`` accepts."""
    py = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def to_uint8_images(x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] to (N, H, W, 3) uint8."""
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def to_tensor_images(x: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(N, H, W, 3) uint8 to (N, 3, H, W) float in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(x)).to(device)
    return t.permute(0, 3, 1, 2).float().div(127.5).sub(1)


@torch.no_grad()
def translate_images(net: torch.nn.Module, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(N, H, W, 3) uint8 through an image-to-image generator, in batches, on the generator's device."""
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    out = [to_uint8_images(net(to_tensor_images(images[i:i + batch_size], device)))
           for i in range(0, len(images), batch_size)]
    net.train(was_training)
    return np.concatenate(out) if out else images[:0].copy()


# A note said once per ``animelib run``: its workers and notebook kernels share the folder named here (the runner
# sets it), where the first process to say a note leaves a marker; without it, once per process.
NOTES_DIR_ENV = "ANIMELIB_NOTES_DIR"
_said: set[str] = set()


def say_once(text: str) -> bool:
    """Print ``text`` to stderr unless this process, or another of the same ``animelib run``, already did."""
    if text in _said:
        return False
    _said.add(text)
    folder = os.environ.get(NOTES_DIR_ENV)
    if folder:
        marker = Path(folder) / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.said"
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        except OSError:  # an unwritable folder: say it here
            pass
    print(text, file=sys.stderr)
    return True
