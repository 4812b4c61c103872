"""The Inception-based measures: FID and KID (torchmetrics) with the standard Inception where its weights can be
had (from the torch hub cache, else downloaded), n/a where not.

torchmetrics is imported inside the functions (a heavy import: about 2 s), so importing this module stays cheap.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from animelib.metrics.paired import as_unit_tensor

# torchmetrics' default feature extractor is torch-fidelity's port of the TF Inception (2015-12-05) used for FID.
# torch-fidelity caches it as weights-inception-...; pytorch-fid names the same file (same hash) pt_inception-...
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
INCEPTION_PATTERNS = ("weights-inception-2015-12-05-*.pth", "pt_inception-2015-12-05-*.pth")
NA = "n/a (no Inception weights)"
DOWNLOAD_TIMEOUT_S = 10


def _checkpoints_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _cached_inception() -> Path | None:
    folder = _checkpoints_dir()
    for pattern in INCEPTION_PATTERNS:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    return None


def _download_inception() -> Path:
    """Fetch the weights into the torch hub cache; a dead network fails within seconds (probe with a timeout)."""
    with urllib.request.urlopen(INCEPTION_URL, timeout=DOWNLOAD_TIMEOUT_S) as response:
        response.read(1)
    target = _checkpoints_dir() / INCEPTION_URL.rsplit("/", 1)[1]
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(INCEPTION_URL, str(target), progress=False)
    return target


@functools.cache
def inception_available() -> tuple[bool, str]:
    """Whether FID/KID can use the standard Inception weights, and why (memoised: checked once per process).

    Looks in the torch hub cache (``$TORCH_HOME/hub/checkpoints``), else downloads them unless
    ``ANIMELIB_OFFLINE=1``. When they cannot be had, one line says so, once; FID/KID are then reported n/a.
    ``inception_available.cache_clear()`` forgets the answer (after copying the weights into the cache).
    """
    if importlib.util.find_spec("torch_fidelity") is None:
        result = (False, "torch-fidelity is not installed (pip install torch-fidelity), so torchmetrics has no "
                         "Inception network")
    elif (path := _cached_inception()) is not None:
        result = (True, f"Inception weights from the cache ({path})")
    elif os.environ.get("ANIMELIB_OFFLINE") == "1":
        result = (False, f"offline (ANIMELIB_OFFLINE=1) and no Inception weights in {_checkpoints_dir()}")
    else:
        try:
            result = (True, f"Inception weights downloaded to {_download_inception()}")
        except Exception as e:  # URLError, timeouts, HTTP errors, disk errors: all mean "not available"
            reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
            result = (False, f"Inception weights could not be downloaded ({reason})")
    if not result[0]:
        print(f"[animelib] FID/KID: {NA}: {result[1]}. Get {INCEPTION_URL.rsplit('/', 1)[1]} into "
              f"{_checkpoints_dir()}/ on a machine with internet to measure them.", file=sys.stderr)
    return result


@functools.cache
def _standard_inception() -> nn.Module:
    """torchmetrics' Inception (2048 pool features, uint8 input of any size), loaded once per process."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    path = _cached_inception()
    return NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                              feature_extractor_weights_path=str(path) if path else None)


class _Features(nn.Module):
    """Hands features computed beforehand to torchmetrics, so both metrics share one pass of the network."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


@torch.no_grad()
def _features(net: nn.Module, images, uint8: bool, device, batch_size: int) -> torch.Tensor:
    """(N, H, W, 3) uint8 numpy (or (N, 3, H, W) in [-1, 1]) -> (N, d) features on the CPU.

    The standard Inception takes uint8 (N, 3, H, W) of any size; an injected net takes floats in [0, 1].
    """
    out = []
    for i in range(0, len(images), batch_size):
        x = as_unit_tensor(images[i:i + batch_size])  # (B, 3, H, W) in [0, 1]
        x = (x * 255).round().to(torch.uint8) if uint8 else x
        out.append(net(x.to(device)).reshape(len(x), -1).float().cpu())  # (B, d)
    return torch.cat(out)


@torch.no_grad()
def fid_kid(real, fake, feature: nn.Module | None = None, subset_size: int | None = None, device="cpu",
            batch_size: int = 64, subsets: int = 100, seed: int = 0) -> dict[str, Any]:
    """FID and KID (torchmetrics) between two image sets, each (N, H, W, 3) uint8.

    ``feature=None`` uses the standard Inception (images of any size: it resizes to 299 itself) and returns
    ``None`` values with a ``note`` when its weights cannot be had. A ``feature`` module mapping (N, 3, H, W)
    floats in [0, 1] to (N, d) features replaces it (tests; other feature spaces). KID's subset size is
    ``min(1000, n_real, n_fake)`` unless given, and its random subsets are drawn from ``seed``.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    n = min(len(real), len(fake))
    if n < 2:
        raise ValueError(f"FID/KID need at least 2 images per set, got {len(real)} real and {len(fake)} fake")
    subset_size = min(subset_size or 1000, n)
    if feature is None:
        if not inception_available()[0]:
            return {"fid": None, "kid_mean": None, "kid_std": None, "note": NA}
        net, uint8 = _standard_inception(), True
    else:
        net, uint8 = feature, False
    net = net.eval().to(device)
    f_real, f_fake = (_features(net, images, uint8, device, batch_size) for images in (real, fake))  # (N, d)
    fid = FrechetInceptionDistance(feature=_Features(f_real.shape[1]))
    with warnings.catch_warnings():  # "KID keeps all features in memory": fine for the few thousand we use
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        kid = KernelInceptionDistance(feature=_Features(f_real.shape[1]), subsets=subsets, subset_size=subset_size)
    for metric in (fid, kid):
        metric.update(f_real, real=True)
        metric.update(f_fake, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return {"fid": _fid(fid), "kid_mean": float(kid_mean), "kid_std": float(kid_std)}


def _fid(metric) -> float:
    """FID from a torchmetrics FrechetInceptionDistance's accumulated statistics, with symmetric eigensolvers.

    torchmetrics takes ``eigvals(S1 @ S2)``, a general eigenproblem: 20-45 s for 2048 features on a 2-core
    CPU. ``S1 @ S2`` has the eigenvalues of ``R @ S2 @ R`` with ``R = S1^(1/2)``, which is symmetric, so
    two ``eigh`` calls give the same trace in a fraction of the time (checked against ``compute()`` in tests).
    """
    stats = []
    for kind in ("real", "fake"):
        n = getattr(metric, f"{kind}_features_num_samples").double()
        mean = getattr(metric, f"{kind}_features_sum") / n  # (d,) float64
        cov = (getattr(metric, f"{kind}_features_cov_sum") - n * torch.outer(mean, mean)) / (n - 1)  # (d, d)
        stats.append((mean, cov))
    (mu1, s1), (mu2, s2) = stats
    values, vectors = torch.linalg.eigh(s1)
    root = (vectors * values.clamp(min=0).sqrt()) @ vectors.T  # S1^(1/2)
    middle = root @ s2 @ root
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    return float((mu1 - mu2).square().sum() + s1.trace() + s2.trace() - 2 * trace_sqrt)
