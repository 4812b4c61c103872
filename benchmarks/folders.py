"""Decoding real image folders: files per second for a first decode, a second size and a cached load.

Writes folders shaped like the report's real sets from the synthetic renderer, then times ``load_folder`` on
them with one core and with all cores (the process's CPU affinity is narrowed for the one-core rows, so the
same code runs either way)::

    python benchmarks/folders.py                  # full size: 20,000 64-px JPEGs, 3,400 256-px PNGs...
    python benchmarks/folders.py --scale 0.1      # a tenth of that, for a quick look
    python benchmarks/folders.py --detector 200   # photo face detector: detection rate and false positives

Folders (``--scale`` multiplies the counts):

- ``anime``: 20,000 64-px JPEG anime faces, already cropped (DCGAN's set);
- ``faces``: 3,400 256-px anime portraits stored as PNG data under ``.jpg`` names, 30 % of them a smaller
  portrait on a larger background (not cropped);
- ``thumbs``: 3,400 256-px JPEG photos, half of them not cropped; every folder also holds a few broken files.

Variants of a pool of rendered avatars (flips, shifts, colour changes, noise) stand in for distinct images,
since rendering 20,000 avatars would take longer than decoding them.
"""

from __future__ import annotations

import argparse
import inspect
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHAPES = {  # folder: (files at scale 1, side, detector, format, share not cropped)
    "anime": (20_000, 64, "anime", "JPEG", 0.0),
    "faces": (3_400, 256, "anime", "PNG", 0.3),
    "thumbs": (3_400, 256, "photo", "JPEG", 0.5),
}
BROKEN = 5  # broken files per folder: truncated, zero-byte, text, random bytes, text named .png


def _variant(img: np.ndarray, i: int, rng: np.random.Generator) -> np.ndarray:
    """A distinct-looking copy of a rendered avatar: flipped, shifted a little, recoloured, noisy."""
    out = img[:, ::-1] if i % 2 else img
    dy, dx = rng.integers(-2, 3, 2)
    out = np.roll(out, (int(dy), int(dx)), axis=(0, 1)).astype(np.float32)
    out = out * rng.uniform(0.9, 1.1, 3) + rng.normal(0, 2, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def _on_background(img: np.ndarray, side: int, rng: np.random.Generator) -> tuple[np.ndarray, tuple]:
    """img shrunk to 40-55 % and pasted at a random place on a smooth background: (side, side, 3), its box."""
    import cv2

    small = int(side * rng.uniform(0.4, 0.55))
    face = cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA)
    corners = rng.integers(40, 220, (2, 2, 3)).astype(np.float32)
    canvas = cv2.resize(corners, (side, side), interpolation=cv2.INTER_LINEAR)
    top, left = rng.integers(0, side - small + 1, 2)
    canvas[top:top + small, left:left + small] = face
    return canvas.astype(np.uint8), (int(left), int(top), small)


def _encode(img: np.ndarray, fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def make_folder(root: Path, name: str, scale: float, pool: int = 300, seed: int = 0) -> int:
    """Write one folder of SHAPES[name] (scaled) under root; returns how many files it holds."""
    from animelib.data.synthetic import render_set

    count, side, kind, fmt, loose = SHAPES[name]
    count = max(8, int(count * scale))
    style = "anime" if kind == "anime" else "photo"
    base, _ = render_set(style, min(pool, count), side, seed=seed, start=5_000_000, progress=False)
    rng = np.random.default_rng(seed)
    folder = root / name
    for i in range(count):
        img = _variant(base[i % len(base)], i // len(base), rng)
        if rng.random() < loose:
            img, _ = _on_background(img, side, rng)
        sub = folder / f"part{i % 4}"  # nested, like real downloads
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:06d}.jpg").write_bytes(_encode(img, fmt))  # PNG data under .jpg names for "faces"
    good = (folder / "part0" / "000000.jpg").read_bytes()
    (folder / "broken_truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "broken_empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("downloaded from somewhere\n")
    (folder / "broken_random.png").write_bytes(rng.integers(0, 256, 2000, np.uint8).tobytes())
    (folder / "html_saved_as.png").write_text("<html>404 not found</html>\n")
    return count + BROKEN


def _load(folder: Path, size: int, kind: str):
    """load_folder on the code as it is: the new API (crop policy + detector) or the old one (crop=kind)."""
    from animelib.data.folders import load_folder

    params = inspect.signature(load_folder).parameters
    if "detector" in params:
        return load_folder(folder, size, crop="auto", detector=kind, progress=False, name=folder.name)
    return load_folder(folder, size, crop=kind, progress=False, name=folder.name)


def _time(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def time_folder(folder: Path, kind: str, cores: int) -> dict:
    """First decode at 64 px, a second size (128 px), then the cached 64 px, in a fresh cache."""
    os.environ["ANIMELIB_CACHE"] = tempfile.mkdtemp(prefix="animelib-bench-cache-")
    all_cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, sorted(all_cores)[:cores])
    try:
        first, got = _time(lambda: _load(folder, 64, kind))
        second, _ = _time(lambda: _load(folder, 128, kind))
        cached, again = _time(lambda: _load(folder, 64, kind))
    finally:
        os.sched_setaffinity(0, all_cores)
        shutil.rmtree(os.environ["ANIMELIB_CACHE"], ignore_errors=True)
    assert again.from_cache and np.array_equal(again.images, got.images)
    return {"files": got.num_files, "first": first, "second": second, "cached": cached, "summary": got.summary()}


def run_folders(root: Path, scale: float, cores_list: list[int]) -> list[str]:
    """Build the folders, time each with each core count; markdown rows."""
    rows = ["| folder | files | cores | first decode s (files/s) | second size s (files/s) | cached load s |",
            "|---|---|---|---|---|---|"]
    summaries = []
    for name, (_, side, kind, fmt, _) in SHAPES.items():
        start = time.perf_counter()
        make_folder(root, name, scale)
        print(f"[bench] wrote {name} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        for cores in cores_list:
            r = time_folder(root / name, kind, cores)
            n = r["files"]
            rows.append(f"| {name} ({side} px {fmt}, {kind} faces) | {n:,} | {cores} | {r['first']:.1f} "
                        f"({n / r['first']:.0f}) | {r['second']:.1f} ({n / r['second']:.0f}) | {r['cached']:.2f} |")
            print(rows[-1], file=sys.stderr)
        summaries.append(f"- {r['summary']}")
    return rows + ["", "Summary lines (all cores):", *summaries]


def _truth_ok(box, marks: np.ndarray) -> bool:
    """Whether a detected (x, y, w, h) is the pasted face: centred within 0.6 eye distances of the middle of
    eyes and mouth, and between 1.3 and 4 eye distances wide (Haar boxes span about 2.6)."""
    x, y, w, h = box
    eyes, mouth = (marks[0] + marks[1]) / 2, (marks[3] + marks[4]) / 2
    d = float(np.linalg.norm(marks[1] - marks[0]))
    centre = (eyes + mouth) / 2
    return float(np.linalg.norm([x + w / 2 - centre[0], y + h / 2 - centre[1]])) < 0.6 * d and 1.3 * d < w < 4 * d


def _old_photo_detector(img: np.ndarray):
    """The photo detector before this change: default cascade, largest box of at least 1/8 of the side, no eyes."""
    import cv2

    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    gray = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
    side = max(24, min(gray.shape) // 8)
    boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
    return max((tuple(int(v) for v in b) for b in boxes), key=lambda b: b[2] * b[3], default=None)


def photo_scenes(n: int, side: int = 512, seed: int = 0):
    """n synthetic photos (96 to 256 px at side 512; as large a share of a smaller side) pasted at random places
    on a zoomed patch of another photo's skin, hair or clothes (no whole face): (scene, landmarks in the scene,
    the background alone)."""
    import cv2

    from animelib.data.synthetic import render_set

    photos, marks = render_set("photo", n, 256, start=7_000_000, progress=False)
    rng = np.random.default_rng(seed)
    for i in range(n):
        other = photos[(7 * i + 3) % n]
        y0, x0 = rng.integers(120, 190), rng.integers(0, 160)
        background = cv2.resize(other[y0:y0 + 64, x0:x0 + 96], (side, side), interpolation=cv2.INTER_CUBIC)
        s = int(rng.integers(96 * side // 512, 256 * side // 512 + 1))
        face = cv2.resize(photos[i], (s, s), interpolation=cv2.INTER_AREA)
        top, left = rng.integers(0, side - s + 1, 2)
        scene = background.copy()
        scene[top:top + s, left:left + s] = face
        yield scene, marks[i] * s / 256 + [left, top], background


def detector_table(n: int, side: int = 512) -> list[str]:
    """Detection rate and false positives of the photo detectors on ``photo_scenes`` of ``side`` pixels."""
    from animelib.data import faces

    detectors = {"before: default cascade, largest box": _old_photo_detector,
                 "now: alt2 cascade + eye check (full size)": faces.detect_face_photo,
                 "now, as folders run it (longer side 384: larger images shrunk, smaller ones enlarged)":
                     lambda img: faces.detect(img, "photo")}
    scenes = list(photo_scenes(n, side))
    rows = ["| photo detector | face found | wrong place | missed | a face on the face-free background | ms/image |",
            "|---|---|---|---|---|---|"]
    for name, detect in detectors.items():
        start, hit, wrong, fp = time.perf_counter(), 0, 0, 0
        for scene, marks, background in scenes:
            box = detect(scene)
            hit += box is not None and _truth_ok(box, marks)
            wrong += box is not None and not _truth_ok(box, marks)
            fp += detect(background) is not None
        ms = (time.perf_counter() - start) / (2 * n) * 1000
        rows.append(f"| {name} | {hit}/{n} ({hit / n:.0%}) | {wrong} | {n - hit - wrong} | {fp}/{n} | {ms:.0f} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the folder sizes (default 1)")
    parser.add_argument("--cores", type=int, nargs="+", default=None,
                        help="core counts to time (default: 1 and all)")
    parser.add_argument("--keep", default=None, help="write the folders here and keep them")
    parser.add_argument("--detector", type=int, default=0, metavar="N",
                        help="instead: measure the photo face detector on N synthetic photos")
    parser.add_argument("--detector-side", type=int, default=512, metavar="PX",
                        help="the side of the detector's scenes (default 512; 128: thumbnails)")
    args = parser.parse_args(argv)
    if args.detector:
        print("\n".join(detector_table(args.detector, args.detector_side)))
        return 0
    total = len(os.sched_getaffinity(0))
    cores = args.cores or sorted({1, total})
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="animelib-bench-folders-"))
    try:
        print("\n".join(run_folders(root, args.scale, cores)))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
