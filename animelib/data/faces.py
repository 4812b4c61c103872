"""Face detection and face-centred square crops, for photos (OpenCV Haar cascade) and anime (animeface).

Face crops make the two CycleGAN domains look alike (a face filling the frame on both sides), which is what
the photo -> anime translation needs; images where no face is found fall back to a centre crop.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from animelib.errors import AnimelibError

KINDS = ("photo", "anime")

# animeface's C library is not known to be thread-safe, nor is sharing one cascade between threads.
_ANIME_LOCK = threading.Lock()
_PHOTO_LOCK = threading.Lock()

Box = tuple[int, int, int, int]


HAAR_FILE = "haarcascade_frontalface_default.xml"


@lru_cache(maxsize=1)
def _photo_cascade():
    """OpenCV's bundled frontal-face Haar cascade, loaded once.

    OpenCV 5 ships neither ``cv2.CascadeClassifier`` (moved to contrib) nor the cascade files, so photo
    face crops need OpenCV 4 (``opencv-python-headless<5``); without it this says so instead of silently
    finding no face anywhere.
    """
    import cv2

    path = Path(getattr(getattr(cv2, "data", None), "haarcascades", "")) / HAAR_FILE
    if not hasattr(cv2, "CascadeClassifier") or not path.is_file():
        raise AnimelibError(
            f"photo face crops need OpenCV's bundled Haar cascade {HAAR_FILE}, which OpenCV "
            f"{cv2.__version__} does not ship; install opencv-python-headless<5 or use crop='center'."
        )
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise AnimelibError(f"cannot load OpenCV's Haar cascade from {path}")
    return cascade


def photo_detector_available() -> bool:
    """Whether OpenCV's Haar cascade for photo faces can be loaded (OpenCV 4 ships it, OpenCV 5 does not)."""
    try:
        _photo_cascade()
    except AnimelibError:
        return False
    return True


def _largest(boxes) -> Box | None:
    """The box of largest area among (x, y, w, h) boxes, or None."""
    boxes = [tuple(int(v) for v in b) for b in boxes]
    if not boxes:
        return None
    return max(boxes, key=lambda b: b[2] * b[3])


def detect_face_photo(img: np.ndarray) -> Box | None:
    """The largest frontal face in a photo, as (x, y, w, h), or None.

    ``img`` is (H, W, 3) uint8 RGB or (H, W) uint8 grayscale.
    """
    import cv2

    img = np.ascontiguousarray(img)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img  # (H, W) uint8
    gray = cv2.equalizeHist(gray)
    side = min(gray.shape[:2])
    min_size = max(24, side // 8)  # ignore tiny faces in the background
    with _PHOTO_LOCK:
        boxes = _photo_cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                                  minSize=(min_size, min_size))
    return _largest(boxes)


def _check_animeface() -> None:
    """Fail clearly where animeface cannot work: not installed, or Pillow >= 12 (it then finds no face)."""
    import PIL

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
    import animeface
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(img))
    if pil.mode not in ("RGB", "L"):
        pil = pil.convert("RGB")
    with _ANIME_LOCK:
        faces = animeface.detect(pil)
    return _largest((f.face.pos.x, f.face.pos.y, f.face.pos.width, f.face.pos.height) for f in faces)


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


def crop_face(img: np.ndarray, kind: str, margin: float = 0.4) -> tuple[np.ndarray, bool]:
    """A square crop around the largest face (``kind`` "photo" or "anime"), or a centre crop.

    The face box is enlarged by ``margin`` (0.4: 40 % more, to keep hair and chin); where that square
    leaves the image its border pixels are repeated. Returns the crop and whether a face was found.
    """
    import cv2

    if kind == "photo":
        box = detect_face_photo(img)
    elif kind == "anime":
        box = detect_face_anime(img)
    else:
        raise ValueError(f"unknown face kind {kind!r}; expected one of {', '.join(KINDS)}")
    if box is None:
        return center_crop(img), False
    h, w = img.shape[:2]
    left, top, side = square_around(box, margin)
    # Pad only as much as the square leaves the image, then cut it out.
    pad_l, pad_t = max(0, -left), max(0, -top)
    pad_r, pad_b = max(0, left + side - w), max(0, top + side - h)
    if pad_l or pad_t or pad_r or pad_b:
        img = cv2.copyMakeBorder(np.ascontiguousarray(img), pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REPLICATE)
        left, top = left + pad_l, top + pad_t
    return img[top:top + side, left:left + side], True
