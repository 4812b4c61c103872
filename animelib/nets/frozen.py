"""Small frozen networks trained on the synthetic avatars: their cache, the identity of their weights, and the
training loop they share (the evaluators of :mod:`animelib.nets.evaluators`, the content network of
:mod:`animelib.nets.vgg`, the landmark regressor of :mod:`animelib.nets.landmarks`).

Each is trained once on first use, written atomically to the cache with its held-out accuracy, and loaded frozen
after; each records the path and SHA-256 of its weights file (``weights_file``, ``weights_sha256``) so that
:func:`check_independent` can show that no metric comes from a network a loss uses.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import trange

from animelib.data.labels import attribute_table
from animelib.data.synthetic import render_set
from animelib.errors import AnimelibError
from animelib.utils import select_device

FLIP_LANDMARKS = (1, 0, 2, 4, 3)  # a mirrored face: left and right eyes and mouth corners swap


class CircularEvaluationError(AnimelibError):
    """A metric would be measured by a network that a loss also uses."""


def resample(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size): area averaging to shrink, bilinear to enlarge."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="area" if x.shape[-1] > size else "bilinear")


def soft_argmax(heatmaps: torch.Tensor, stride: float) -> torch.Tensor:
    """(N, K, h, w) logits -> (N, K, 2) expected (x, y) in pixels of an image ``stride`` times larger."""
    n, k, h, w = heatmaps.shape
    p = heatmaps.flatten(2).softmax(-1).view(n, k, h, w)
    # a cell covering pixels stride*j .. stride*(j+1)-1 has its centre at stride*j + (stride-1)/2
    xs = torch.arange(w, dtype=p.dtype, device=p.device) * stride + (stride - 1) / 2
    ys = torch.arange(h, dtype=p.dtype, device=p.device) * stride + (stride - 1) / 2
    return torch.stack([(p.sum(2) * xs).sum(-1), (p.sum(3) * ys).sum(-1)], -1)


_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file (remembered per path, size and modification time within a process)."""
    stat = Path(path).stat()
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_MEMO:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _SHA_MEMO[key] = digest.hexdigest()
    return _SHA_MEMO[key]


def record_weights(net: nn.Module, path: str | Path) -> nn.Module:
    """Mark ``net`` as loaded from ``path``: ``weights_file`` and ``weights_sha256`` attributes."""
    net.weights_file = str(Path(path).resolve())
    net.weights_sha256 = file_sha256(path)
    return net


def _identities(nets) -> dict[str, tuple[str, str]]:
    named = nets.items() if isinstance(nets, Mapping) else ((type(n).__name__, n) for n in nets)
    out = {}
    for name, net in named:
        file, sha = getattr(net, "weights_file", None), getattr(net, "weights_sha256", None)
        if not file or not sha:
            raise CircularEvaluationError(f"{name} records no weights file (weights_file, weights_sha256): its "
                                          "independence cannot be checked")
        out[name] = (file, sha)
    return out


def check_independent(evaluators: Mapping[str, nn.Module] | Iterable[nn.Module],
                      loss_networks: Mapping[str, nn.Module] | Iterable[nn.Module]) -> None:
    """Raise :class:`CircularEvaluationError` when an evaluator shares its weights file (path or SHA-256) with a
    network a loss uses; every network must record its file. Pass dicts {name: net} for clear messages."""
    measured, used = _identities(evaluators), _identities(loss_networks)
    for e_name, (e_file, e_sha) in measured.items():
        for l_name, (l_file, l_sha) in used.items():
            if e_file == l_file or e_sha == l_sha:
                raise CircularEvaluationError(
                    f"evaluator {e_name} and loss network {l_name} share weights ({e_file}, sha256 {e_sha[:12]}): "
                    "a metric would come from a network that a loss uses")


def load_or_train(path: Path, build: Callable[[], nn.Module], train: Callable[[], tuple[nn.Module, dict]],
                  device: torch.device | str = "cpu") -> nn.Module:
    """The network cached at ``path`` (``held_out`` metrics attached), trained by ``train()`` and written
    atomically first if missing or unreadable; frozen, in eval mode, its weights file recorded.

    The caller's random number generators are left as they were (building layers draws from them). Training
    runs on one CPU thread: these small networks gain little from a second one and lose much when the cores
    are shared (measured on the project's loaded 2-core machine: 2 threads took 7-8x the CPU time of one).
    """
    with torch.random.fork_rng(devices=[]):
        net, held_out = _load_cached(path, build)
        if net is None:
            start, cpu_start, threads = time.perf_counter(), time.process_time(), torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                net, held_out = train()
            finally:
                torch.set_num_threads(threads)
            held_out = {**held_out, "train_seconds": round(time.perf_counter() - start, 1),
                        "train_cpu_seconds": round(time.process_time() - cpu_start, 1)}  # core-seconds
            tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
            torch.save({"net": net.state_dict(), "held_out": held_out}, tmp)
            os.replace(tmp, path)
    net.held_out = held_out
    record_weights(net, path)
    device = select_device(device) if isinstance(device, str) else device
    return net.to(device).eval().requires_grad_(False)


def _load_cached(path: Path, build: Callable[[], nn.Module]) -> tuple[nn.Module | None, dict | None]:
    """The network and held-out metrics stored at ``path``; (None, None) if missing, unreadable or outdated."""
    if not path.exists():
        return None, None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = build()
        net.load_state_dict(state["net"])
        return net, state["held_out"]
    except (OSError, RuntimeError, KeyError, EOFError, ValueError):
        return None, None  # train again and overwrite it


def anime_faces(n: int, start: int, size: int = 64, seed: int = 0, style: str = "anime",
                progress: bool = True) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Synthetic faces ``start`` .. ``start + n - 1``: images (n, 3, size, size) uint8, landmarks (n, 5, 2) in
    pixels of ``size``, labels {attribute: (n,) int64}."""
    images, marks = render_set(style, n, size, seed=seed, start=start, progress=progress)
    labels = {k: torch.from_numpy(v) for k, v in attribute_table(n, start, seed).items()}
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(marks), labels


def flip_faces(x: torch.Tensor, marks: torch.Tensor | None, flip: torch.Tensor):
    """Mirror the images where ``flip`` (N,) is True; landmarks (pixels of x) mirrored and left/right swapped."""
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if marks is not None:
        mirrored = marks[:, FLIP_LANDMARKS].clone()
        mirrored[..., 0] = x.shape[-1] - 1 - mirrored[..., 0]
        marks = torch.where(flip[:, None, None], mirrored, marks)
    return x, marks


def fit(net: nn.Module, step_loss: Callable[[nn.Module, torch.Tensor, dict, torch.Generator], torch.Tensor],
        x: torch.Tensor, targets: dict[str, torch.Tensor], epochs: int, seed: int, desc: str,
        batch_size: int = 64, lr: float = 3e-3, progress: bool = True) -> None:
    """Adam with a one-cycle schedule over ``x`` ((N, 3, s, s) floats) in shuffled batches drawn from ``seed``;
    ``step_loss(net, batch, batch_targets, generator)`` returns the loss (it may augment the batch)."""
    g = torch.Generator().manual_seed(seed)
    steps_per_epoch = max(1, len(x) // batch_size)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps_per_epoch)
    net.train()
    with torch.enable_grad():  # may be called from evaluation code running under no_grad
        for _ in trange(epochs, desc=desc, disable=not progress):
            order = torch.randperm(len(x), generator=g)
            for i in range(steps_per_epoch):
                idx = order[i * batch_size:(i + 1) * batch_size]
                loss = step_loss(net, x[idx], {k: v[idx] for k, v in targets.items()}, g)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    net.eval()


def noisy(x: torch.Tensor, g: torch.Generator, sigma: float = 0.04) -> torch.Tensor:
    """Mild pixel noise, so the evaluators read imperfect translations as well as clean renders."""
    return x + sigma * torch.rand(len(x), 1, 1, 1, generator=g) * torch.randn(x.shape, generator=g)


def with_seed(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # new layers draw their weights from the global CPU RNG
        torch.manual_seed(seed)
        return build()


def budget_for(profile: str) -> str:
    """The budget of the frozen networks for a config profile: smoke for smoke, standard for quick and full."""
    return "smoke" if profile == "smoke" else "standard"
