"""A small landmark regressor for the face landmark loss and the landmark error metric.

Trained once per image size on synthetic faces of both styles with their exact landmarks (eye centres,
nose tip, mouth corners), then cached and used frozen. Its held-out error is stored with it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from animelib.models.common import ConvBlock

REGRESSOR_VERSION = 1
NUM_LANDMARKS = 5
TRAIN_OFFSET = 5_000_000  # synthetic indices used for training the regressor (disjoint from model data)
HELD_OUT_OFFSET = 6_000_000


class LandmarkRegressor(nn.Module):
    """(N, 3, S, S) in [-1, 1] -> (N, 5, 2) landmark (x, y) in pixels of the input."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            ConvBlock(3, width, 3, 2, 1, norm="batch", act="relu"),
            ConvBlock(width, width * 2, 3, 2, 1, norm="batch", act="relu"),
            ConvBlock(width * 2, width * 4, 3, 2, 1, norm="batch", act="relu"),
            ConvBlock(width * 4, width * 4, 3, 1, 1, norm="batch", act="relu"),
            nn.AdaptiveAvgPool2d(4),
        )
        self.head = nn.Linear(width * 4 * 16, NUM_LANDMARKS * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-1]
        out = self.head(self.features(x).flatten(1)).view(-1, NUM_LANDMARKS, 2)
        return (out + 0.5) * size  # the head predicts offsets from the image centre, in image widths


def _data(size: int, n: int, start: int, progress: bool):
    """Both styles of the same faces, with their (shared) landmarks."""
    import numpy as np

    from animelib.data.synthetic import render_set

    photo, marks = render_set("photo", n, size, start=start, progress=progress)
    anime, _ = render_set("anime", n, size, start=start, progress=progress)
    x = torch.from_numpy(np.concatenate([photo, anime])).permute(0, 3, 1, 2)  # (2n, 3, S, S) uint8
    y = torch.from_numpy(np.concatenate([marks, marks]))  # (2n, 5, 2)
    return x, y


def train_regressor(size: int, n: int = 2_000, epochs: int = 12, batch_size: int = 64, seed: int = 0,
                    progress: bool = True) -> tuple[LandmarkRegressor, float]:
    """Train on ``n`` synthetic faces per style; returns the net (eval) and its held-out error in pixels."""
    from tqdm.auto import trange

    from animelib.metrics import landmark_error

    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = LandmarkRegressor()
    x, y = _data(size, n, TRAIN_OFFSET, progress)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=epochs * (len(x) // batch_size))
    net.train()
    for _ in trange(epochs, desc=f"landmark regressor ({size} px)", disable=not progress):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[i:i + batch_size]
            images = x[idx].float().div(127.5).sub(1)
            # mild colour jitter so translated (neither photo nor anime) faces are read as well
            images = images * (1 + 0.2 * (torch.rand(len(idx), 3, 1, 1, generator=g) - 0.5))
            loss = F.smooth_l1_loss(net(images.clamp(-1, 1)) / size, y[idx] / size * 1.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    xt, yt = _data(size, 256, HELD_OUT_OFFSET, progress=False)
    with torch.no_grad():
        error = landmark_error(net(xt.float().div(127.5).sub(1)), yt)
    return net, error


def load_regressor(size: int, device: torch.device | str = "cpu", progress: bool = True) -> LandmarkRegressor:
    """The cached frozen regressor for ``size`` pixels, trained first if missing."""
    import os

    from animelib.paths import cache_dir

    path = cache_dir("landmarks") / f"regressor-{size}px-v{REGRESSOR_VERSION}.pt"
    net = LandmarkRegressor()
    if path.exists():
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state["net"])
        net.held_out_error = state["held_out_error"]
    else:
        net, error = train_regressor(size, progress=progress)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"net": net.state_dict(), "held_out_error": error, "size": size}, tmp)
        os.replace(tmp, path)
        net.held_out_error = error
    return net.to(device).eval().requires_grad_(False)
