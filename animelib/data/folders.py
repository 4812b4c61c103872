"""Load a user's image folder into one uint8 array, robustly and in parallel, and cache what took time.

Users bring folders of whatever they collected: nested sub-folders, mixed formats, wrong extensions,
grayscale or transparent images, broken downloads. Every file is recognised by its content; files that
cannot be used are skipped and counted by reason, and the caller prints one summary line instead of a
warning per file.

Two caches live under ``cache_dir("folders")``: the face boxes of each file (found once, by one detector's
settings, whatever size the images are later cropped to) and the decoded array of each folder, size and crop
(reused until a file changes). Decoding runs in a process pool over all cores; a caller that needs N images
gets about N files decoded, picked by a seed, not the whole folder.

:func:`load_folder` ties together :mod:`animelib.data.scan` (which files there are),
:mod:`animelib.data.decode` (decoding and framing each file, the worker pool) and :mod:`animelib.data.cache`
(the two caches); the names other modules use from those are importable from here too.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from animelib.config import CROPS
from animelib.data import faces
from animelib.data.cache import cached_decode, faces_file, known_faces, save_faces
from animelib.data.decode import (
    DECODE_ERRORS,
    FACE_FILLS,
    Face,
    FolderImages,
    Job,
    decode_files,
    describe_skipped,
    image_formats,
    needs_face,
    to_rgb,
)
from animelib.data.scan import count_images, scan_folder, seeded_order
from animelib.errors import AnimelibError, ConfigError, DataError

__all__ = ["DECODE_ERRORS", "FolderImages", "count_images", "image_formats", "load_folder", "seeded_order",
           "to_rgb"]

DETECTORS = ("photo", "anime")
PROBE = 64  # files sampled (evenly, by name) to tell whether a folder holds face crops already
FOLDER_OF_CROPS = 0.9  # ...which it does when this share of the faces found there fill their images
# What each of the project's folders should hold, for error messages.
EXPECTED = {"thumbs": "photos of faces", "faces": "anime faces", "anime": "anime faces"}
# Below this much work a process pool costs more to start (about a second) than it saves.
MIN_PARALLEL = {"decode": 1000, "detect": 32}


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
    entries = scan_folder(folder)
    order = entries if seed is None else seeded_order(entries, seed)
    framing = crop if detector_used or crop in ("center", "none") else "center"
    job = Job(int(size), framing, detector_used, float(margin), dedupe)
    with cached_decode(folder, name, job, entries, max_images, seed, cache, progress) as entry:
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
            f"all unusable: {describe_skipped(result.skipped)}). {_hint(name)}"
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


def _decode_folder(folder: Path, name: str, order, job: Job, max_images: int | None, progress: bool,
                   workers: int, cache: bool) -> FolderImages:
    """Decode the files in ``order`` (faces found where not cached), after settling crop="auto"'s framing."""
    faces_path = faces_file(folder, name, job.detector) if cache and needs_face(job) else None
    known = known_faces(faces_path, order) if faces_path else {}
    found: dict[str, tuple[int, int, Face]] = {}  # newly found faces, to cache
    note = None
    if job.framing == "auto" and job.detector:
        job, note = _auto_framing(folder, name, order, job, known, found, workers, progress)
    try:
        result = _decode_all(folder, name, order, job, known, found, max_images, progress, workers)
    finally:
        if faces_path is not None:
            save_faces(faces_path, found)
    result.notes = [note] if note else []
    return result


def _auto_framing(folder: Path, name: str, order, job: Job, known: dict, found: dict, workers: int,
                  progress: bool) -> tuple[Job, str | None]:
    """crop="auto": find the faces of up to PROBE files spread over the folder; where nearly all of them fill
    their images, the folder holds face crops already, and all of it is kept whole: one framing, whatever a
    detector makes of a few images, and no more detection. Otherwise each image is framed by its own face."""
    by_name = sorted(order)
    probe = by_name[::max(1, len(by_name) // PROBE)][:PROBE]
    todo = [e for e in probe if e[0] not in known]
    if todo:
        look = job._replace(size=8, framing="face")
        n = workers if len(todo) >= MIN_PARALLEL["detect"] else 1
        results = decode_files(folder, [(rel, None) for rel, _, _ in todo], look, n)
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


def _decode_all(folder: Path, name: str, order, job: Job, known: dict, found: dict, max_images: int | None,
                progress: bool, workers: int) -> FolderImages:
    """Decode files in ``order``, keeping the first ``max_images`` usable ones; face boxes go to ``found``."""
    capacity = len(order) if max_images is None else min(len(order), max_images)
    detecting = needs_face(job) and any(rel not in known for rel, _, _ in order[:capacity])
    n = workers if capacity >= MIN_PARALLEL["detect" if detecting else "decode"] else 1
    buf = np.empty((capacity, job.size, job.size, 3), np.uint8)  # filled in order; skipped files leave the tail
    files, skipped, crops, seen = [], {}, Counter(), set()
    limited = False
    wanted = (lambda: capacity - len(files)) if max_images is not None else None
    results = decode_files(folder, [(rel, known.get(rel)) for rel, _, _ in order], job, n, wanted)
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


def _hint(name: str) -> str:
    what = EXPECTED.get(name, "images")
    return f"Put {what} there or leave --data-dir unset to use the embedded synthetic avatars."


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
