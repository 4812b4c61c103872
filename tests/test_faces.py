"""Face detection and face-centred crops: a real photo (matplotlib's Grace Hopper), a drawn anime face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from animelib.data import faces
from animelib.data.synthetic import render_set
from animelib.errors import AnimelibError

# A flat-colour anime face drawn for these tests (300 x 300, made with PIL's ImageDraw; animeface finds it).
ANIME_FACE = Path(__file__).parent / "fixtures" / "anime_face.png"

needs_haar = pytest.mark.skipif(
    not faces.photo_detector_available(),
    reason="OpenCV's Haar cascade is not installed (OpenCV 5 ships none; opencv-python-headless<5 does)",
)


def grace_hopper() -> np.ndarray:
    """A real portrait photo shipped with matplotlib: (600, 512, 3) uint8."""
    cbook = pytest.importorskip("matplotlib.cbook")
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return np.asarray(Image.open(path).convert("RGB"))


def anime_face() -> np.ndarray:
    return np.asarray(Image.open(ANIME_FACE).convert("RGB"))  # (300, 300, 3) uint8


def on_canvas(img: np.ndarray, h: int, w: int, top: int, left: int, color=(235, 235, 225)) -> np.ndarray:
    """img pasted at (top, left) on a flat canvas: (h, w, 3) uint8."""
    canvas = np.empty((h, w, 3), np.uint8)
    canvas[:] = color
    canvas[top:top + img.shape[0], left:left + img.shape[1]] = img
    return canvas


def box_center(box):
    x, y, w, h = box
    return x + w / 2, y + h / 2


def test_center_crop_is_the_middle_square():
    img = np.arange(6 * 10).reshape(6, 10)
    crop = faces.center_crop(img)
    assert crop.shape == (6, 6)
    assert (crop == img[:, 2:8]).all()
    assert faces.center_crop(img.T).shape == (6, 6)
    assert (faces.center_crop(img.T) == img.T[2:8]).all()


@needs_haar
def test_photo_face_found_on_grace_hopper():
    img = grace_hopper()
    box = faces.detect_face_photo(img)
    assert box is not None
    x, y, w, h = box
    # The face is in the upper middle of the portrait, about 40 % of its width.
    assert 150 < w < 320 and abs(w - h) <= 2
    cx, cy = box_center(box)
    assert 200 < cx < 320 and 180 < cy < 320


@needs_haar
def test_photo_crop_is_centred_on_the_face_even_off_centre():
    photo = grace_hopper()[::2, ::2]  # (300, 256, 3)
    canvas = on_canvas(photo, 420, 800, 100, 520)  # face far right, near the bottom
    box = faces.detect_face_photo(canvas)
    assert box is not None
    crop, found = faces.crop_face(canvas, "photo", margin=0.4)
    assert found
    side = round(max(box[2], box[3]) * 1.4)
    assert crop.shape == (side, side, 3)
    # The crop is the square centred on the face: the face box's pixels sit in its middle.
    cx, cy = box_center(box)
    left, top = round(cx - side / 2), round(cy - side / 2)
    assert (crop == canvas[top:top + side, left:left + side]).all()
    assert 520 < cx < 800  # and it is the photo's face, not a centre crop of the canvas


@needs_haar
def test_small_face_on_a_thumbnail_is_found_on_an_enlarged_copy():
    """Haar's smallest window is 24 px: a 64-px synthetic photo in a corner of a 128-px thumbnail is missed at the
    thumbnail's size, found by ``detect`` (which looks at photos enlarged to DETECT_SIDE), and its box is mapped
    back into the thumbnail's pixels, inside the pasted photo."""
    photo = render_set("photo", 1, 128, start=3_500_000, cache=False, progress=False)[0][0]  # (128, 128, 3)
    photo = cv2.resize(photo, (64, 64), interpolation=cv2.INTER_AREA)
    thumb = on_canvas(photo, 128, 128, 64, 0, color=(120, 120, 120))
    assert faces.detect_face_photo(thumb) is None
    box = faces.detect(thumb, "photo")
    assert box is not None
    x, y, w, h = box
    assert 0 <= x and 64 <= y and x + w <= 64 and y + h <= 128 and 16 < w < 64


@needs_haar
def test_photo_blank_image_gives_centre_crop():
    blank = np.full((120, 200, 3), 128, np.uint8)
    assert faces.detect_face_photo(blank) is None
    crop, found = faces.crop_face(blank, "photo")
    assert not found
    assert crop.shape == (120, 120, 3)


def test_anime_face_found():
    img = anime_face()
    box = faces.detect_face_anime(img)
    assert box is not None
    cx, cy = box_center(box)
    # Drawn centred horizontally, eyes at y = 165 of 300.
    assert abs(cx - 150) < 30 and 140 < cy < 230
    assert 100 < box[2] < 260


def test_anime_crop_follows_an_off_centre_face():
    face = anime_face()
    canvas = on_canvas(face, 400, 700, 60, 380)  # face on the right; a centre crop would cut it in half
    crop, found = faces.crop_face(canvas, "anime", margin=0.4)
    assert found
    box = faces.detect_face_anime(canvas)
    cx, cy = box_center(box)
    assert 380 + 100 < cx < 380 + 200  # the face is where it was pasted
    assert crop.shape[0] == crop.shape[1] == round(max(box[2], box[3]) * 1.4)
    # The detected face itself, re-detected in the crop, is near its centre.
    again = faces.detect_face_anime(crop)
    assert again is not None
    ccx, ccy = box_center(again)
    assert abs(ccx - crop.shape[1] / 2) < 0.15 * crop.shape[1]
    assert abs(ccy - crop.shape[0] / 2) < 0.15 * crop.shape[0]


def test_anime_blank_image_gives_centre_crop():
    blank = np.full((100, 160, 3), 255, np.uint8)
    crop, found = faces.crop_face(blank, "anime")
    assert not found
    assert crop.shape == (100, 100, 3)


def test_crop_at_the_border_is_padded_by_repeating_edges():
    face = anime_face()
    canvas = on_canvas(face, 300, 300, 0, 0)[20:]  # face touching the top edge: its square leaves the image
    box = faces.detect_face_anime(canvas)
    assert box is not None
    crop, found = faces.crop_face(canvas, "anime", margin=1.0)
    side = round(max(box[2], box[3]) * 2.0)
    assert found and crop.shape == (side, side, 3)
    # Rows above the image repeat its first row.
    top = round(box_center(box)[1] - side / 2)
    assert top < 0
    first_row_in_crop = -top
    for r in range(first_row_in_crop):
        assert (crop[r] == crop[first_row_in_crop]).all()


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="photo, anime"):
        faces.crop_face(np.zeros((10, 10, 3), np.uint8), "cat")


def test_missing_haar_cascade_says_how_to_fix(monkeypatch):
    import cv2

    faces._photo_cascade.cache_clear()
    monkeypatch.setattr(cv2.data, "haarcascades", "/nonexistent/")
    try:
        with pytest.raises(AnimelibError, match="opencv-python-headless<5"):
            faces._photo_cascade()
        assert not faces.photo_detector_available()
    finally:
        faces._photo_cascade.cache_clear()
