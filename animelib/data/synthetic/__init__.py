"""Embedded synthetic face avatars: a procedural, deterministic renderer in two styles.

``anime``: flat cel colours with one shadow tone, dark outlines, big eyes with highlights, pointy bangs.
``photo``: soft radial light, skin texture, small realistic eyes, nose shading, coloured lips, soft hair
edges and a blurred background, no outlines.

Both styles draw the same attribute vector (``sample_attributes``) with the same geometry, so
``render_pair`` gives aligned (photo, anime) pairs whose five landmarks are identical. Landmarks are
(x, y) in pixels of the output image, pixel centres at integers (``LANDMARK_NAMES``; left = smaller x).

Everything is drawn with OpenCV in head-local units mapped by the pose (offset, scale, roll) onto a
supersampled canvas (anime 2-8x, photo 1.5x then blurred), reduced with ``INTER_AREA``. Over 100 images/s
at 64 px on one busy CPU core (``benchmarks/render_speed.py``); ``render_set`` caches whole sets on disk.

Modules: ``attributes`` (the attribute vector and its sampling), ``geometry`` (the head's shapes and
landmarks, curve helpers), ``painter`` (drawing local shapes on a canvas, colour helpers), ``anime`` and
``photo`` (the two styles).
"""

from __future__ import annotations

from numbers import Integral
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from animelib.data.synthetic.anime import draw_anime
from animelib.data.synthetic.attributes import (
    ATTRIBUTE_NAMES,
    BACKGROUND_PATTERNS,
    HAIR_STYLES,
    check_int,
    sample_attributes,
)
from animelib.data.synthetic.geometry import HeadGeometry
from animelib.data.synthetic.photo import add_sensor_noise, draw_photo
from animelib.errors import ConfigError
from animelib.files import atomic_write
from animelib.paths import cache_dir

__all__ = [
    "ATTRIBUTE_NAMES", "BACKGROUND_PATTERNS", "HAIR_STYLES", "LANDMARK_NAMES", "MAX_SIZE", "MIN_SIZE",
    "RENDERER_VERSION", "STYLES", "render", "render_avatar", "render_pair", "render_set", "sample_attributes",
]

STYLES = ("anime", "photo")
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
RENDERER_VERSION = 2  # part of the cache file names: bump it whenever a picture changes
MIN_SIZE, MAX_SIZE = 32, 256


def _check_style(style) -> None:
    if style not in STYLES:
        raise ConfigError(f"style={style!r} is not one of {', '.join(STYLES)}")


def _check_size(size) -> None:
    if isinstance(size, bool) or not isinstance(size, Integral) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ConfigError(f"size={size!r} must be an integer from {MIN_SIZE} to {MAX_SIZE} pixels")


def render(attrs: dict, style: str, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """One avatar: image (size, size, 3) uint8 RGB and landmarks (5, 2) float32 pixel (x, y)."""
    _check_style(style)
    _check_size(size)
    missing = [k for k in ATTRIBUTE_NAMES if k not in attrs]
    if missing:
        raise ConfigError(f"attrs is missing {', '.join(missing)} (see sample_attributes)")
    size = int(size)
    head = HeadGeometry(attrs)
    if style == "anime":
        supersampling = int(min(8, max(2, round(256 / size))))
        canvas = draw_anime(head, attrs, size * supersampling, size)  # (S, S, 3) uint8
    else:
        canvas = draw_photo(head, attrs, max(96, (3 * size) // 2), size)  # (S, S, 3) float32; soft: 1.5x is enough
    image = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)  # (size, size, 3)
    if style == "photo":
        image = add_sensor_noise(image, attrs, size)
    return image, head.landmarks(size)


def render_avatar(seed: int, index: int, style: str, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Avatar ``index`` of ``seed`` in ``style``: image (size, size, 3) uint8 and landmarks (5, 2)."""
    _check_style(style)
    _check_size(size)
    return render(sample_attributes(seed, index), style, size)


def render_pair(seed: int, index: int, size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same face as a photo and as anime: (photo, anime, landmarks), landmarks shared by both."""
    _check_size(size)
    attrs = sample_attributes(seed, index)
    photo, landmarks = render(attrs, "photo", size)
    anime, _ = render(attrs, "anime", size)
    return photo, anime, landmarks


def _cache_file(style: str, n: int, size: int, seed: int, start: int) -> Path:
    name = f"{style}_n{n}_s{size}_seed{seed}_start{start}_v{RENDERER_VERSION}.npz"
    return cache_dir("synthetic") / name


def _load_cached(path: Path, n: int, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached (images, landmarks), or None when the file is missing, unreadable or of another shape."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as f:
            images, landmarks = f["images"], f["landmarks"]
    except (OSError, ValueError, KeyError):
        return None  # unreadable cache file: render again and overwrite it
    if images.shape == (n, size, size, 3) and landmarks.shape == (n, 5, 2):
        return images, landmarks
    return None


def _save_atomically(path: Path, images: np.ndarray, landmarks: np.ndarray) -> None:
    """Write the arrays as one ``.npz`` file, atomically: readers never see half a file."""
    atomic_write(path, lambda f: np.savez(f, images=images, landmarks=landmarks))


def render_set(style: str, n: int, size: int = 64, seed: int = 0, start: int = 0, cache: bool = True,
               progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Avatars ``start`` .. ``start + n - 1``: images (n, size, size, 3) uint8, landmarks (n, 5, 2) float32.

    With ``cache``, the arrays are kept in ``cache_dir("synthetic")`` and loaded from there next time.
    """
    _check_style(style)
    check_int("n", n, 0)
    _check_size(size)
    check_int("seed", seed, 0)
    check_int("start", start, 0)
    n, size, seed, start = int(n), int(size), int(seed), int(start)
    path = _cache_file(style, n, size, seed, start) if cache and n > 0 else None
    cached = _load_cached(path, n, size) if path is not None else None
    if cached is not None:
        return cached
    images = np.empty((n, size, size, 3), np.uint8)
    landmarks = np.empty((n, 5, 2), np.float32)
    indices = range(start, start + n)
    if progress and n > 500:
        indices = tqdm(indices, desc=f"rendering {n} {style} avatars ({size} px)", unit="img", leave=False)
    for i, index in enumerate(indices):
        images[i], landmarks[i] = render(sample_attributes(seed, index), style, size)
    if path is not None:
        _save_atomically(path, images, landmarks)
    return images, landmarks
