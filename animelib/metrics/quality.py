"""Offline quality measures: they need no pretrained weights.

Three measures catch what the figures show: samples that a small classifier tells from real ones (C2ST), collapse
to a few faces (diversity ratio) and speckle, checkerboards or blur (spectral distance). Each comes with its
real-vs-real floor, the value two sets of real images score against each other. Beside them: colourfulness, and
the memorisation check (the distance of generated samples to their nearest training image).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from animelib.metrics.paired import as_unit_tensor
from animelib.nets.blocks import CHROMA_RGB, LUMA_RGB
from animelib.utils import one_thread

QUALITY_SIZE = 32  # C2ST and diversity work on 32-px images: enough for faces, cheap on a CPU


def _check_images(name: str, images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{name} must be (N, H, W, 3) uint8 images, got {images.shape} {images.dtype}")
    if len(images) < 2:
        raise ValueError(f"{name} holds {len(images)} image(s): at least 2 are needed")
    return images


def _small(images: np.ndarray, size: int = QUALITY_SIZE) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, size, size) float in [-1, 1], area-averaged (no aliasing)."""
    x = as_unit_tensor(images)  # (N, 3, H, W) in [0, 1]
    if x.shape[-1] != size or x.shape[-2] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="area")
    return x * 2 - 1


def _gray(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, H, W) float64 luma (ITU-R BT.601) in [0, 1]."""
    rgb = torch.from_numpy(np.ascontiguousarray(images)).double() / 255  # (N, H, W, 3)
    return rgb @ torch.tensor(LUMA_RGB, dtype=torch.float64)


_CHROMA = torch.tensor(CHROMA_RGB, dtype=torch.float64)  # BT.601 Cb (blue - luma) and Cr (red - luma) rows


def _channels(images: np.ndarray, channels: str) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, C, H, W) float64: ``"gray"`` the luma (C = 1), ``"chroma"`` Cb and Cr (C = 2)."""
    if channels == "gray":
        return _gray(images)[:, None]
    if channels == "chroma":
        rgb = torch.from_numpy(np.ascontiguousarray(images)).double() / 255
        return (rgb @ _CHROMA.T).permute(0, 3, 1, 2)
    raise ValueError(f"channels={channels!r} is not 'gray' or 'chroma'")


def _c2st_net(width: int = 16) -> nn.Module:
    """The two-sample classifier: three stride-2 convs (32 -> 4 px) and a linear logit; 4 layers in all."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, 2, 1), nn.LeakyReLU(0.2),  # (N, 16, 16, 16)
        nn.Conv2d(width, 2 * width, 3, 2, 1), nn.LeakyReLU(0.2),  # (N, 32, 8, 8)
        nn.Conv2d(2 * width, 4 * width, 3, 2, 1), nn.LeakyReLU(0.2),  # (N, 64, 4, 4)
        nn.Flatten(), nn.Linear(4 * width * 16, 1),  # (N, 1) logit: "fake"
    )


def _two_sample_split(real: torch.Tensor, fake: torch.Tensor, train_fraction: float, g: torch.Generator):
    """Balanced train/held-out sets: the same number of each kind, ``train_fraction`` of them for training."""
    n = min(len(real), len(fake))
    n_train = int(round(n * train_fraction))
    if n_train < 1 or n - n_train < 1:
        raise ValueError(f"C2ST needs images on both sides of the split; got {n} per set")
    parts = []
    for images in (real, fake):
        order = torch.randperm(len(images), generator=g)[:n]
        parts.append((images[order[:n_train]], images[order[n_train:]]))
    (real_tr, real_te), (fake_tr, fake_te) = parts
    x_train = torch.cat([real_tr, fake_tr])  # (2 * n_train, 3, 32, 32)
    y_train = torch.cat([torch.zeros(n_train), torch.ones(n_train)])
    x_test = torch.cat([real_te, fake_te])  # (2 * (n - n_train), 3, 32, 32)
    y_test = torch.cat([torch.zeros(n - n_train), torch.ones(n - n_train)])
    return x_train, y_train, x_test, y_test


def c2st_accuracy(real, fake, steps: int = 200, batch_size: int = 64, lr: float = 2e-3,
                  train_fraction: float = 0.7, seed: int = 0) -> dict[str, float]:
    """Classifier two-sample test: how well a small CNN tells ``fake`` from ``real`` ((N, H, W, 3) uint8 each).

    The sets are cut to the same size n, ``train_fraction`` of each trains a 4-layer CNN on 32-px images for a
    fixed budget (``steps`` Adam steps of ``batch_size``), and the accuracy is measured on the rest. 0.5 means
    the classifier could not tell the sets apart; 1.0 that it always could. Returns ``accuracy``, ``n_test``
    (held-out images, both kinds) and ``se``, the binomial standard error of the accuracy. Seeded by ``seed``;
    the global RNG state is left as it was. About 2 s for 1,000 vs 1,000 images on one CPU core.
    """
    real, fake = _check_images("real", real), _check_images("fake", fake)
    with torch.random.fork_rng(devices=[]), torch.enable_grad(), one_thread():  # may be called under no_grad
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        x_train, y_train, x_test, y_test = _two_sample_split(_small(real), _small(fake), train_fraction, g)
        net = _c2st_net()
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        for _ in range(steps):
            idx = torch.randint(len(x_train), (min(batch_size, len(x_train)),), generator=g)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x_train[idx]).flatten(), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            predicted = torch.cat([net(x_test[i:i + 512]).flatten() > 0 for i in range(0, len(x_test), 512)])
    accuracy = float((predicted.float() == y_test).float().mean())
    return {"accuracy": accuracy, "n_test": len(y_test), "se": float(np.sqrt(accuracy * (1 - accuracy) / len(y_test)))}


def _structure(images: np.ndarray, size: int = QUALITY_SIZE) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, size * size): grayscale, each image standardised to mean 0 and sd 1."""
    gray = _gray(images).float()[:, None]  # (N, 1, H, W)
    if gray.shape[-1] != size or gray.shape[-2] != size:
        gray = torch.nn.functional.interpolate(gray, size=(size, size), mode="area")
    flat = gray.flatten(1)  # (N, size * size)
    return (flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True).clamp(min=1e-6)


def mean_pairwise_distance(images: np.ndarray, max_images: int = 2000, seed: int = 0) -> float:
    """Mean RMS distance between the standardised grayscale 32-px versions of two different images of a set."""
    images = _check_images("images", images)
    if len(images) > max_images:
        images = images[np.sort(np.random.default_rng(seed).choice(len(images), max_images, replace=False))]
    x = _structure(images)  # (N, 1024)
    d = torch.cdist(x.double(), x.double()) / np.sqrt(x.shape[1])  # (N, N), zero diagonal
    return float(d.sum() / (len(x) * (len(x) - 1)))


def diversity_ratio(fake, real, max_images: int = 2000, seed: int = 0) -> float:
    """Mean pairwise distance among ``fake`` over the same among ``real`` ((N, H, W, 3) uint8 each).

    Distances are taken between grayscale 32-px images each standardised to mean 0 and sd 1, so one face in many
    colours or brightnesses counts as one face. About 1 for a set as varied as the real one; collapse to a few
    faces drives it towards 0; above 1, the samples differ more than real faces do (e.g. noise). Sets larger than
    ``max_images`` are subsampled (seeded).
    """
    real_spread = mean_pairwise_distance(real, max_images, seed)
    return mean_pairwise_distance(fake, max_images, seed) / real_spread


def radial_power_spectra(images, channels: str = "gray") -> np.ndarray:
    """Each image's power spectrum (its mean removed, so no DC term), averaged over rings of integer radius 1, 2,
    ...: (N, H, W, 3) uint8 -> (N, R) float64, R = round(H / sqrt(2)) (the corner ring). Entry k - 1 is the power
    at k cycles per image; the rings beyond H / 2 hold the diagonal frequencies, where a transposed convolution's
    checkerboard sits (H / 2, H / 2). Square images only. ``channels``: ``"gray"`` (luma) or ``"chroma"`` (the
    power of Cb and Cr summed: colour noise at an unchanged brightness shows here and not in the luma)."""
    images = _check_images("images", images)
    h, w = images.shape[1:3]
    if h != w:
        raise ValueError(f"the spectrum needs square images, got {h}x{w}")
    freq = torch.fft.fftfreq(h, d=1 / h)  # (H,) cycles per image: 0, 1, ..., -1
    radius = torch.sqrt(freq[:, None] ** 2 + freq[None, :] ** 2).round().long().flatten()  # (H * W,)
    counts = torch.bincount(radius).double()
    out = []
    for i in range(0, len(images), 512):
        x = _channels(images[i:i + 512], channels)  # (B, C, H, W)
        power = torch.fft.fft2(x - x.mean((2, 3), keepdim=True)).abs().square().sum(1).flatten(1)  # (B, H * W)
        rings = torch.zeros(len(power), len(counts), dtype=torch.float64).index_add_(1, radius, power)
        out.append((rings / counts)[:, 1:])
    return torch.cat(out).numpy()


def radial_power_spectrum(images, channels: str = "gray") -> np.ndarray:
    """The mean of :func:`radial_power_spectra` over a set: (R,) float64."""
    return radial_power_spectra(images, channels).mean(0)


def spectrum_distance(fake_spectrum: np.ndarray, real_spectrum: np.ndarray) -> float:
    """:func:`spectral_distance` from two mean spectra ((R,) each, of images of the same size)."""
    nyquist = int(round(len(real_spectrum) / np.sqrt(2)))  # the corner ring is H / sqrt(2), Nyquist H / 2
    ratio = np.maximum(fake_spectrum[:nyquist], 1e-20) / np.maximum(real_spectrum[:nyquist], 1e-20)
    return float(np.abs(np.log10(ratio)).mean())


def spectral_distance(fake, real, channels: str = "gray") -> float:
    """Mean absolute base-10 log ratio of the radially averaged power spectra of ``fake`` and ``real``, over the
    rings from 1 cycle per image to the Nyquist frequency (H / 2).

    Both (N, H, W, 3) uint8 of the same size. 0 for sets with the same mean spectrum; speckle and checkerboards
    raise the high-frequency rings, blur lowers them, and either raises the distance (0.1: the spectra differ by
    a factor of 10 ** 0.1 = 1.26 on average over the rings). On the 64-px avatars: real against real 0.006, a
    Gaussian blur of 0.7 px 0.5.

    ``channels="chroma"`` (the *colour spectral distance*) compares the spectra of the colour-difference channels
    instead: colour confetti that keeps the brightness leaves the luma spectrum alone and raises this one.
    """
    fake, real = _check_images("fake", fake), _check_images("real", real)
    if fake.shape[1:] != real.shape[1:]:
        raise ValueError(f"fake {fake.shape[1:3]} and real {real.shape[1:3]} images differ in size")
    return spectrum_distance(radial_power_spectrum(fake, channels), radial_power_spectrum(real, channels))


def quality_floors(real, floor_real=None, seed: int = 0, c2st_steps: int = 200) -> dict[str, float]:
    """The real-vs-real floor of each measure of :func:`quality_measures`: ``c2st_floor``, ``diversity_floor``,
    ``spectral_floor``, ``colour_spectral_floor``.

    ``real`` against ``floor_real`` when given (another held-out real set, ideally as large as the generated one),
    else the first half of ``real`` against the second (smaller sets: a slightly higher floor). They depend on the
    real images only, so a run measures them once. A measure is only as good as its distance from its floor.
    """
    real = _check_images("real", real)
    if floor_real is None:
        half = len(real) // 2
        floor_a, floor_b = real[:half], real[half:2 * half]
    else:
        floor_a, floor_b = real, _check_images("floor_real", floor_real)
    return {"c2st_floor": c2st_accuracy(floor_a, floor_b, steps=c2st_steps, seed=seed)["accuracy"],
            "diversity_floor": diversity_ratio(floor_b, floor_a, seed=seed),
            "spectral_floor": spectral_distance(floor_b, floor_a),
            "colour_spectral_floor": spectral_distance(floor_b, floor_a, "chroma")}


def quality_measures(fake, real, floor_real=None, seed: int = 0, c2st_steps: int = 200,
                     floors: dict[str, float] | None = None) -> dict[str, Any]:
    """C2ST accuracy, diversity ratio and spectral distance (of the luma and of the colour) of ``fake`` against
    ``real``, each with its floor.

    Keys: ``c2st``, ``c2st_se``, ``diversity``, ``spectral``, ``colour_spectral``, the floors of
    :func:`quality_floors` (``floors`` when given, else measured with ``floor_real``), ``n_fake``, ``n_real``.
    """
    fake, real = _check_images("fake", fake), _check_images("real", real)
    c2st = c2st_accuracy(real, fake, steps=c2st_steps, seed=seed)
    return {
        "c2st": c2st["accuracy"], "c2st_se": c2st["se"], "diversity": diversity_ratio(fake, real, seed=seed),
        "spectral": spectral_distance(fake, real), "colour_spectral": spectral_distance(fake, real, "chroma"),
        **(floors or quality_floors(real, floor_real, seed, c2st_steps)), "n_fake": len(fake), "n_real": len(real),
    }


def format_with_floor(measures: dict[str, Any], name: str, digits: int = 3) -> str:
    """One measure of :func:`quality_measures` with its floor, for tables: ``"0.070 (floor 0.006)"``."""
    return f"{measures[name]:.{digits}f} (floor {measures[f'{name}_floor']:.{digits}f})"


def colourfulness(images) -> np.ndarray:
    """(N,) Hasler and Suesstrunk's colourfulness of (N, H, W, 3) uint8 images (0: grey; about 40: quite
    colourful; above 100: extremely), from the opponent channels rg = R - G and yb = (R + G) / 2 - B."""
    rgb = np.asarray(images, np.float64)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = (rgb[..., 0] + rgb[..., 1]) / 2 - rgb[..., 2]
    spread = np.sqrt(rg.std((1, 2)) ** 2 + yb.std((1, 2)) ** 2)
    mean = np.sqrt(rg.mean((1, 2)) ** 2 + yb.mean((1, 2)) ** 2)
    return spread + 0.3 * mean


# --- memorisation -------------------------------------------------------------------------------------------------

def _flat(images) -> torch.Tensor:
    """(N, H, W, 3) uint8 numpy or (N, 3, H, W) in [-1, 1] -> (N, H*W*3) float32 in [0, 1], channels last."""
    if isinstance(images, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(images)).reshape(len(images), -1).float().div_(255)
    return as_unit_tensor(images).permute(0, 2, 3, 1).reshape(len(images), -1)


@torch.no_grad()
def nearest_neighbours(samples, train, batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For each sample, the per-pixel RMS distance (on [0, 1]) to its nearest training image and that image's index.

    Uses ||a - b||^2 = ||a||^2 + ||b||^2 - 2ab in chunks of ``batch`` training images (one matmul each), then
    recomputes the winning pairs exactly, so a copied training image scores 0 rather than rounding noise.
    """
    s = _flat(samples)  # (S, D); the training set is converted chunk by chunk (it may not fit as floats)
    if s[0].numel() != _flat(train[:1]).shape[1]:
        raise ValueError(f"samples ({s.shape[1]} values per image) and train ({_flat(train[:1]).shape[1]}) "
                         "differ in size")
    s_sq = torch.einsum("nd,nd->n", s, s)[:, None]  # (S, 1); einsum avoids an (N, D) temporary
    best = torch.full((len(s),), float("inf"))
    index = torch.zeros(len(s), dtype=torch.long)
    for start in range(0, len(train), batch):
        t = _flat(train[start:start + batch])  # (B, D)
        d2 = torch.addmm(s_sq + torch.einsum("nd,nd->n", t, t), s, t.T, alpha=-2)  # (S, B)
        value, arg = d2.min(1)
        better = value < best
        best[better], index[better] = value[better], arg[better] + start
    nearest = _flat(train[index.numpy()] if isinstance(train, np.ndarray) else train[index])
    exact = (s - nearest).square().mean(1).sqrt()  # (S,) per-pixel RMS
    return exact.numpy(), index.numpy()


def _summary(distances: np.ndarray) -> dict[str, float]:
    return {"mean": float(distances.mean()), "median": float(np.median(distances)), "min": float(distances.min())}


def nearest_neighbour_distance(samples, train, reference=None, batch: int = 1024) -> dict[str, Any]:
    """How close generated samples come to the training set: a memorisation check.

    Returns ``mean``/``median``/``min`` of each sample's distance to its nearest training image (per-pixel RMS
    on [0, 1]) and, with ``reference`` (held-out real images of the same kind), the same for those real images
    under ``"reference"`` and ``ratio`` = sample mean / reference mean. A generator that copies its training
    images has a ratio well below 1; one that makes new faces sits near or above 1.
    """
    distances, _ = nearest_neighbours(samples, train, batch)
    result: dict[str, Any] = {**_summary(distances), "n_samples": len(distances), "n_train": len(train),
                              "reference": None, "ratio": None}
    if reference is not None:
        ref, _ = nearest_neighbours(reference, train, batch)
        result["reference"] = {**_summary(ref), "n": len(ref)}
        result["ratio"] = float(distances.mean() / ref.mean()) if ref.mean() > 0 else None
    return result

