"""Face detection and face-centred square crops, for photos (OpenCV Haar cascade) and anime (animeface).

Face crops make the two CycleGAN domains look alike (a face filling the frame on both sides), which is what
the photo -> anime translation needs; images where no face is found fall back to a centre crop.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import PIL
from PIL import Image

from animelib.errors import AnimelibError

KINDS = ("photo", "anime")

# animeface's C library is not known to be thread-safe, nor is sharing one cascade between threads.
ANIME_LOCK = threading.Lock()
_PHOTO_LOCK = threading.Lock()

Box = tuple[int, int, int, int]


# alt2 rather than the default cascade: on synthetic photos pasted into larger scenes it finds more faces and
# fewer patches of skin (benchmarks/RESULTS.md); the eye cascade then confirms a candidate.
HAAR_FILE = "haarcascade_frontalface_alt2.xml"
EYE_FILE = "haarcascade_eye.xml"
MIN_FACE = 1 / 8  # smallest face kept, as a share of the image's shorter side: smaller ones are background faces
CANDIDATES = 3  # largest Haar candidates checked for an eye, largest first
EYE_VIEW = 240  # face width at which the eye cascade looks
# Detection runs on a copy whose longer side is at most this (the box is scaled back): animeface's time grows
# with about the square of the area (139 ms at 256 px, 59 ms at 192 px, 24 ms at 128 px on one core here).
DETECT_SIDE = {"photo": 384, "anime": 192}
# Smaller photos are enlarged to DETECT_SIDE first: the Haar cascade's smallest window is 24 px, so at a 128-px
# thumbnail's own size it missed most small faces (benchmarks/RESULTS.md, "Thumbnails": 30 % of the faces found
# in 128-px scenes at their size, 61 % enlarged, the same false positives).
UPSCALE = {"photo": True, "anime": False}
DETECTOR_VERSION = 3  # bump when a detector's behaviour changes: cached face boxes are then found again


def settings(kind: str) -> dict:
    """What a detector's boxes depend on: part of the key of cached face boxes."""
    common = {"kind": kind, "version": DETECTOR_VERSION, "side": DETECT_SIDE[kind]}
    if kind == "photo":
        return {**common, "cascade": HAAR_FILE, "eyes": EYE_FILE, "min_face": MIN_FACE, "candidates": CANDIDATES,
                "eye_view": EYE_VIEW}
    return common


def _cascade(name: str):
    """One of OpenCV's bundled Haar cascades, or an AnimelibError saying how to get it."""
    path = Path(getattr(getattr(cv2, "data", None), "haarcascades", "")) / name
    if not hasattr(cv2, "CascadeClassifier") or not path.is_file():
        raise AnimelibError(
            f"photo face crops need OpenCV's bundled Haar cascade {name}, which OpenCV "
            f"{cv2.__version__} does not ship; install opencv-python-headless<5 or use crop='center'."
        )
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise AnimelibError(f"cannot load OpenCV's Haar cascade from {path}")
    return cascade


@lru_cache(maxsize=1)
def _photo_cascade():
    """OpenCV's bundled frontal-face Haar cascade, loaded once.

    OpenCV 5 ships neither ``cv2.CascadeClassifier`` (moved to contrib) nor the cascade files, so photo
    face crops need OpenCV 4 (``opencv-python-headless<5``); without it this says so instead of silently
    finding no face anywhere.
    """
    return _cascade(HAAR_FILE)


@lru_cache(maxsize=1)
def _eye_cascade():
    return _cascade(EYE_FILE)


def photo_detector_available() -> bool:
    """Whether OpenCV's Haar cascades for photo faces can be loaded (OpenCV 4 ships them, OpenCV 5 does not)."""
    try:
        _photo_cascade()
        _eye_cascade()
    except AnimelibError:
        return False
    return True


def _largest(boxes) -> Box | None:
    """The box of largest area among (x, y, w, h) boxes, or None."""
    boxes = [tuple(int(v) for v in b) for b in boxes]
    if not boxes:
        return None
    return max(boxes, key=lambda b: b[2] * b[3])


def _has_eye(gray: np.ndarray, box: Box) -> bool:
    """Whether the eye cascade finds an eye in the upper 60 % of a face box (a patch of skin has none).

    The box is looked at 240 pixels wide, so small faces' eyes are not below the cascade's 20-pixel window.
    """
    x, y, w, h = box
    roi = gray[y:y + int(h * 0.6), x:x + w]  # (0.6h, w) uint8
    scale = EYE_VIEW / w
    roi = cv2.resize(roi, (EYE_VIEW, max(1, round(roi.shape[0] * scale))), interpolation=cv2.INTER_LINEAR)
    eyes = _eye_cascade().detectMultiScale(roi, scaleFactor=1.1, minNeighbors=3, minSize=(EYE_VIEW // 10,) * 2,
                                           maxSize=(EYE_VIEW // 2,) * 2)
    return len(eyes) > 0


def detect_face_photo(img: np.ndarray) -> Box | None:
    """The largest plausible frontal face in a photo, as (x, y, w, h), or None.

    Plausible: at least ``MIN_FACE`` of the shorter side, and an eye found inside it; of the ``CANDIDATES``
    largest Haar boxes the largest such one wins. ``img`` is (H, W, 3) uint8 RGB or (H, W) uint8 grayscale.
    """
    img = np.ascontiguousarray(img)
    plain = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img  # (H, W) uint8
    min_size = max(24, int(min(plain.shape[:2]) * MIN_FACE))
    with _PHOTO_LOCK:
        boxes = _photo_cascade().detectMultiScale(cv2.equalizeHist(plain), scaleFactor=1.1, minNeighbors=3,
                                                  minSize=(min_size, min_size))
        ranked = sorted((tuple(int(v) for v in b) for b in boxes), key=lambda b: -b[2] * b[3])
        return next((b for b in ranked[:CANDIDATES] if _has_eye(plain, b)), None)


def check_animeface() -> None:
    """Fail clearly where animeface cannot work: not installed, or Pillow >= 12 (it then finds no face)."""
    try:
        import animeface  # noqa: F401
    except ImportError as e:
        raise AnimelibError(f"anime face crops need the animeface package ({e})") from e
    if int(PIL.__version__.split(".")[0]) >= 12:
        raise AnimelibError(
            f"animeface finds no face with Pillow {PIL.__version__}; install pillow<12 for anime face crops"
        )


def detect_face_anime(img: np.ndarray) -> Box | None:
    """The largest anime face in a drawing, as (x, y, w, h), or None (animeface; needs pillow<12)."""
    import animeface  # optional: a C extension that only anime face crops need

    pil = Image.fromarray(np.ascontiguousarray(img))
    if pil.mode not in ("RGB", "L"):
        pil = pil.convert("RGB")
    with ANIME_LOCK:
        faces = animeface.detect(pil)
    return _largest((f.face.pos.x, f.face.pos.y, f.face.pos.width, f.face.pos.height) for f in faces)


def detect(img: np.ndarray, kind: str) -> Box | None:
    """The face ``kind`` ("photo" or "anime") finds in an (H, W, 3) image, in its pixels, or None.

    The detector sees a copy whose longer side is at most ``DETECT_SIDE[kind]`` (exactly that for photos, which
    ``UPSCALE`` enlarges when smaller), so the box does not depend on the size the image will be cropped to, and
    large images cost no more than small ones.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown face kind {kind!r}; expected one of {', '.join(KINDS)}")
    h, w = img.shape[:2]
    scale = DETECT_SIDE[kind] / max(h, w)
    if not UPSCALE[kind]:
        scale = min(1.0, scale)
    small = img
    if scale != 1.0:
        small = cv2.resize(np.ascontiguousarray(img), (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    box = detect_face_photo(small) if kind == "photo" else detect_face_anime(small)
    if box is None:
        return None
    return tuple(int(round(v / scale)) for v in box)


def center_crop(img: np.ndarray) -> np.ndarray:
    """The largest centred square of an (H, W, ...) image (a view, not a copy)."""
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return img[top:top + side, left:left + side]


def square_around(box: Box, margin: float) -> tuple[int, int, int]:
    """The square (left, top, side) centred on ``box``, its side the box's longer side enlarged by margin."""
    x, y, w, h = box
    side = max(1, int(round(max(w, h) * (1 + margin))))
    cx, cy = x + w / 2, y + h / 2
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def cut_square(img: np.ndarray, left: int, top: int, side: int) -> np.ndarray:
    """img[top:top + side, left:left + side], its border pixels repeated where the square leaves the image."""
    h, w = img.shape[:2]
    pad_l, pad_t = max(0, -left), max(0, -top)
    pad_r, pad_b = max(0, left + side - w), max(0, top + side - h)
    if pad_l or pad_t or pad_r or pad_b:
        img = cv2.copyMakeBorder(np.ascontiguousarray(img), pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REPLICATE)
        left, top = left + pad_l, top + pad_t
    return img[top:top + side, left:left + side]


def largest_square_on(img: np.ndarray, box: Box) -> np.ndarray:
    """The largest square inside the image, as near the centre of ``box`` as the image allows (no zoom)."""
    h, w = img.shape[:2]
    side = min(h, w)
    x, y, bw, bh = box
    left = int(np.clip(round(x + bw / 2 - side / 2), 0, w - side))
    top = int(np.clip(round(y + bh / 2 - side / 2), 0, h - side))
    return img[top:top + side, left:left + side]


def pad_to_square(img: np.ndarray) -> np.ndarray:
    """The whole image in a square, its shorter side extended by repeating the border pixels."""
    h, w = img.shape[:2]
    side = max(h, w)
    return cut_square(img, (w - side) // 2, (h - side) // 2, side)


def crop_face(img: np.ndarray, kind: str, margin: float = 0.4) -> tuple[np.ndarray, bool]:
    """A square crop around the largest face (``kind`` "photo" or "anime"), or a centre crop.

    The face box is enlarged by ``margin`` (0.4: 40 % more, to keep hair and chin); where that square
    leaves the image its border pixels are repeated. Returns the crop and whether a face was found.
    """
    if kind == "photo":
        box = detect_face_photo(img)
    elif kind == "anime":
        box = detect_face_anime(img)
    else:
        raise ValueError(f"unknown face kind {kind!r}; expected one of {', '.join(KINDS)}")
    if box is None:
        return center_crop(img), False
    return cut_square(img, *square_around(box, margin)), True
