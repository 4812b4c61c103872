"""A small landmark regressor for the face landmark loss and the landmark error metric.

Trained once on synthetic faces of both styles with their exact landmarks (eye centres, nose tip, mouth
corners), then cached and used frozen; its held-out error is stored with it. It looks at every image at
32x32 (inputs of other sizes are resampled inside, so one cached net serves every size, and stays cheap on
a CPU) and returns landmarks in the input's pixels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import trange

from animelib.data.synthetic import RENDERER_VERSION, render_set
from animelib.metrics import landmark_error
from animelib.nets.blocks import ConvBlock
from animelib.nets.frozen import load_or_train
from animelib.paths import cache_dir

REGRESSOR_VERSION = 3
INPUT_SIZE = 32  # the resolution the regressor sees
NUM_LANDMARKS = 5
TRAIN_OFFSET = 5_000_000  # synthetic indices used for training the regressor (disjoint from model data)
HELD_OUT_OFFSET = 6_000_000
BUDGETS = {"smoke": (400, 6), "standard": (2_000, 12)}  # faces per style, epochs


class LandmarkRegressor(nn.Module):
    """(N, 3, S, S) in [-1, 1] -> (N, 5, 2) landmark (x, y) in pixels of the input."""

    def __init__(self, width: int = 16):
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
        if size != INPUT_SIZE:
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="area" if size > INPUT_SIZE else "bilinear")
        out = self.head(self.features(x).flatten(1)).view(-1, NUM_LANDMARKS, 2)  # offsets from the centre
        # pixel centres sit at whole numbers: (x + 0.5) / size is the same point at every size
        return (out + 0.5) * size - 0.5


def _data(size: int, n: int, start: int, progress: bool):
    """Both styles of the same faces, with their (shared) landmarks."""
    photo, marks = render_set("photo", n, size, start=start, progress=progress)
    anime, _ = render_set("anime", n, size, start=start, progress=progress)
    x = torch.from_numpy(np.concatenate([photo, anime])).permute(0, 3, 1, 2)  # (2n, 3, S, S) uint8
    y = torch.from_numpy(np.concatenate([marks, marks]))  # (2n, 5, 2)
    return x, y


def train_regressor(n: int = 2_000, epochs: int = 12, batch_size: int = 64, seed: int = 0,
                    progress: bool = True) -> tuple[LandmarkRegressor, float]:
    """Train on ``n`` synthetic faces per style; returns the net (eval) and its held-out error (pixels at 32 px)."""
    size = INPUT_SIZE
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = LandmarkRegressor()
    x, y = _data(size, n, TRAIN_OFFSET, progress)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=epochs * (len(x) // batch_size))
    net.train()
    with torch.enable_grad():  # may be called from evaluation code running under no_grad
        _fit(net, x, y, opt, sched, g, epochs, batch_size, size, progress)
    net.eval()
    xt, yt = _data(size, 256, HELD_OUT_OFFSET, progress=False)
    with torch.no_grad():
        error = landmark_error(net(xt.float().div(127.5).sub(1)), yt)
    return net, error


def _fit(net, x, y, opt, sched, g, epochs, batch_size, size, progress) -> None:
    for _ in trange(epochs, desc="training the landmark regressor", disable=not progress):
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


def load_regressor(size: int | None = None, device: torch.device | str = "cpu", progress: bool = True,
                   budget: str = "standard") -> LandmarkRegressor:
    """The cached frozen regressor (for images of any ``size``), trained first if missing (about a minute on one
    core; the ``"smoke"`` budget, for the smoke profile and the tests, in seconds).

    ``held_out_error`` is its error (pixels at 32 px) on held-out synthetic faces of both styles.
    """
    n, epochs = BUDGETS[budget]
    name = f"regressor-{INPUT_SIZE}px-v{REGRESSOR_VERSION}-r{RENDERER_VERSION}" + ("" if budget == "standard" else
                                                                                   f"-{budget}")
    net = load_or_train(cache_dir("landmarks") / f"{name}.pt", LandmarkRegressor,
                        lambda: _train_with_error(n, epochs, progress), device)
    net.held_out_error = net.held_out["error_px"]
    return net


def _train_with_error(n: int, epochs: int, progress: bool) -> tuple[LandmarkRegressor, dict]:
    net, error = train_regressor(n, epochs, progress=progress)
    return net, {"error_px": error}
