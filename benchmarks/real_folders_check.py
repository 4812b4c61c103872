"""Real-folder check: the quick recipes on image folders laid out as the README says, measured offline.

Writes ``anime/`` (96-px JPEG anime faces, already cropped: DCGAN's set, trained at 64 px), ``thumbs/`` (128-px
JPEG photos, half of them a smaller face on a larger background) and ``faces/`` (128-px anime portraits as PNG
data under ``.jpg`` names, a third of them on a larger background), each with a few broken files, from faces of
the synthetic renderer that no model trains on otherwise; then runs the notebooks on them (``animelib run
--profile quick --data-dir``) and prints, per model, the last evaluation's structure diversity, spectral distance
and C2ST with their floors, the collapse warnings, and the time::

    python benchmarks/real_folders_check.py --out /tmp/real-check       # the quick profile: ~25 min on 2 cores
    python benchmarks/real_folders_check.py --out /tmp/real-check --profile smoke --anime 300 --photos 60
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from animelib.data.synthetic import render_set  # noqa: E402
from animelib.runs import read_history  # noqa: E402

START = 3_000_000  # synthetic faces no model or evaluator uses otherwise
TARGETS = {"diversity": ("at least", 0.8), "spectral": ("at most", 0.10)}


def on_background(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The face shrunk to 45-60 % of the side and pasted at a random place on a smooth colour background."""
    side = img.shape[0]
    small = int(side * rng.uniform(0.45, 0.6))
    face = cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA)
    out = np.empty_like(img)
    out[:] = rng.integers(60, 230, 3)
    out = cv2.GaussianBlur((out + rng.normal(0, 25, out.shape)).clip(0, 255).astype(np.uint8), (0, 0), 9)
    y, x = rng.integers(0, side - small, 2)
    out[y:y + small, x:x + small] = face
    return out


def write_folder(folder: Path, style: str, n: int, size: int, start: int, fmt: str, uncropped: float,
                 seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    images, _ = render_set(style, n, size, start=start, progress=False)
    rng = np.random.default_rng(seed)
    for i, img in enumerate(images):
        if rng.random() < uncropped:
            img = on_background(img, rng)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
        (folder / f"{i:05d}.jpg").write_bytes(buf.getvalue())  # PNG data under .jpg names too, as users have
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")


def make_folders(root: Path, n_anime: int, n_photos: int) -> None:
    write_folder(root / "anime", "anime", n_anime, 96, START, "JPEG", 0.0)
    write_folder(root / "thumbs", "photo", n_photos, 128, START + 500_000, "JPEG", 0.5, seed=1)
    write_folder(root / "faces", "anime", n_photos, 128, START + 700_000, "PNG", 1 / 3, seed=2)


def summary(runs: Path, profile: str) -> list[str]:
    rows = ["| model | epoch | structure diversity (floor) | spectral distance (floor) | colour spectral (floor) "
            "| C2ST (floor) | warnings |", "|---|---|---|---|---|---|---|"]
    for model in ("dcgan", "cyclegan", "cartoongan"):
        history = read_history(runs / f"{model}-{profile}-s0")
        metrics = [r for r in history if r.get("event") == "metrics" and r.get("diversity") is not None]
        if not metrics:
            rows.append(f"| {model} | - | not measured | | | | |")
            continue
        m = metrics[-1]
        warnings = [w["kind"] for w in history if w.get("event") == "warning"]
        rows.append(f"| {model} | {m['epoch']} | {m['diversity']:.3f} ({m['diversity_floor']:.3f}) | "
                    f"{m['spectral']:.3f} ({m['spectral_floor']:.3f}) | "
                    f"{m['colour_spectral']:.3f} ({m['colour_spectral_floor']:.3f}) | "
                    f"{m['c2st']:.3f} ({m['c2st_floor']:.3f}) | "
                    f"{', '.join(warnings) or 'none'} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for the data, the runs and the figures")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--anime", type=int, default=5_200, help="anime faces for DCGAN (default 5,200)")
    parser.add_argument("--photos", type=int, default=900, help="photos, and as many anime portraits (default 900)")
    args = parser.parse_args(argv)
    root = Path(args.out)
    start = time.perf_counter()
    if not (root / "data" / "faces").exists():
        make_folders(root / "data", args.anime, args.photos)
    made = time.perf_counter() - start
    command = [sys.executable, "-m", "animelib", "run", "--profile", args.profile, "--data-dir", str(root / "data"),
               "--figures-dir", str(root / "figures"), "--runs-dir", str(root / "runs")]
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True)
    ran = time.perf_counter() - start - made
    rows = summary(root / "runs", args.profile)
    print(f"folders written in {made:.0f} s; `animelib run` took {ran:.0f} s")
    print("\n".join(rows))
    (root / "summary.json").write_text(json.dumps({"write_s": made, "run_s": ran, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
