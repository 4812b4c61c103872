"""The embedded synthetic avatar renderer: determinism, sizes, paired landmarks, styles, cache, arguments."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from animelib.data import synthetic as syn


def _lum(pixels) -> np.ndarray:
    return np.asarray(pixels, np.float64) @ np.array([0.299, 0.587, 0.114])


def _at(img: np.ndarray, x: float, y: float) -> np.ndarray:
    return img[int(round(y)), int(round(x))].astype(np.int64)


def _window(img: np.ndarray, x: float, y: float, r: int = 1) -> np.ndarray:
    xi, yi = int(round(x)), int(round(y))
    return img[yi - r: yi + r + 1, xi - r: xi + r + 1].reshape(-1, 3)


def _top_colours(img: np.ndarray, k: int = 16) -> float:
    """The fraction of pixels painted in the ``k`` most frequent exact colours."""
    codes = (img.astype(np.int64) @ np.array([65536, 256, 1])).ravel()
    counts = np.unique(codes, return_counts=True)[1]
    return float(np.sort(counts)[::-1][:k].sum() / codes.size)


def test_constants_and_attributes():
    assert syn.STYLES == ("anime", "photo")
    assert syn.LANDMARK_NAMES == ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
    assert len(syn.ATTRIBUTE_NAMES) >= 8 and len(set(syn.ATTRIBUTE_NAMES)) == len(syn.ATTRIBUTE_NAMES)
    assert isinstance(syn.RENDERER_VERSION, int)
    attrs = syn.sample_attributes(0, 0)
    assert tuple(attrs) == syn.ATTRIBUTE_NAMES
    for key, value in attrs.items():  # plain Python values only (JSON-able, no numpy scalars)
        assert type(value) in (int, float, tuple), key
        if isinstance(value, tuple):
            assert all(type(v) is int and 0 <= v <= 255 for v in value), key


def test_deterministic_and_independent_of_global_rng():
    np.random.seed(1)
    random.seed(1)
    first = {s: syn.render_avatar(5, 17, s, 64) for s in syn.STYLES}
    np.random.seed(12345)
    random.seed(99)
    np.random.rand(1000)
    for style in syn.STYLES:
        img, marks = syn.render_avatar(5, 17, style, 64)
        assert img.tobytes() == first[style][0].tobytes()
        assert marks.tobytes() == first[style][1].tobytes()
    assert syn.sample_attributes(5, 17) == syn.sample_attributes(5, 17)
    assert syn.sample_attributes(5, 17) != syn.sample_attributes(5, 18)
    assert syn.sample_attributes(5, 17) != syn.sample_attributes(6, 17)
    for style in syn.STYLES:
        other, _ = syn.render_avatar(5, 18, style, 64)
        other_seed, _ = syn.render_avatar(6, 17, style, 64)
        assert np.abs(other.astype(int) - first[style][0]).mean() > 5
        assert np.abs(other_seed.astype(int) - first[style][0]).mean() > 5


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_sizes_and_landmarks_scale(size):
    _, base = syn.render_avatar(0, 3, "anime", 64)
    for style in syn.STYLES:
        img, marks = syn.render_avatar(0, 3, style, size)
        assert img.shape == (size, size, 3) and img.dtype == np.uint8
        assert marks.shape == (5, 2) and marks.dtype == np.float32
        assert np.all(marks > 0) and np.all(marks < size - 1)
        # pixel coordinates: (x + 0.5) / size is the same point of the face at every size
        np.testing.assert_allclose((marks + 0.5) / size, (base + 0.5) / 64, atol=1e-5)
        assert img.std() > 20  # a picture, not a flat canvas


def test_pair_shares_landmarks_and_styles_differ():
    dark = {"anime": [], "photo": []}
    for index in range(16):
        photo, anime, marks = syn.render_pair(0, index, 64)
        _, m_photo = syn.render_avatar(0, index, "photo", 64)
        _, m_anime = syn.render_avatar(0, index, "anime", 64)
        np.testing.assert_array_equal(marks, m_photo)
        np.testing.assert_array_equal(marks, m_anime)
        assert np.abs(photo.astype(int) - anime.astype(int)).mean() > 30
        # flat cel colours: a few exact colours cover most of the anime image, none of the shaded photo
        assert _top_colours(anime) > 0.5 > 0.1 > _top_colours(photo)
        for style, im in (("anime", anime), ("photo", photo)):
            dark[style].append(float((im.max(axis=2) < 80).mean()))
    # dark outlines (and pupils) in anime; the photo has none
    assert np.mean(dark["anime"]) > 1.5 * np.mean(dark["photo"]) + 0.02
    assert sum(a > p for a, p in zip(dark["anime"], dark["photo"], strict=True)) >= 13
    assert min(dark["anime"]) > 0.03


def test_pair_is_aligned():
    # same head, hair and body silhouette: the two styles' edges agree far better than unrelated faces'
    def edges(im):
        g = _lum(im.reshape(-1, 3)).reshape(im.shape[:2])
        return np.hypot(*np.gradient(g))

    same, other = [], []
    for index in range(8):
        photo, anime, _ = syn.render_pair(0, index, 64)
        other_anime, _ = syn.render_avatar(0, index + 100, "anime", 64)
        e = edges(photo)
        same.append(np.corrcoef(e.ravel(), edges(anime).ravel())[0, 1])
        other.append(np.corrcoef(e.ravel(), edges(other_anime).ravel())[0, 1])
    assert np.mean(same) > np.mean(other) + 0.1


def test_landmarks_on_features():
    for index in range(12):
        for style in syn.STYLES:
            img, m = syn.render_avatar(1, index, style, 128)
            (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = m
            assert lx < nx < rx and mlx < nx < mrx
            assert max(ly, ry) < ny < min(mly, mry)  # eyes above the nose above the mouth corners
            assert abs(ly - ry) < 0.1 * 128 and 0.15 * 128 < rx - lx < 0.45 * 128
            cheek = _at(img, nx, 0.5 * (ly + ny))  # between the eyes, above the nose tip: skin
            cheek_lum = _lum(cheek)
            for ex, ey in ((lx, ly), (rx, ry)):
                eye = _at(img, ex, ey)
                assert np.abs(eye - cheek).sum() > 150, (style, index, eye, cheek)
                assert _lum(eye) < cheek_lum - 40  # pupil / iris
            # nose tip and mouth corners sit on marks darker than the skin around them
            for x, y in ((nx, ny), (mlx, mly), (mrx, mry)):
                assert _lum(_window(img, x, y, 2)).min() < cheek_lum - 25, (style, index)
            # ... inside the face: skin (the cheek's hue, maybe shaded) between the nose and each mouth corner
            for x in (mlx, mrx):
                mid = _at(img, 0.5 * (nx + x), 0.5 * (ny + mly))
                chroma = np.abs(mid / mid.sum() - cheek / cheek.sum()).sum()
                assert chroma < 0.06 and _lum(mid) > 0.6 * cheek_lum, (style, index, mid, cheek)


def test_attributes_vary():
    attrs = [syn.sample_attributes(0, i) for i in range(64)]
    assert len({a["hair_color"] for a in attrs}) >= 50
    assert len({a["eye_color"] for a in attrs}) >= 50
    assert {a["hair_style"] for a in attrs} == set(range(len(syn.HAIR_STYLES)))
    assert len({a["background_pattern"] for a in attrs}) == len(syn.BACKGROUND_PATTERNS)
    for key in ("face_width", "eye_size", "skin_tone", "roll", "mouth_open"):
        assert np.std([a[key] for a in attrs]) > 0.1 * (max(a[key] for a in attrs) - min(a[key] for a in attrs))
    imgs = np.stack([syn.render_avatar(0, i, "anime", 32)[0] for i in range(64)]).astype(np.float32)
    flat = imgs.reshape(64, -1)
    dists = np.abs(flat[:, None] - flat[None]).mean(-1)
    assert dists[~np.eye(64, dtype=bool)].min() > 8  # 64 visibly different faces


def test_attributes_drive_the_drawing():
    base = syn.sample_attributes(2, 4)
    img, marks = syn.render(base, "anime", 64)
    hair = dict(base, hair_color=tuple(255 - c for c in base["hair_color"]))
    img2, marks2 = syn.render(hair, "anime", 64)
    np.testing.assert_array_equal(marks, marks2)  # colour only: same geometry
    assert np.abs(img.astype(int) - img2).mean() > 5
    wide = syn.render(dict(base, eye_spacing=1.0), "photo", 64)[1]
    narrow = syn.render(dict(base, eye_spacing=0.0), "photo", 64)[1]
    assert wide[1, 0] - wide[0, 0] > narrow[1, 0] - narrow[0, 0] + 1.5
    tilted = syn.render(dict(base, roll=9.0), "photo", 64)[1]
    level = syn.render(dict(base, roll=0.0), "photo", 64)[1]
    assert abs(level[1, 1] - level[0, 1]) < 1e-3
    assert tilted[1, 1] - tilted[0, 1] > 1.0  # positive roll turns the head clockwise on screen
    styles = {syn.render(dict(base, hair_style=k), "anime", 64)[0].tobytes() for k in range(len(syn.HAIR_STYLES))}
    assert len(styles) == len(syn.HAIR_STYLES)


def test_render_set_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMELIB_CACHE", str(tmp_path))
    images, marks = syn.render_set("photo", 5, 32, seed=3, start=7, progress=False)
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8
    assert marks.shape == (5, 5, 2) and marks.dtype == np.float32
    for i in range(5):
        img, m = syn.render_avatar(3, 7 + i, "photo", 32)
        np.testing.assert_array_equal(images[i], img)
        np.testing.assert_array_equal(marks[i], m)
    files = list((tmp_path / "synthetic").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"  # no temporary file left behind
    assert f"v{syn.RENDERER_VERSION}" in files[0].name

    def boom(*args, **kwargs):
        raise AssertionError("rendered although cached")

    monkeypatch.setattr(syn, "render", boom)
    again, again_marks = syn.render_set("photo", 5, 32, seed=3, start=7, progress=False)
    np.testing.assert_array_equal(again, images)
    np.testing.assert_array_equal(again_marks, marks)
    for kwargs in (dict(cache=False), dict(start=8), dict(seed=4), dict(n=4)):  # other keys are not hits
        call = dict(style="photo", n=5, size=32, seed=3, start=7, progress=False) | kwargs
        with pytest.raises(AssertionError, match="rendered"):
            syn.render_set(**call)
    with pytest.raises(AssertionError, match="rendered"):
        syn.render_set("anime", 5, 32, seed=3, start=7, progress=False)


def test_render_set_empty_and_corrupt_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMELIB_CACHE", str(tmp_path))
    images, marks = syn.render_set("anime", 0, 48, progress=False)
    assert images.shape == (0, 48, 48, 3) and marks.shape == (0, 5, 2)
    first, _ = syn.render_set("anime", 2, 32, progress=False)
    (path,) = (tmp_path / "synthetic").iterdir()
    path.write_bytes(b"not an npz")
    again, _ = syn.render_set("anime", 2, 32, progress=False)  # re-rendered and rewritten
    np.testing.assert_array_equal(again, first)
    with np.load(path) as f:
        np.testing.assert_array_equal(f["images"], first)


@pytest.mark.parametrize("call, name", [
    (lambda: syn.render_avatar(0, 0, "sketch"), "style"),
    (lambda: syn.render_avatar(0, 0, "anime", 31), "size"),
    (lambda: syn.render_avatar(0, 0, "photo", 257), "size"),
    (lambda: syn.render_avatar(0, 0, "photo", 64.0), "size"),
    (lambda: syn.render_pair(0, 0, 16), "size"),
    (lambda: syn.render(syn.sample_attributes(0, 0), "cartoon"), "style"),
    (lambda: syn.render({"hair_style": 1}, "anime"), "attrs"),
    (lambda: syn.sample_attributes(-1, 0), "seed"),
    (lambda: syn.sample_attributes(0, -5), "index"),
    (lambda: syn.sample_attributes(0, 1.5), "index"),
    (lambda: syn.render_set("anime", -1, cache=False), "n"),
    (lambda: syn.render_set("anime", 2.0, cache=False), "n"),
    (lambda: syn.render_set("oil", 2, cache=False), "style"),
    (lambda: syn.render_set("anime", 2, 300, cache=False), "size"),
    (lambda: syn.render_set("anime", 2, seed=-1, cache=False), "seed"),
    (lambda: syn.render_set("anime", 2, start=-3, cache=False), "start"),
])
def test_bad_arguments(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()


def test_fast_enough():
    attrs = [syn.sample_attributes(9, i) for i in range(60)]
    t = time.perf_counter()
    for a in attrs:
        for style in syn.STYLES:
            syn.render(a, style, 64)
    rate = 120 / (time.perf_counter() - t)
    assert rate > 60, f"{rate:.0f} images/s at 64 px"  # about 300/s on one core; generous for busy CI
