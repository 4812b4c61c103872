"""Load a user's image folder into one uint8 array, robustly and in parallel, and cache what took time.

Users bring folders of whatever they collected: nested sub-folders, mixed formats, wrong extensions,
grayscale or transparent images, broken downloads. Every file is recognised by its content; files that
cannot be used are skipped and counted by reason, and the caller prints one summary line instead of a
warning per file.

Two caches live under ``cache_dir("folders")``: the face boxes of each file (found once, by one detector's
settings, whatever size the images are later cropped to) and the decoded array of each folder, size and crop
(reused until a file changes). Decoding runs in a process pool over all cores; a caller that needs N images
gets about N files decoded, picked by a seed, not the whole folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import multiprocessing
import os
import re
import stat
import struct
import sys
import warnings
import zlib
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm

from animelib.config import CROPS
from animelib.data import faces
from animelib.errors import AnimelibError, ConfigError, DataError
from animelib.paths import cache_dir

try:
    import fcntl
except ImportError:  # Windows: no file locks; temporary files and renames still keep every cache file whole
    fcntl = None

CACHE_VERSION = 2
DETECTORS = ("photo", "anime")
# What happened to each image, as the summary line says it.
TREATMENTS = {"face": "cropped to the face", "whole": "kept whole", "center": "centre-cropped"}
# crop="auto": a face whose square (box enlarged by the margin) spans at least this share of the image's shorter
# side already fills the image, which is kept whole; a smaller face is cropped to.
FACE_FILLS = 0.6
PROBE = 64  # files sampled (evenly, by name) to tell whether a folder holds face crops already
FOLDER_OF_CROPS = 0.9  # ...which it does when this share of the faces found there fill their images
REASONS = ("corrupt", "truncated", "zero-byte", "not an image", "too large", "duplicate")
# Our own decompression-bomb limit (PIL's default, about 9,459 x 9,459): checked before decoding, so it holds
# whatever PIL.Image.MAX_IMAGE_PIXELS another module set, and that global is never changed here.
MAX_PIXELS = 89_478_485
# Formats tried on each file's content; ones without a magic number (TGA, PCX...) are left out, since they
# would "recognise" random bytes.
FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP", "DIB", "WEBP", "TIFF", "PPM", "ICO", "JPEG2000", "AVIF")
# A file that no format recognises is "corrupt" when binary and named like an image, else "not an image".
IMAGE_SUFFIXES = frozenset(
    ".jpg .jpeg .jpe .jfif .png .apng .gif .bmp .dib .webp .tif .tiff .ppm .pgm .pbm .pnm .ico .jp2 .j2k"
    " .avif .heic .heif".split()
)
# What each of the project's folders should hold, for error messages.
EXPECTED = {"thumbs": "photos of faces", "faces": "anime faces", "anime": "anime faces"}
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error,
                 zlib.error)
# Below this much work a process pool costs more to start (about a second) than it saves.
MIN_PARALLEL = {"decode": 1000, "detect": 32}


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
            parts.append(f"skipped {n:,} of {self.num_files:,} files: {_reasons(self.skipped)}")
        if self.detector or self.crop in ("face", "none"):
            faces = f", {self.detector} faces" if self.detector else ""
            done = ", ".join(f"{self.crops[t]:,} {what}" for t, what in TREATMENTS.items() if self.crops.get(t))
            parts.append(f"crop {self.crop}{faces}: {done}")
        return "; ".join(parts + self.notes)


def _reasons(skipped: dict[str, list[str]]) -> str:
    """'2 corrupt, 1 zero-byte' in the fixed order of REASONS."""
    out = []
    for reason in REASONS:
        n = len(skipped.get(reason, ()))
        if n:
            out.append(f"{n:,} {reason}{'s' if reason == 'duplicate' and n > 1 else ''}")
    return ", ".join(out)


class _Job(NamedTuple):
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


def _frame(rgb: np.ndarray, face: Face | None, job: _Job) -> tuple[np.ndarray, str]:
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


def _needs_face(job: _Job) -> bool:
    return job.detector is not None and job.framing in ("face", "auto")


def _load_file(path: Path, job: _Job, face: Face | None) -> _Decoded:
    """Read one file, decode it, find its face unless known, and cut and resize its square."""
    try:
        data = path.read_bytes()
    except OSError:
        return _Decoded(None, "corrupt", None, None, None)  # unreadable (permissions, I/O error)
    rgb, full, reason = _decode(data, path.suffix.lower(), max(4 * job.size, 512))
    if reason is not None:
        return _Decoded(None, reason, None, None, None)
    if face is None and _needs_face(job):
        face = _find_face(rgb, full, job.detector)
    square, treatment = _frame(rgb, face, job)
    side = square.shape[0]
    if side != job.size:
        interp = cv2.INTER_AREA if side > job.size else cv2.INTER_CUBIC
        square = cv2.resize(np.ascontiguousarray(square), (job.size, job.size), interpolation=interp)
    digest = hashlib.sha1(data).hexdigest() if job.dedupe else None
    return _Decoded(np.ascontiguousarray(square, dtype=np.uint8), None, treatment, digest, face)


def _work(folder: str, job: _Job, items: list[tuple[str, Face | None]]) -> list[_Decoded]:
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


def _results(folder: Path, items: list[tuple[str, Face | None]], job: _Job, workers: int,
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


def _scan(folder: Path) -> list[tuple[str, int, int]]:
    """Regular files under folder, recursively: sorted (relative posix path, size, mtime in ns)."""
    entries = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in names:
            path = Path(root, name)
            try:
                st = path.stat()
            except OSError:  # a broken link
                continue
            if stat.S_ISREG(st.st_mode):
                entries.append((path.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns))
    entries.sort()
    return entries


def count_images(folder) -> int:
    """Files under ``folder`` named like images (recursively), without opening any: Table 1's count."""
    return sum(Path(rel).suffix.lower() in IMAGE_SUFFIXES for rel, _, _ in _scan(Path(folder).expanduser()))


def seeded_order(entries: list, seed: int) -> list:
    """Entries in an order fixed by ``seed`` and each file's name: adding a file leaves the others' order."""
    key = lambda e: hashlib.blake2b(f"{seed}/{e[0]}".encode(), digest_size=8).digest()
    return sorted(entries, key=key)


def _hint(name: str) -> str:
    what = EXPECTED.get(name, "images")
    return f"Put {what} there or leave --data-dir unset to use the embedded synthetic avatars."


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:40] or "folder"


def _check_crop(crop: str, detector: str | None) -> tuple[str | None, str | None]:
    """The detector to use and, when it cannot work here, a note on why there are no face crops."""
    if crop not in CROPS:
        raise ConfigError(f"crop={crop!r} is not accepted; use one of: {', '.join(CROPS)}")
    if detector is not None and detector not in DETECTORS:
        raise ConfigError(f"detector={detector!r} is not accepted; use one of: {', '.join(DETECTORS)}, or None")
    if detector is None or crop in ("center", "none"):
        return None, None
    try:
        if detector == "photo":
            faces._photo_cascade()
            faces._eye_cascade()
        else:
            faces.check_animeface()
    except AnimelibError as e:
        return None, f"no {detector} face detector, so centre crops only: {e}"
    return detector, None


def _workers(workers: int | None) -> int:
    """Worker processes: all the cores this process may use, unless told."""
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers={workers!r} is not accepted; use a positive number or None (all cores)")
        return workers
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@contextlib.contextmanager
def _locked(name: str, what: str, progress: bool):
    """An exclusive lock (``fcntl.flock``) on ``name`` in the cache: one process at a time decodes or writes an
    entry, and the others wait, then read what it wrote. The OS drops the lock if that process dies."""
    if fcntl is None:
        yield
        return
    path = cache_dir("folders", "locks") / f"{name}.lock"
    with open(path, "a+b") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                print(f"[animelib] waiting for another process decoding {what}", file=sys.stderr, flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_atomic(path: Path, write) -> None:
    """``write(file)`` into a temporary file beside ``path``, then rename it over ``path``: readers see the old
    file or the new one, never a part."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --- face boxes: one file per folder and detector, each file's entry valid while its size and time are --------
def _faces_path(folder: Path, name: str, detector: str) -> Path:
    key = json.dumps({"folder": str(folder.resolve()), "detector": faces.settings(detector)}, sort_keys=True)
    return cache_dir("folders") / f"{_slug(name)}-faces-{hashlib.sha1(key.encode()).hexdigest()[:12]}.json"


def _read_faces(path: Path) -> dict[str, list]:
    """rel -> [size, mtime_ns, *face] as stored; empty when missing or unreadable."""
    try:
        stored = json.loads(path.read_text())
        return stored if isinstance(stored, dict) else {}
    except (OSError, ValueError):
        return {}


def _known_faces(path: Path, entries) -> dict[str, Face]:
    """The cached faces of the files that did not change since."""
    stored = _read_faces(path)
    known = {}
    for rel, size, mtime in entries:
        got = stored.get(rel)
        if isinstance(got, list) and len(got) in (4, 8) and got[:2] == [size, mtime]:
            known[rel] = tuple(int(v) for v in got[2:])
    return known


def _save_faces(path: Path, found: dict[str, tuple[int, int, Face]]) -> None:
    """Merge newly found faces into the folder's file, under a lock (another size may be decoding too)."""
    if not found:
        return
    try:
        with _locked(path.stem, path.stem, progress=False):
            stored = _read_faces(path)
            stored.update({rel: [size, mtime, *face] for rel, (size, mtime, face) in found.items()})
            _write_atomic(path, lambda f: f.write(json.dumps(stored, separators=(",", ":")).encode()))
    except OSError as e:  # a full or read-only disk: the faces are found again next time
        warnings.warn(f"could not cache face boxes in {path.parent}: {e}", stacklevel=3)


# --- the folder ----------------------------------------------------------------------------------------------
def load_folder(folder, size: int, crop: str = "auto", detector: str | None = None, dedupe: bool = False,
                cache: bool = True, max_images: int | None = None, seed: int | None = None, progress: bool = True,
                name: str | None = None, margin: float = 0.4, workers: int | None = None) -> FolderImages:
    """Usable images under ``folder`` (recursively), square-cropped and resized to size x size.

    ``crop``: "auto" (crop to the face where it is clearly smaller than the image, keep images that already
    are face crops whole; a folder whose sampled faces fill their images is kept whole throughout), "face"
    (always crop to the face, enlarged by ``margin``), "center" (the centred square) or "none" (the whole
    image, its shorter side padded). ``detector``: "photo" (OpenCV's Haar cascades) or "anime" (animeface)
    faces, or None (no face crops). Without a face, the centred square. ``dedupe`` drops files whose bytes
    repeat an earlier file. ``max_images`` stops after N usable images: the first N by name, or with ``seed``
    a pick fixed by the seed and the file names. ``workers``: processes (None: every core). The result is
    cached on disk and reused while no file is added, removed or touched; face boxes are cached per file and
    reused for every size. Raises DataError when the folder is missing or holds no usable image.
    """
    folder = Path(folder).expanduser()
    name = name or folder.name or str(folder)
    _check_args(size, max_images, seed, margin)
    workers = _workers(workers)
    detector_used, note = _check_crop(crop, detector)
    if not folder.exists():
        raise DataError(f"image folder {folder} does not exist. {_hint(name)}")
    if not folder.is_dir():
        raise DataError(f"{folder} is a file, not a folder of images. {_hint(name)}")
    entries = _scan(folder)
    order = entries if seed is None else seeded_order(entries, seed)
    framing = crop if detector_used or crop in ("center", "none") else "center"
    job = _Job(int(size), framing, detector_used, float(margin), dedupe)
    with _cached(folder, name, job, entries, max_images, seed, cache, progress) as entry:
        result = entry.read()
        if result is None:
            result = _decode_folder(folder, name, order, job, max_images, progress, workers, cache)
            entry.write(result)
    result.name, result.crop, result.detector, result.seed = name, crop, detector_used, seed
    result.notes = [n for n in (note, *result.notes) if n]
    if not len(result.images):
        if not entries:
            raise DataError(f"no images found in {folder} (searched recursively, no files). {_hint(name)}")
        raise DataError(
            f"no images found in {folder} (searched recursively, {len(entries):,} file{'s' * (len(entries) != 1)}, "
            f"all unusable: {_reasons(result.skipped)}). {_hint(name)}"
        )
    return result


def _check_args(size, max_images, seed, margin) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ConfigError(f"size={size!r} is not accepted; use a positive number of pixels, e.g. 64")
    if max_images is not None and (isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1):
        raise ConfigError(f"max_images={max_images!r} is not accepted; use a positive number or None")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError(f"seed={seed!r} is not accepted; use an integer or None (files in name order)")
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or margin < 0:
        raise ConfigError(f"margin={margin!r} is not accepted; use a share of the face box, e.g. 0.4")


def _decode_folder(folder: Path, name: str, order, job: _Job, max_images: int | None, progress: bool,
                   workers: int, cache: bool) -> FolderImages:
    """Decode the files in ``order`` (faces found where not cached), after settling crop="auto"'s framing."""
    faces_path = _faces_path(folder, name, job.detector) if cache and _needs_face(job) else None
    known = _known_faces(faces_path, order) if faces_path else {}
    found: dict[str, tuple[int, int, Face]] = {}  # newly found faces, to cache
    note = None
    if job.framing == "auto" and job.detector:
        job, note = _auto_framing(folder, name, order, job, known, found, workers, progress)
    try:
        result = _decode_all(folder, name, order, job, known, found, max_images, progress, workers)
    finally:
        if faces_path is not None:
            _save_faces(faces_path, found)
    result.notes = [note] if note else []
    return result


def _auto_framing(folder: Path, name: str, order, job: _Job, known: dict, found: dict, workers: int,
                  progress: bool) -> tuple[_Job, str | None]:
    """crop="auto": find the faces of up to PROBE files spread over the folder; where nearly all of them fill
    their images, the folder holds face crops already, and all of it is kept whole: one framing, whatever a
    detector makes of a few images, and no more detection. Otherwise each image is framed by its own face."""
    by_name = sorted(order)
    probe = by_name[::max(1, len(by_name) // PROBE)][:PROBE]
    todo = [e for e in probe if e[0] not in known]
    if todo:
        look = job._replace(size=8, framing="face")
        n = workers if len(todo) >= MIN_PARALLEL["detect"] else 1
        results = _results(folder, [(rel, None) for rel, _, _ in todo], look, n)
        bar = _bar(len(todo), f"looking for faces in {name} (a sample)", "file", progress)
        for (rel, size, mtime), res in zip(todo, results, strict=True):
            bar.update()
            if res.face is not None:
                known[rel] = res.face
                found[rel] = (size, mtime, res.face)
        bar.close()
    fills = [max(f[4], f[5]) * (1 + job.margin) / min(f[0], f[1]) >= FACE_FILLS
             for f in (known.get(rel) for rel, _, _ in probe) if f and len(f) == 6]
    if len(fills) < max(3, len(probe) // 10) or sum(fills) < FOLDER_OF_CROPS * len(fills):
        return job, None
    return job._replace(framing="whole"), (
        f"a folder of face crops ({sum(fills)} of the {len(fills)} faces found in {len(probe)} sampled files fill "
        "their images): all kept whole")


def _bar(total: int, desc: str, unit: str, progress: bool):
    """A tqdm progress bar (count, rate, time left); a text one in terminals and the runner's log."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not progress, leave=False, smoothing=0.1)


def _decode_all(folder: Path, name: str, order, job: _Job, known: dict, found: dict, max_images: int | None,
                progress: bool, workers: int) -> FolderImages:
    """Decode files in ``order``, keeping the first ``max_images`` usable ones; face boxes go to ``found``."""
    capacity = len(order) if max_images is None else min(len(order), max_images)
    detecting = _needs_face(job) and any(rel not in known for rel, _, _ in order[:capacity])
    n = workers if capacity >= MIN_PARALLEL["detect" if detecting else "decode"] else 1
    buf = np.empty((capacity, job.size, job.size, 3), np.uint8)  # filled in order; skipped files leave the tail
    files, skipped, crops, seen = [], {}, Counter(), set()
    limited = False
    wanted = (lambda: capacity - len(files)) if max_images is not None else None
    results = _results(folder, [(rel, known.get(rel)) for rel, _, _ in order], job, n, wanted)
    bar = _bar(capacity if max_images else len(order), f"decoding {name}", "image" if max_images else "file",
               progress)
    try:
        for visited, ((rel, size, mtime), res) in enumerate(zip(order, results, strict=False), 1):
            if res.face is not None and rel not in known:
                found[rel] = (size, mtime, res.face)
            reason = res.reason
            if reason is None and res.digest is not None:
                if res.digest in seen:
                    reason = "duplicate"
                seen.add(res.digest)
            bar.update(0 if max_images and reason else 1)
            if reason is not None:
                skipped.setdefault(reason, []).append(rel)
                continue
            buf[len(files)] = res.image
            files.append(rel)
            crops[res.treatment] += 1
            if max_images is not None and len(files) >= max_images:
                limited = visited < len(order)
                break
    finally:
        results.close()
        bar.close()
    images = buf[:len(files)]  # (N, size, size, 3) uint8, in the order visited (a seeded pick is not re-sorted:
    # that would copy the whole array once more)
    return FolderImages(images, files, len(order), {k: sorted(v) for k, v in skipped.items()}, dict(crops),
                        crop=job.framing, limited=limited)


# --- the decoded cache: one entry per folder and settings, valid while no file changed -----------------------
class _CacheEntry:
    """Where a folder's decode is cached (``None``: not cached), and how to read and write it."""

    def __init__(self, npy_path: Path | None, key: str, size: int, prefix: str):
        self.npy_path, self.key, self.size, self.prefix = npy_path, key, size, prefix
        self.damaged = False

    def read(self) -> FolderImages | None:
        """The cached decode, or None when absent, stale or damaged (a damaged one is noted and rebuilt)."""
        if self.npy_path is None:
            return None
        meta_path = self.npy_path.with_suffix(".json")
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("key") != self.key:
                return None
            if self.npy_path.stat().st_size != meta["npy_bytes"]:
                raise ValueError("size differs")  # truncated, or written over by something else
            images = np.load(self.npy_path, allow_pickle=False)  # (N, size, size, 3) uint8
            if images.dtype != np.uint8 or images.shape != (len(meta["files"]), self.size, self.size, 3):
                raise ValueError("shape differs")
            return FolderImages(images, list(meta["files"]), int(meta["num_files"]),
                                {k: list(v) for k, v in meta["skipped"].items()}, dict(meta["crops"]),
                                limited=bool(meta["limited"]), from_cache=True, notes=list(meta["notes"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            self.damaged = True
            return None

    def write(self, result: FolderImages) -> None:
        """Store the decode (temporary files renamed into place, the JSON last); drop this folder's stale entries."""
        if self.npy_path is None or not len(result.images):
            return
        written = []  # the .npy's size, which a later read checks first (a truncated file differs)
        save = lambda f: (np.save(f, result.images), written.append(f.tell()))
        try:
            _write_atomic(self.npy_path, save)
            meta = {"key": self.key, "files": result.files, "num_files": result.num_files,
                    "skipped": result.skipped, "crops": result.crops, "limited": result.limited,
                    "notes": result.notes, "npy_bytes": written[0]}
            _write_atomic(self.npy_path.with_suffix(".json"), lambda f: f.write(json.dumps(meta).encode()))
            for old in self.npy_path.parent.glob(f"{self.prefix}*"):  # prefix: [A-Za-z0-9_.-] only
                if old.stem != self.npy_path.stem and not old.name.endswith(".tmp"):
                    old.unlink(missing_ok=True)
        except OSError as e:  # a full or read-only disk: the data is fine, only the cache is lost
            warnings.warn(f"could not cache decoded images in {self.npy_path.parent}: {e}", stacklevel=3)
        if self.damaged:
            result.notes.append(f"the cached decode {self.npy_path.name} was damaged (truncated?): decoded again")


@contextlib.contextmanager
def _cached(folder: Path, name: str, job: _Job, entries, max_images: int | None, seed: int | None, cache: bool,
            progress: bool):
    """The cache entry of this folder and these settings, locked: a second process decoding the same folder
    waits for the first and reads what it wrote."""
    settings = {"version": CACHE_VERSION, "folder": str(folder.resolve()), **job._asdict(),
                "faces": faces.settings(job.detector) if job.detector else None, "max_images": max_images,
                "seed": seed}
    key = hashlib.sha1(json.dumps({**settings, "files": entries}).encode()).hexdigest()
    # One entry per folder and settings: a newer file list replaces the entry, other sizes or crops stay.
    prefix = f"{_slug(name)}-{job.size}-{hashlib.sha1(json.dumps(settings).encode()).hexdigest()[:10]}-"
    if not cache:
        yield _CacheEntry(None, key, job.size, prefix)
        return
    with _locked(prefix.rstrip("-"), name, progress):
        yield _CacheEntry(cache_dir("folders") / f"{prefix}{key[:20]}.npy", key, job.size, prefix)
