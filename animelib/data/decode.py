"""Decoding one image file into a square of the wanted size, and a pool of processes decoding many.

Every file is recognised by its content, whatever its name; a file that cannot be used is given a reason
(:data:`REASONS`) instead of an image. Each image is turned upright, made RGB, framed (cropped to its face, kept
whole or centre-cropped: :data:`TREATMENTS`) and resized. :func:`decode_files` decodes files in order, in this
process or in a pool of spawned worker processes. :class:`FolderImages` is what decoding a folder gives.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import multiprocessing
import re
import struct
import sys
import warnings
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from animelib.data import faces
from animelib.data.scan import IMAGE_SUFFIXES
from animelib.errors import DataError

# What happened to each image, as the summary line says it.
TREATMENTS = {"face": "cropped to the face", "whole": "kept whole", "center": "centre-cropped"}
# crop="auto": a face whose square (box enlarged by the margin) spans at least this share of the image's shorter
# side already fills the image, which is kept whole; a smaller face is cropped to.
FACE_FILLS = 0.6
REASONS = ("corrupt", "truncated", "zero-byte", "not an image", "too large", "duplicate")
# Our own decompression-bomb limit (PIL's default, about 9,459 x 9,459): checked before decoding, so it holds
# whatever PIL.Image.MAX_IMAGE_PIXELS another module set, and that global is never changed here.
MAX_PIXELS = 89_478_485
# Formats tried on each file's content; ones without a magic number (TGA, PCX...) are left out, since they
# would "recognise" random bytes.
FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP", "DIB", "WEBP", "TIFF", "PPM", "ICO", "JPEG2000", "AVIF")
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error,
                 zlib.error)


@dataclass
class FolderImages:
    """The usable images of a folder, square and resized, and what happened to the other files."""

    images: np.ndarray  # (N, size, size, 3) uint8 RGB
    files: list[str]  # paths relative to the folder, one per image, by name (or in a seeded pick's order)
    num_files: int  # regular files found recursively
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> relative paths
    crops: dict[str, int] = field(default_factory=dict)  # treatment (TREATMENTS) -> images
    name: str = ""  # for the summary: the folder's name unless given
    crop: str = "center"  # the crop policy asked for
    detector: str | None = None  # "photo" or "anime" faces, or None
    limited: bool = False  # stopped at max_images before looking at every file
    seed: int | None = None  # files were visited in this seed's order (a seeded pick), else by name
    from_cache: bool = False
    notes: list[str] = field(default_factory=list)  # e.g. why no face detector was used

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_skipped(self) -> int:
        return sum(len(v) for v in self.skipped.values())

    @property
    def faces_found(self) -> int:
        return self.crops.get("face", 0)

    @property
    def center_crops(self) -> int:
        return self.crops.get("center", 0)

    def summary(self) -> str:
        """One line saying what was loaded, how it was cropped and what was skipped, to print once."""
        head = f"{self.name}: {len(self.images):,} images from {self.num_files:,} files"
        if self.limited:
            head += f" (a pick by seed {self.seed})" if self.seed is not None else " (stopped at max_images)"
        parts = [head]
        if self.num_skipped:
            n = self.num_skipped
            parts.append(f"skipped {n:,} of {self.num_files:,} files: {describe_skipped(self.skipped)}")
        if self.detector or self.crop in ("face", "none"):
            faces = f", {self.detector} faces" if self.detector else ""
            done = ", ".join(f"{self.crops[t]:,} {what}" for t, what in TREATMENTS.items() if self.crops.get(t))
            parts.append(f"crop {self.crop}{faces}: {done}")
        return "; ".join(parts + self.notes)


def describe_skipped(skipped: dict[str, list[str]]) -> str:
    """'2 corrupt, 1 zero-byte' in the fixed order of REASONS."""
    out = []
    for reason in REASONS:
        n = len(skipped.get(reason, ()))
        if n:
            out.append(f"{n:,} {reason}{'s' if reason == 'duplicate' and n > 1 else ''}")
    return ", ".join(out)


class Job(NamedTuple):
    """What to do with each file of a folder; sent to the worker processes."""

    size: int  # output side in pixels
    framing: str  # "face", "auto" (face unless it fills the image), "whole", "center", "none"
    detector: str | None  # "photo", "anime" or None
    margin: float  # a face box is enlarged by this share before the square is cut
    dedupe: bool  # hash each file's bytes


# A file's face, as cached: (width, height) of the upright image at full size, then (x, y, w, h) of the face in
# its pixels when one was found. None where the detector has not looked yet.
Face = tuple[int, ...]


class _Decoded(NamedTuple):
    image: np.ndarray | None  # (size, size, 3) uint8, or None when skipped
    reason: str | None  # why it was skipped
    treatment: str | None  # a key of TREATMENTS
    digest: str | None  # sha1 of the file's bytes, when deduplicating
    face: Face | None  # what the detector found, when it looked


def _looks_like_text(data: bytes) -> bool:
    """Whether the start of a file reads as text (no NUL, almost no control bytes)."""
    head = data[:4096]
    if b"\0" in head:
        return False
    controls = sum(1 for b in head if b < 32 and b not in b"\t\n\r\f\b\x1b")
    return controls <= len(head) // 100


def _to_uint8_gray(a: np.ndarray, mode: str) -> np.ndarray:
    """A 16-bit, 32-bit or float grayscale array scaled to 0..255 (not clipped): (H, W) uint8."""
    if mode.startswith("I;16"):
        scale = 65535.0
    elif mode == "F" and a.size and float(np.nanmax(a)) <= 1.0:
        scale = 1.0
    else:  # "I" (PIL's 32-bit ints; 16-bit files open as such in some versions) or "F" in 0..255+
        top = float(np.nanmax(a)) if a.size else 0.0
        scale = 255.0 if top <= 255 else 65535.0 if top <= 65535 else top
    return np.clip(np.rint(np.nan_to_num(a.astype(np.float64)) * (255.0 / scale)), 0, 255).astype(np.uint8)


def _orientation(im) -> int:
    """The EXIF orientation (1 = upright; 5 to 8 are turned by 90 degrees), 1 when unreadable."""
    try:
        value = im.getexif().get(0x0112, 1)
    except DECODE_ERRORS:
        return 1  # a broken EXIF block: keep the pixels as stored
    return value if value in range(1, 9) else 1


def to_rgb(im) -> np.ndarray:
    """A PIL image of any mode as (H, W, 3) uint8 RGB, upright; transparency is composited on white."""
    if _orientation(im) != 1:  # phone photos are often stored sideways
        with contextlib.suppress(*DECODE_ERRORS):
            im = ImageOps.exif_transpose(im)
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        gray = _to_uint8_gray(np.asarray(im), mode)  # (H, W) uint8
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa") or (mode in ("L", "RGB") and "transparency" in im.info):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    if im.mode != "RGB":
        im = im.convert("RGB")  # L, 1, CMYK, YCbCr, RGBA, ...
    return np.asarray(im)


_FORMATS: tuple[str, ...] | None = None


def image_formats() -> tuple[str, ...]:
    """FORMATS that this Pillow build can open."""
    global _FORMATS
    if _FORMATS is None:
        Image.init()
        _FORMATS = tuple(f for f in FORMATS if f in Image.OPEN)
    return _FORMATS


def _decode(data: bytes, suffix: str, target: int) -> tuple[np.ndarray | None, tuple[int, int], str | None]:
    """One file's bytes -> (H, W, 3) uint8 RGB at no less than ``target`` pixels where the file has them, the
    upright full size (width, height), and the reason the file cannot be used (None when it can)."""
    if not data:
        return None, (0, 0), "zero-byte"
    try:
        im = Image.open(io.BytesIO(data), formats=image_formats())
    except Image.DecompressionBombError:
        return None, (0, 0), "too large"
    except UnidentifiedImageError:
        corrupt = suffix in IMAGE_SUFFIXES and not _looks_like_text(data)
        return None, (0, 0), "corrupt" if corrupt else "not an image"
    except DECODE_ERRORS:
        return None, (0, 0), "corrupt"
    try:
        w, h = im.size
        if w * h > MAX_PIXELS:
            return None, (0, 0), "too large"
        if w < 1 or h < 1:
            return None, (0, 0), "corrupt"
        full = (h, w) if _orientation(im) >= 5 else (w, h)
        # JPEGs can be decoded at 1/2, 1/4 or 1/8 scale for free: ask for no less than the target.
        if im.format in ("JPEG", "MPO") and min(w, h) > 2 * target:
            im.draft(None, (target, target))
        im.load()  # decode everything now, so that truncation shows here
        rgb = to_rgb(im)  # (H, W, 3) uint8
    except Image.DecompressionBombError:
        return None, (0, 0), "too large"
    except DECODE_ERRORS as e:
        return None, (0, 0), "truncated" if "truncat" in str(e).lower() else "corrupt"
    finally:
        im.close()
    return rgb, full, None


def _find_face(rgb: np.ndarray, full: tuple[int, int], detector: str) -> Face:
    """(width, height[, x, y, w, h]): the face ``detector`` finds, in the full-size image's pixels."""
    try:
        box = faces.detect(rgb, detector)
    except cv2.error:  # a detector choking on an odd image: no face
        box = None
    if box is None:
        return full
    scale = full[0] / rgb.shape[1]
    return (*full, *(int(round(v * scale)) for v in box))


def _frame(rgb: np.ndarray, face: Face | None, job: Job) -> tuple[np.ndarray, str]:
    """The square to keep (a view or a padded copy) and its treatment, from the policy and the face."""
    if job.framing == "none":
        return faces.pad_to_square(rgb), "whole"
    if job.framing == "whole":
        return faces.center_crop(rgb), "whole"
    if job.framing == "center" or not face or len(face) < 6:
        return faces.center_crop(rgb), "center"
    scale = rgb.shape[1] / face[0]
    box = tuple(int(round(v * scale)) for v in face[2:])
    left, top, side = faces.square_around(box, job.margin)
    if job.framing == "auto" and side >= FACE_FILLS * min(rgb.shape[:2]):
        return faces.largest_square_on(rgb, box), "whole"
    return faces.cut_square(rgb, left, top, side), "face"


def needs_face(job: Job) -> bool:
    return job.detector is not None and job.framing in ("face", "auto")


def _load_file(path: Path, job: Job, face: Face | None) -> _Decoded:
    """Read one file, decode it, find its face unless known, and cut and resize its square."""
    try:
        data = path.read_bytes()
    except OSError:
        return _Decoded(None, "corrupt", None, None, None)  # unreadable (permissions, I/O error)
    rgb, full, reason = _decode(data, path.suffix.lower(), max(4 * job.size, 512))
    if reason is not None:
        return _Decoded(None, reason, None, None, None)
    if face is None and needs_face(job):
        face = _find_face(rgb, full, job.detector)
    square, treatment = _frame(rgb, face, job)
    side = square.shape[0]
    if side != job.size:
        interp = cv2.INTER_AREA if side > job.size else cv2.INTER_CUBIC
        square = cv2.resize(np.ascontiguousarray(square), (job.size, job.size), interpolation=interp)
    digest = hashlib.sha1(data).hexdigest() if job.dedupe else None
    return _Decoded(np.ascontiguousarray(square, dtype=np.uint8), None, treatment, digest, face)


def _work(folder: str, job: Job, items: list[tuple[str, Face | None]]) -> list[_Decoded]:
    """Decode a chunk of files, in a worker process or in this one (the same code either way)."""
    with warnings.catch_warnings():
        # PIL warns for images between its limit and twice it (counted as "too large" here) and for odd files:
        # nothing is printed per file.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", module=r"PIL\.")
        return [_load_file(Path(folder, rel), job, face) for rel, face in items]


def _init_worker() -> None:
    """One thread per worker process: the pool already uses every core."""
    cv2.setNumThreads(1)


def _can_spawn() -> bool:
    """Whether worker processes can start here: a spawned worker imports the main module again, which only a
    module whose code sits under ``if __name__ == "__main__":`` survives (``python -m``, Jupyter and pytest do).
    A plain script without that guard gets one core instead of running its own code again in every worker."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if getattr(main, "__spec__", None) is not None or not path:
        return True
    try:
        source = Path(path).read_text(errors="replace")
    except OSError:
        return False
    return re.search(r"""if\s+__name__\s*==\s*['"]__main__['"]""", source) is not None


def decode_files(folder: Path, items: list[tuple[str, Face | None]], job: Job, workers: int,
             needed=None) -> Iterator[_Decoded]:
    """Each item decoded, in order. A pool of ``workers`` processes keeps a few chunks ahead of the reader but
    never more files in flight than ``needed()`` (how many more results the reader wants), so a pick of N
    images decodes about N files, not the folder."""
    needed = needed or (lambda: len(items))
    if workers <= 1 or not _can_spawn():
        for rel, face in items:
            yield _work(str(folder), job, [(rel, face)])[0]
        return
    chunk = max(1, min(32, min(len(items), needed()) // (8 * workers)))
    # spawn: a clean child, whatever threads (torch, OpenMP) this process runs (a forked child can hang in
    # OpenCV); only numpy, PIL, OpenCV and animeface are imported there.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker)
    pending, pos, ahead = deque(), 0, 0  # futures; items submitted; submitted but not yet read
    try:
        while True:
            while pos < len(items) and len(pending) < 3 * workers and ahead < needed():
                part = items[pos:pos + chunk]
                pending.append(pool.submit(_work, str(folder), job, part))
                pos, ahead = pos + len(part), ahead + len(part)
            if not pending:
                return
            for result in pending.popleft().result():
                ahead -= 1
                yield result
    except BrokenProcessPool as e:
        raise DataError(f"a decoding process of {folder} died ({e}); out of memory? Try workers=1") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
