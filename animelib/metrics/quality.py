"""Offline quality measures: they need no pretrained weights.

Three measures catch what the figures show: samples that a classifier on image statistics tells from real ones
(C2ST), collapse to a few faces (diversity ratio) and speckle, checkerboards or blur (spectral distance). Each comes
with its real-vs-real floor, the value two sets of real images score against each other. Beside them:
colourfulness, the share of images with a face an external detector finds, and the memorisation check (the
distance of generated samples to their nearest training image).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from animelib.data.faces import detect
from animelib.metrics.paired import as_unit_tensor
from animelib.nets.blocks import CHROMA_RGB, LUMA_RGB

QUALITY_SIZE = 32  # the diversity ratio works on 32-px images: enough for faces, cheap on a CPU


def _check_images(name: str, images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{name} must be (N, H, W, 3) uint8 images, got {images.shape} {images.dtype}")
    if len(images) < 2:
        raise ValueError(f"{name} holds {len(images)} image(s): at least 2 are needed")
    return images


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


C2ST_SIZE = 64  # the two-sample test reads its statistics at 64 px (larger images are area-averaged down)


def _histograms(values: torch.Tensor, low: float, high: float, bins: int) -> torch.Tensor:
    """(N, ...) values -> (N, bins): each image's share of values in ``bins`` equal bins over [low, high] (values
    outside go to the end bins)."""
    idx = ((values.flatten(1) - low) / (high - low) * bins).long().clamp(0, bins - 1)
    ones = torch.ones_like(idx, dtype=torch.float64)
    return torch.zeros(len(idx), bins, dtype=torch.float64).scatter_add_(1, idx, ones) / idx.shape[1]


def _log_differences(c: torch.Tensor) -> torch.Tensor:
    """(B, H, W) -> (B, 2 * H * W - H - W): log10 of the absolute differences between horizontal and vertical
    neighbours (plus 1e-3)."""
    return torch.log10(torch.cat([(c[:, :, 1:] - c[:, :, :-1]).abs().flatten(1),
                                  (c[:, 1:] - c[:, :-1]).abs().flatten(1)], 1) + 1e-3)


def c2st_features(images) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, F) float64: the image statistics the two-sample classifier reads, at C2ST_SIZE px.

    Histograms of brightness, saturation, Cb and Cr (the palette: anime's flat saturated fills against skin and
    shadow), of the log gradient magnitude of the brightness and of the colour (crisp outlines over flat areas
    against smooth shading; blotches are soft colour edges), and the log radial power spectra of the brightness and
    the colour (blur, speckle, checkerboards)."""
    images = _check_images("images", images)
    if images.shape[1] != C2ST_SIZE or images.shape[2] != C2ST_SIZE:
        x = torch.nn.functional.interpolate(as_unit_tensor(images), size=(C2ST_SIZE, C2ST_SIZE), mode="area")
        images = (x * 255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    out = []
    for i in range(0, len(images), 256):
        chunk = images[i:i + 256]
        rgb = torch.from_numpy(np.ascontiguousarray(chunk)).double() / 255  # (B, H, W, 3)
        luma, (cb, cr) = _gray(chunk), _channels(chunk, "chroma").unbind(1)  # (B, H, W) each
        top, bottom = rgb.max(-1).values, rgb.min(-1).values
        saturation = (top - bottom) / top.clamp(min=1e-3)
        out.append(torch.cat([_histograms(luma, 0, 1, 8), _histograms(saturation, 0, 1, 8),
                              _histograms(cb, -0.3, 0.3, 8), _histograms(cr, -0.3, 0.3, 8),
                              _histograms(_log_differences(luma), -3, 0, 12),
                              _histograms(torch.cat([_log_differences(cb), _log_differences(cr)], 1), -3, 0, 8)], 1))
    spectra = [np.log(radial_power_spectra(images, c) + 1e-12) for c in ("gray", "chroma")]
    return np.concatenate([torch.cat(out).numpy(), *spectra], 1)


def c2st_accuracy(real, fake, seed: int = 0, folds: int = 5, ridge: float = 0.1) -> dict[str, float]:
    """Classifier two-sample test: how well a linear classifier on image statistics tells ``fake`` from ``real``
    ((N, H, W, 3) uint8 each).

    The sets are cut to the same size n (a seeded pick); each image is described by :func:`c2st_features`, and a
    ridge classifier (``ridge`` times the training count on the squared weights, features standardised on the
    training part) is trained on all but one of ``folds`` stratified folds and tested on the one left, in turn, so
    every picked image is tested once. 0.5 means the classifier could not tell the sets apart; 1.0 that it always
    could. Returns ``accuracy``, ``n_test`` (2 n) and ``se``, the binomial standard error of the accuracy.
    Deterministic for a ``seed``; no global random state is used. About 1 s for 1,000 against 1,000 64-px images.
    """
    real, fake = _check_images("real", real), _check_images("fake", fake)
    n = min(len(real), len(fake))
    k = min(folds, n)
    rng = np.random.default_rng(seed)
    parts = [rng.permutation(len(images))[:n] for images in (real, fake)]
    features = [c2st_features(images[np.sort(pick)]) for images, pick in zip((real, fake), parts, strict=True)]
    split = [np.array_split(rng.permutation(n), k) for _ in features]  # fold f of each set
    correct = 0
    for f in range(k):
        train = [np.concatenate([s[j] for j in range(k) if j != f]) for s in split]
        x = np.concatenate([feats[t] for feats, t in zip(features, train, strict=True)])
        y = np.concatenate([-np.ones(len(train[0])), np.ones(len(train[1]))])  # -1 real, +1 fake
        mean, sd = x.mean(0), x.std(0) + 1e-6
        a = np.c_[(x - mean) / sd, np.ones(len(x))]
        w = np.linalg.solve(a.T @ a + ridge * len(a) * np.eye(a.shape[1]), a.T @ y)
        for sign, feats, s in zip((-1, 1), features, split, strict=True):
            correct += int((sign * (np.c_[(feats[s[f]] - mean) / sd, np.ones(len(s[f]))] @ w) > 0).sum())
    accuracy = correct / (2 * n)
    return {"accuracy": accuracy, "n_test": 2 * n, "se": float(np.sqrt(accuracy * (1 - accuracy) / (2 * n)))}


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


def quality_floors(real, floor_real=None, seed: int = 0) -> dict[str, float]:
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
    return {"c2st_floor": c2st_accuracy(floor_a, floor_b, seed=seed)["accuracy"],
            "diversity_floor": diversity_ratio(floor_b, floor_a, seed=seed),
            "spectral_floor": spectral_distance(floor_b, floor_a),
            "colour_spectral_floor": spectral_distance(floor_b, floor_a, "chroma")}


def quality_measures(fake, real, floor_real=None, seed: int = 0,
                     floors: dict[str, float] | None = None) -> dict[str, Any]:
    """C2ST accuracy, diversity ratio and spectral distance (of the luma and of the colour) of ``fake`` against
    ``real``, each with its floor.

    Keys: ``c2st``, ``c2st_se``, ``diversity``, ``spectral``, ``colour_spectral``, the floors of
    :func:`quality_floors` (``floors`` when given, else measured with ``floor_real``), ``n_fake``, ``n_real``.
    """
    fake, real = _check_images("fake", fake), _check_images("real", real)
    c2st = c2st_accuracy(real, fake, seed=seed)
    return {
        "c2st": c2st["accuracy"], "c2st_se": c2st["se"], "diversity": diversity_ratio(fake, real, seed=seed),
        "spectral": spectral_distance(fake, real), "colour_spectral": spectral_distance(fake, real, "chroma"),
        **(floors or quality_floors(real, floor_real, seed)), "n_fake": len(fake), "n_real": len(real),
    }


def format_with_floor(measures: dict[str, Any], name: str, digits: int = 3) -> str:
    """One measure of :func:`quality_measures` with its floor, for tables: ``"0.070 (floor 0.006)"``."""
    return f"{measures[name]:.{digits}f} (floor {measures[f'{name}_floor']:.{digits}f})"


FACE_SIDE = 128  # face_found enlarges each image to this side first: animeface misses most faces at 64 px


def face_found(images, kind: str = "anime", side: int = FACE_SIDE) -> np.ndarray:
    """(N,) 1.0 where the face detector of ``kind`` finds a face in the image enlarged to ``side`` px, else 0.0.

    An external judge of a translation: animeface (``"anime"``) was built for anime faces and finds none in the
    photos, so the share of translations where it finds one says how many read as drawn faces; real anime sets
    its ceiling (about 0.98 on the 64-px avatars, 0.56 on real 64-px anime crops) and the photos themselves its
    floor (0). ``"photo"`` (OpenCV's cascade with an eye check) judges the anime-to-photo direction the same way.
    About 0.05 s per image on one core."""
    images = _check_images("images", images)
    return np.array([detect(cv2.resize(np.ascontiguousarray(x), (side, side), interpolation=cv2.INTER_CUBIC), kind)
                     is not None for x in images], dtype=np.float64)


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

