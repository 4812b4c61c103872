"""Edge promotion: CartoonGAN's dataset E, cartoon images whose clear edges are blurred away.

CartoonGAN's discriminator learns that crisp edges mark a cartoon by also seeing each anime image with its
edges smoothed, labelled fake. For each image: Canny edges on the grayscale image, dilated to a small
neighbourhood, and the pixels there replaced by a Gaussian-blurred copy of the image; the other pixels are
left exactly as they were.
"""

from __future__ import annotations

import hashlib
import json
import re

import cv2
import numpy as np
from tqdm.auto import tqdm

from animelib.files import atomic_write
from animelib.paths import cache_dir

EDGES_VERSION = 1


def _params(shape, dilate: int | None, sigma: float | None) -> tuple[int, float]:
    """Dilation kernel side and blur sigma for an image of this (H, W): 5 px and 1.1 at 256 px, scaled."""
    side = min(shape[0], shape[1])
    if dilate is None:
        dilate = max(3, int(round(5 * side / 256)))
        dilate += 1 - dilate % 2  # odd, so the neighbourhood is centred on the edge
    if sigma is None:
        sigma = max(0.8, 1.1 * side / 256)  # 1.1: OpenCV's sigma for the paper's 5 x 5 blur
    return int(dilate), float(sigma)


def edge_mask(image: np.ndarray, low: int = 100, high: int = 200, dilate: int | None = None) -> np.ndarray:
    """The dilated Canny edge neighbourhood of one (H, W, 3) uint8 RGB image: (H, W) bool."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    k, _ = _params(image.shape, dilate, None)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image  # (H, W) uint8
    edges = cv2.Canny(gray, low, high)  # (H, W) uint8, 255 on edges
    return cv2.dilate(edges, np.ones((k, k), np.uint8)) > 0


def _promote_one(image: np.ndarray, low: int, high: int, dilate: int | None, sigma: float | None) -> np.ndarray:
    _, s = _params(image.shape, dilate, sigma)
    mask = edge_mask(image, low, high, dilate)  # (H, W) bool
    out = image.copy()
    if mask.any():
        blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=s, borderType=cv2.BORDER_REFLECT_101)  # (H, W, 3)
        out[mask] = blurred[mask]
    return out


def edge_promote(images: np.ndarray, low: int = 100, high: int = 200, dilate: int | None = None,
                 sigma: float | None = None, progress: bool = False) -> np.ndarray:
    """Edge-promoted copies of (N, H, W, 3) (or one (H, W, 3)) uint8 RGB images, same shape.

    ``low``/``high``: Canny thresholds; ``dilate``: kernel side (default 5 at 256 px, scaled with the image,
    at least 3); ``sigma``: Gaussian blur (default 1.1 at 256 px, at least 0.8).
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if images.ndim == 3:
        return _promote_one(images, low, high, dilate, sigma)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) uint8 images, got shape {images.shape}")
    out = np.empty_like(images)  # (N, H, W, 3) uint8
    for i in tqdm(range(len(images)), desc="edge promotion", unit="img", disable=not progress, leave=False):
        out[i] = _promote_one(images[i], low, high, dilate, sigma)
    return out


def edge_promoted(images: np.ndarray, key: str, cache: bool = True, progress: bool = True, low: int = 100,
                  high: int = 200, dilate: int | None = None, sigma: float | None = None) -> np.ndarray:
    """``edge_promote(images)``, cached under ``cache_dir("edges")`` by key, the images' hash and the params.

    ``key`` names the set (e.g. "faces-64"); a new result for the same key replaces the old one on disk.
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if not cache:
        return edge_promote(images, low, high, dilate, sigma, progress=progress)
    h = hashlib.sha1(json.dumps([EDGES_VERSION, images.shape, low, high, dilate, sigma]).encode())
    h.update(memoryview(images).cast("B"))
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)[:60] or "edges"
    folder = cache_dir("edges")
    path = folder / f"{slug}-{h.hexdigest()[:20]}.npy"
    if path.is_file():
        try:
            cached = np.load(path, mmap_mode=None, allow_pickle=False)
            if cached.shape == images.shape and cached.dtype == np.uint8:
                return cached
        except (OSError, ValueError):
            pass  # unreadable: compute again
    out = edge_promote(images, low, high, dilate, sigma, progress=progress)
    try:
        atomic_write(path, lambda f: np.save(f, out))
        for old in folder.glob(f"{slug}-*.npy"):
            if old != path and re.fullmatch(rf"{re.escape(slug)}-[0-9a-f]{{20}}\.npy", old.name):
                old.unlink(missing_ok=True)
    except OSError:  # no cache (full or read-only disk): the result is still right
        pass
    return out
