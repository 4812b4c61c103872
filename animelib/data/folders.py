"""Load a user's image folder into one uint8 array, robustly, and cache the decoded result on disk.

Users bring folders of whatever they collected: nested sub-folders, mixed formats, wrong extensions,
grayscale or transparent images, broken downloads. Every file is recognised by its content; files that
cannot be used are skipped and counted by reason, and the caller prints one summary line instead of a
warning per file. Decoding thousands of images takes a while, so the result is kept under
``cache_dir("folders")`` and reused until a file changes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import struct
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from animelib.errors import AnimelibError, ConfigError, DataError
from animelib.paths import cache_dir

CACHE_VERSION = 1
CROPS = ("center", "photo", "anime")
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
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error,
                  zlib.error)


@dataclass
class FolderImages:
    """The usable images of a folder, square and resized, and what happened to the other files."""

    images: np.ndarray  # (N, size, size, 3) uint8 RGB
    files: list[str]  # paths relative to the folder, one per image, in order
    num_files: int  # regular files found recursively
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> relative paths
    faces_found: int = 0  # crops around a detected face
    center_crops: int = 0  # centre crops (crop="center", or no face found)
    name: str = ""  # for the summary: the folder's name unless given
    crop: str = "center"
    limited: bool = False  # stopped at max_images before looking at every file
    from_cache: bool = False
    note: str | None = None  # e.g. why a face crop fell back to centre crops

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_skipped(self) -> int:
        return sum(len(v) for v in self.skipped.values())

    def summary(self) -> str:
        """One line saying what was loaded and what was skipped, to print once."""
        head = f"{self.name}: {len(self.images):,} images from {self.num_files:,} files"
        if self.limited:
            head += " (stopped at max_images)"
        parts = [head]
        if self.num_skipped:
            n = self.num_skipped
            parts.append(f"skipped {n:,} of {self.num_files:,} files: {_reasons(self.skipped)}")
        if self.crop != "center":
            parts.append(f"{self.faces_found:,} face crops, {self.center_crops:,} centre crops")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)


def _reasons(skipped: dict[str, list[str]]) -> str:
    """'2 corrupt, 1 zero-byte' in the fixed order of REASONS."""
    out = []
    for reason in REASONS:
        n = len(skipped.get(reason, ()))
        if n:
            out.append(f"{n:,} {reason}{'s' if reason == 'duplicate' and n > 1 else ''}")
    return ", ".join(out)


class _Decoded(NamedTuple):
    image: np.ndarray | None  # (size, size, 3) uint8, or None when skipped
    reason: str | None  # why it was skipped
    face: bool  # cropped around a detected face
    digest: str | None  # sha1 of the file's bytes, when deduplicating


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


def _to_rgb(im) -> np.ndarray:
    """A PIL image of any mode as (H, W, 3) uint8 RGB; transparency is composited on white."""
    from PIL import Image, ImageOps

    try:
        if im.getexif().get(0x0112, 1) in range(2, 9):  # phone photos are often stored sideways
            im = ImageOps.exif_transpose(im)
    except _DECODE_ERRORS:
        pass  # a broken EXIF block: keep the pixels as stored
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


def _square(rgb: np.ndarray, size: int, crop: str, margin: float) -> tuple[np.ndarray, bool]:
    """The square crop (face or centre) resized to size x size: (size, size, 3) uint8."""
    import cv2

    from animelib.data import faces

    square, found = faces.center_crop(rgb), False
    if crop != "center":
        try:
            square, found = faces.crop_face(rgb, crop, margin=margin)
        except cv2.error:  # a detector choking on an odd image: keep the centre crop
            pass
    side = square.shape[0]
    if side != size:
        interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
        square = cv2.resize(np.ascontiguousarray(square), (size, size), interpolation=interp)
    return np.ascontiguousarray(square, dtype=np.uint8), found


def _decode(data: bytes, suffix: str, size: int, crop: str, margin: float) -> _Decoded:
    """One file's bytes -> a square image, or the reason it cannot be used."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        return _Decoded(None, "zero-byte", False, None)
    try:
        im = Image.open(io.BytesIO(data), formats=_formats())
    except Image.DecompressionBombError:
        return _Decoded(None, "too large", False, None)
    except UnidentifiedImageError:
        corrupt = suffix in IMAGE_SUFFIXES and not _looks_like_text(data)
        return _Decoded(None, "corrupt" if corrupt else "not an image", False, None)
    except _DECODE_ERRORS:
        return _Decoded(None, "corrupt", False, None)
    try:
        w, h = im.size
        if w * h > MAX_PIXELS:
            return _Decoded(None, "too large", False, None)
        if w < 1 or h < 1:
            return _Decoded(None, "corrupt", False, None)
        # JPEGs can be decoded at 1/2, 1/4 or 1/8 scale for free: ask for no less than a face detector needs.
        target = max(4 * size, 512)
        if im.format in ("JPEG", "MPO") and min(w, h) > 2 * target:
            im.draft(None, (target, target))
        im.load()  # decode everything now, so that truncation shows here
        rgb = _to_rgb(im)  # (H, W, 3) uint8
    except Image.DecompressionBombError:
        return _Decoded(None, "too large", False, None)
    except _DECODE_ERRORS as e:
        truncated = "truncat" in str(e).lower()
        return _Decoded(None, "truncated" if truncated else "corrupt", False, None)
    finally:
        im.close()
    square, found = _square(rgb, size, crop, margin)
    return _Decoded(square, None, found, None)


_FORMATS: tuple[str, ...] | None = None


def _formats() -> tuple[str, ...]:
    """FORMATS that this Pillow build can open."""
    global _FORMATS
    if _FORMATS is None:
        from PIL import Image

        Image.init()
        _FORMATS = tuple(f for f in FORMATS if f in Image.OPEN)
    return _FORMATS


def _load_file(path: Path, size: int, crop: str, margin: float, dedupe: bool) -> _Decoded:
    """Read one file and decode it; with dedupe, also hash its bytes."""
    try:
        data = path.read_bytes()
    except OSError:
        return _Decoded(None, "corrupt", False, None)  # unreadable (permissions, I/O error)
    result = _decode(data, path.suffix.lower(), size, crop, margin)
    if dedupe and result.image is not None:
        result = result._replace(digest=hashlib.sha1(data).hexdigest())
    return result


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


def _hint(name: str) -> str:
    what = EXPECTED.get(name, "images")
    return f"Put {what} there or leave --data-dir unset to use the embedded synthetic avatars."


def _check_crop(crop: str) -> tuple[str, str | None]:
    """The crop to use and, when a face detector cannot work here, a note on why centre crops are used."""
    if crop not in CROPS:
        raise ConfigError(f"crop={crop!r} is not accepted; use one of: {', '.join(CROPS)}")
    from animelib.data import faces

    try:
        if crop == "photo":
            faces._photo_cascade()
        elif crop == "anime":
            faces._check_animeface()
    except AnimelibError as e:
        return "center", f"no {crop} face detector, so centre crops only: {e}"
    return crop, None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:40] or "folder"


def load_folder(folder, size: int, crop: str = "center", dedupe: bool = False, cache: bool = True,
                max_images: int | None = None, progress: bool = True, name: str | None = None,
                margin: float = 0.4) -> FolderImages:
    """All usable images under ``folder`` (recursively, sorted), square-cropped and resized to size x size.

    ``crop``: "center" (centre square), "photo" or "anime" (square around the largest face found by OpenCV's
    Haar cascade or animeface, enlarged by ``margin``; a centre crop when none is found). ``dedupe`` drops
    files whose bytes repeat an earlier file. ``max_images`` keeps the first N usable images. The result is
    cached on disk and reused while no file is added, removed or touched. Raises DataError when the folder
    is missing or holds no usable image.
    """
    folder = Path(folder).expanduser()
    name = name or folder.name or str(folder)
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ConfigError(f"size={size!r} is not accepted; use a positive number of pixels, e.g. 64")
    if max_images is not None and max_images < 1:
        raise ConfigError(f"max_images={max_images!r} is not accepted; use a positive number or None")
    crop, note = _check_crop(crop)
    if not folder.exists():
        raise DataError(f"image folder {folder} does not exist. {_hint(name)}")
    if not folder.is_dir():
        raise DataError(f"{folder} is a file, not a folder of images. {_hint(name)}")

    entries = _scan(folder)
    size = int(size)
    settings = {"version": CACHE_VERSION, "folder": str(folder.resolve()), "size": size, "crop": crop,
                "margin": margin, "dedupe": dedupe, "max_images": max_images}
    key = hashlib.sha1(json.dumps({**settings, "files": entries}).encode()).hexdigest()
    # One entry per folder and settings: a newer file list replaces the entry, other sizes or crops stay.
    prefix = f"{_slug(name)}-{size}-{hashlib.sha1(json.dumps(settings).encode()).hexdigest()[:10]}-"
    npy_path = cache_dir("folders") / f"{prefix}{key[:20]}.npy" if cache else None

    result = _read_cache(npy_path, key, size) if cache else None
    if result is None:
        result = _decode_all(folder, entries, size, crop, margin, dedupe, max_images, progress)
        if cache and len(result.images):
            _write_cache(npy_path, key, result, prefix)
    result.name, result.crop, result.note = name, crop, note
    if not len(result.images):
        if not entries:
            raise DataError(f"no images found in {folder} (searched recursively, no files). {_hint(name)}")
        raise DataError(
            f"no images found in {folder} (searched recursively, {len(entries):,} file{'s' * (len(entries) != 1)}, "
            "all unusable: "
            f"{_reasons(result.skipped)}). {_hint(name)}"
        )
    return result


def _decode_all(folder: Path, entries, size: int, crop: str, margin: float, dedupe: bool,
                max_images: int | None, progress: bool) -> FolderImages:
    """Decode files in order on a few threads (PIL and OpenCV release the GIL), keeping the first N."""
    from PIL import Image
    from tqdm.auto import tqdm

    capacity = len(entries) if max_images is None else min(len(entries), max_images)
    buf = np.empty((capacity, size, size, 3), np.uint8)  # filled in order; skipped files leave the tail
    files, skipped = [], {}
    seen: dict[str, str] = {}
    faces_found = center_crops = 0
    limited = False
    workers = max(1, min(8, os.cpu_count() or 1))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="animelib-decode")
    try:
        with warnings.catch_warnings():
            # PIL warns for images between its limit and twice it; we count those as "too large" instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            results = pool.map(lambda e: _load_file(folder / e[0], size, crop, margin, dedupe), entries)
            bar = tqdm(results, total=len(entries), desc=f"decoding {folder.name or folder}", unit="file",
                       disable=not progress, leave=False)
            for (rel, _, _), res in zip(entries, bar, strict=True):
                reason = res.reason
                if reason is None and res.digest is not None:
                    if res.digest in seen:
                        reason = "duplicate"
                    else:
                        seen[res.digest] = rel
                if reason is not None:
                    skipped.setdefault(reason, []).append(rel)
                    continue
                buf[len(files)] = res.image
                files.append(rel)
                faces_found += res.face
                center_crops += not res.face
                if max_images is not None and len(files) >= max_images:
                    limited = len(files) + sum(len(v) for v in skipped.values()) < len(entries)
                    break
            bar.close()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    array = buf[:len(files)]  # (N, size, size, 3) uint8
    return FolderImages(array, files, len(entries), skipped, faces_found, center_crops, crop=crop,
                        limited=limited)


def _read_cache(npy_path: Path, key: str, size: int) -> FolderImages | None:
    """The cached decode for this key, or None when absent or unreadable."""
    meta_path = npy_path.with_suffix(".json")
    if not (npy_path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("key") != key:
            return None
        images = np.load(npy_path, mmap_mode=None, allow_pickle=False)  # (N, size, size, 3) uint8
        if images.dtype != np.uint8 or images.shape != (len(meta["files"]), size, size, 3):
            return None
        return FolderImages(images, list(meta["files"]), int(meta["num_files"]),
                            {k: list(v) for k, v in meta["skipped"].items()}, int(meta["faces_found"]),
                            int(meta["center_crops"]), limited=bool(meta["limited"]), from_cache=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(npy_path: Path, key: str, result: FolderImages, prefix: str) -> None:
    """Store the decode atomically (temp + os.replace, the JSON last); drop this folder's stale entries."""
    meta = {"key": key, "files": result.files, "num_files": result.num_files, "skipped": result.skipped,
            "faces_found": result.faces_found, "center_crops": result.center_crops, "limited": result.limited}
    meta_path = npy_path.with_suffix(".json")
    tag = f".{os.getpid()}.{id(result)}.tmp"
    try:
        tmp = npy_path.with_name(npy_path.name + tag)
        with open(tmp, "wb") as f:
            np.save(f, result.images)
        os.replace(tmp, npy_path)
        tmp = meta_path.with_name(meta_path.name + tag)
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, meta_path)
        for old in npy_path.parent.glob(f"{prefix}*"):  # prefix: [A-Za-z0-9_.-] only
            if old.stem != npy_path.stem and not old.name.endswith(".tmp"):
                old.unlink(missing_ok=True)
    except OSError as e:  # a full or read-only disk: the data is fine, only the cache is lost
        warnings.warn(f"could not cache decoded images in {npy_path.parent}: {e}", stacklevel=3)
        for p in npy_path.parent.glob(f"*{tag}"):
            p.unlink(missing_ok=True)

