"""Edge promotion (CartoonGAN's dataset E): only the edge neighbourhood changes, and it is blurred."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from animelib.data import edges


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMELIB_CACHE", str(tmp_path / "cache"))


def rectangles(n: int = 3, size: int = 64) -> np.ndarray:
    """Flat images with a sharp-edged rectangle each: (n, size, size, 3) uint8."""
    out = np.full((n, size, size, 3), 230, np.uint8)
    for i in range(n):
        a, b = size // 4 + i, 3 * size // 4 - i
        out[i, a:b, a:b] = (20 + 40 * i, 60, 200 - 30 * i)
    return out


def test_only_the_edge_neighbourhood_changes():
    imgs = rectangles()
    out = edges.edge_promote(imgs)
    assert out.shape == imgs.shape and out.dtype == np.uint8
    for img, res in zip(imgs, out, strict=True):
        mask = edges.edge_mask(img)
        assert mask.any() and mask.mean() < 0.3  # a band around the rectangle, not the image
        assert np.array_equal(res[~mask], img[~mask])  # outside: exactly unchanged
        changed = (res != img).any(axis=2)
        assert changed[mask].mean() > 0.8  # inside: blurred
        assert not changed[~mask].any()


def test_edges_get_softer():
    img = rectangles(1, 64)[0]
    out = edges.edge_promote(img)
    row_in, row_out = img[32].astype(int), out[32].astype(int)
    # The step from background to rectangle becomes a ramp: smaller largest jump between neighbours.
    assert np.abs(np.diff(row_out, axis=0)).max() < np.abs(np.diff(row_in, axis=0)).max()


def test_band_is_around_the_rectangle_border():
    img = rectangles(1, 64)[0]
    mask = edges.edge_mask(img)
    assert mask[16, 32] and mask[32, 16]  # on the border
    assert not mask[32, 32] and not mask[2, 2]  # deep inside and far outside


def test_flat_image_is_unchanged():
    flat = np.full((2, 32, 32, 3), 77, np.uint8)
    assert np.array_equal(edges.edge_promote(flat), flat)
    assert not edges.edge_mask(flat[0]).any()


def test_kernel_scales_with_image_size():
    assert edges._params((256, 256), None, None) == (5, 1.1)
    assert edges._params((64, 64), None, None)[0] == 3  # at least 3 x 3
    assert edges._params((512, 512), None, None)[0] == 11
    k64 = edges.edge_mask(rectangles(1, 64)[0]).sum()
    k64_wide = edges.edge_mask(rectangles(1, 64)[0], dilate=7).sum()
    assert k64_wide > k64


def test_cache_reuse_and_invalidation(monkeypatch):
    imgs = rectangles()
    first = edges.edge_promoted(imgs, "faces-64", progress=False)
    files = list(Path(os.environ["ANIMELIB_CACHE"], "edges").glob("*.npy"))
    assert len(files) == 1 and files[0].name.startswith("faces-64-")

    def boom(*args, **kwargs):
        raise AssertionError("computed again")

    real = edges.edge_promote
    monkeypatch.setattr(edges, "edge_promote", boom)
    second = edges.edge_promoted(imgs, "faces-64", progress=False)
    assert np.array_equal(first, second)

    changed = imgs.copy()
    changed[0, 0, 0, 0] ^= 1  # other images: computed again
    with pytest.raises(AssertionError, match="computed again"):
        edges.edge_promoted(changed, "faces-64", progress=False)
    with pytest.raises(AssertionError, match="computed again"):
        edges.edge_promoted(imgs, "faces-64", progress=False, low=50)
    monkeypatch.setattr(edges, "edge_promote", real)
    edges.edge_promoted(changed, "faces-64", progress=False)
    assert len(list(files[0].parent.glob("*.npy"))) == 1  # the key's old entry was replaced


def test_cache_off_matches():
    imgs = rectangles()
    assert np.array_equal(edges.edge_promoted(imgs, "x", cache=False, progress=False), edges.edge_promote(imgs))
    assert not list(Path(os.environ["ANIMELIB_CACHE"]).rglob("*.npy"))
