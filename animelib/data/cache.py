"""The two caches of decoded folders, under ``cache_dir("folders")``.

- Face boxes: one file per folder and detector, holding each file's face (found once, by one detector's
  settings, whatever size the images are later cropped to), valid while the file's size and time are.
- Decoded arrays: one entry per folder, size, crop and pick (``.npy`` plus a ``.json`` record), valid while no
  file is added, removed or touched.

Both are written atomically; a lock per entry (``cache_dir("folders", "locks")``) lets one process at a time
decode a folder while the others wait and then read what it wrote.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np

from animelib.data import faces
from animelib.data.decode import Face, FolderImages, Job
from animelib.files import atomic_write, file_lock
from animelib.paths import cache_dir

CACHE_VERSION = 2


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:40] or "folder"


def _cache_lock(name: str, what: str, progress: bool):
    """The cache's lock ``name``: one process at a time decodes or writes an entry, and the others wait (saying
    so with ``progress``), then read what it wrote."""
    def busy(_fd: int) -> None:
        if progress:
            print(f"[animelib] waiting for another process decoding {what}", file=sys.stderr, flush=True)

    return file_lock(cache_dir("folders", "locks") / f"{name}.lock", on_busy=busy, mode=0o666)


# --- face boxes: one file per folder and detector, each file's entry valid while its size and time are --------
def faces_file(folder: Path, name: str, detector: str) -> Path:
    key = json.dumps({"folder": str(folder.resolve()), "detector": faces.settings(detector)}, sort_keys=True)
    return cache_dir("folders") / f"{_slug(name)}-faces-{hashlib.sha1(key.encode()).hexdigest()[:12]}.json"


def _read_faces(path: Path) -> dict[str, list]:
    """rel -> [size, mtime_ns, *face] as stored; empty when missing or unreadable."""
    try:
        stored = json.loads(path.read_text())
        return stored if isinstance(stored, dict) else {}
    except (OSError, ValueError):
        return {}


def known_faces(path: Path, entries) -> dict[str, Face]:
    """The cached faces of the files that did not change since."""
    stored = _read_faces(path)
    known = {}
    for rel, size, mtime in entries:
        got = stored.get(rel)
        if isinstance(got, list) and len(got) in (4, 8) and got[:2] == [size, mtime]:
            known[rel] = tuple(int(v) for v in got[2:])
    return known


def save_faces(path: Path, found: dict[str, tuple[int, int, Face]]) -> None:
    """Merge newly found faces into the folder's file, under a lock (another size may be decoding too)."""
    if not found:
        return
    try:
        with _cache_lock(path.stem, path.stem, progress=False):
            stored = _read_faces(path)
            stored.update({rel: [size, mtime, *face] for rel, (size, mtime, face) in found.items()})
            atomic_write(path, json.dumps(stored, separators=(",", ":")))
    except OSError as e:  # a full or read-only disk: the faces are found again next time
        warnings.warn(f"could not cache face boxes in {path.parent}: {e}", stacklevel=3)


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
            atomic_write(self.npy_path, save)
            meta = {"key": self.key, "files": result.files, "num_files": result.num_files,
                    "skipped": result.skipped, "crops": result.crops, "limited": result.limited,
                    "notes": result.notes, "npy_bytes": written[0]}
            atomic_write(self.npy_path.with_suffix(".json"), json.dumps(meta))
            for old in self.npy_path.parent.glob(f"{self.prefix}*"):  # prefix: [A-Za-z0-9_.-] only
                if old.stem != self.npy_path.stem and not old.name.endswith(".tmp"):
                    old.unlink(missing_ok=True)
        except OSError as e:  # a full or read-only disk: the data is fine, only the cache is lost
            warnings.warn(f"could not cache decoded images in {self.npy_path.parent}: {e}", stacklevel=3)
        if self.damaged:
            result.notes.append(f"the cached decode {self.npy_path.name} was damaged (truncated?): decoded again")


@contextlib.contextmanager
def cached_decode(folder: Path, name: str, job: Job, entries, max_images: int | None, seed: int | None,
                  cache: bool, progress: bool):
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
    with _cache_lock(prefix.rstrip("-"), name, progress):
        yield _CacheEntry(cache_dir("folders") / f"{prefix}{key[:20]}.npy", key, job.size, prefix)
