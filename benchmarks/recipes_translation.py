"""Measure a training recipe of CycleGAN or CartoonGAN on the quick profile (issue 20, part 2).

Trains one run through the package (``animelib.models.train``, the quick profile plus the levers given here) in a
temporary run folder, then measures G(A) on the held-out synthetic photos: L1/PSNR/SSIM against the ground-truth
anime rendering beside the do-nothing baseline (A itself), SSIM to its own input, the spectral distance to the
anime truth (real-vs-real floor about 0.006), and the structure diversity against the truth. Saves a PNG grid of
8 held-out photos (rows: A, G(A), with ``ema`` the live G(A) too, truth), prints one JSON line and appends it to
``benchmarks/recipes/translation.jsonl``.

    ANIMELIB_CACHE=/tmp/cache-x PYTHONPATH=. python benchmarks/recipes_translation.py cyclegan --label base
    ... cyclegan --label ema --ema 0.999 --amp true --epochs 12
    ... cartoongan --label pixel --pretrain_pixel_weight 10 --set num_a=1024

Every lever in the model config's ``LEVERS`` is an option (``--<field> VALUE``); ``--set FIELD=VALUE`` sets any
other config field (the value read as JSON when it parses, else as a string).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from animelib import metrics
from animelib.data import load_translation_data
from animelib.models import config_class, load_generator, train
from animelib.runs import read_history
from animelib.utils import translate_images

OUT_DIR = Path(__file__).resolve().parent / "recipes"
GRID_IMAGES = 8


def parse_value(text: str):
    """``"0.5"`` -> 0.5, ``"true"`` -> True, ``"color,cutout"`` -> the string itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=("cyclegan", "cartoongan"))
    parser.add_argument("--label", required=True, help="names the run in the JSON line and the grid's file name")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--epochs", type=int, help="override the profile's epochs (short screening runs)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="any config field")
    parser.add_argument("--keep", help="train in this run folder (kept) instead of a temporary one")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--no-append", action="store_true", help="print the line, do not append it")
    for name in ("cyclegan", "cartoongan"):
        for lever in config_class(name).LEVERS:
            if f"--{lever}" not in parser._option_string_actions:
                parser.add_argument(f"--{lever}", type=parse_value, help=config_class(name).LEVERS[lever])
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace):
    """The profile's config with the options given (levers, ``--epochs``, ``--set``)."""
    cls = config_class(args.model)
    overrides = {name: getattr(args, name) for name in cls.LEVERS if getattr(args, name, None) is not None}
    for item in args.set:
        field, _, value = item.partition("=")
        overrides[field.strip()] = parse_value(value)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    return cls.from_profile(args.profile, **overrides), overrides


def save_grid(path: Path, rows: list[np.ndarray]) -> None:
    """Rows of (N, H, W, 3) uint8 images -> one PNG with 2 px white gaps (at 1x: each grid stays under 300 KB)."""
    n, h, w, _ = rows[0].shape
    pad = 2
    canvas = np.full((len(rows) * (h + pad) + pad, n * (w + pad) + pad, 3), 255, np.uint8)
    for r, images in enumerate(rows):
        for c, image in enumerate(images):
            canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = image
    Image.fromarray(canvas).save(path, optimize=True)


def measure(fake: np.ndarray, data) -> dict[str, float]:
    """G(A) on the held-out photos against the truth, the identity baseline, its input and the real anime set."""
    test_a, truth = data.test_a.images, data.test_b_true
    record = {}
    for prefix, (x, y) in {"A2B": (fake, truth), "identity": (test_a, truth), "input": (fake, test_a)}.items():
        record.update({f"{prefix}_{k}": round(v, 4) for k, v in metrics.paired_metrics(x, y).items()})
    record["spectral_truth"] = round(metrics.spectral_distance(fake, truth), 4)
    record["spectral_floor"] = round(metrics.spectral_distance(data.test_b.images, truth), 4)  # real vs real
    record["colour_spectral_truth"] = round(metrics.spectral_distance(fake, truth, "chroma"), 4)
    record["colour_spectral_floor"] = round(metrics.spectral_distance(data.test_b.images, truth, "chroma"), 4)
    record["diversity"] = round(metrics.diversity_ratio(fake, truth), 4)
    return record


def train_seconds(history: list[dict]) -> tuple[float, int]:
    """Seconds spent in training steps (the epochs' own timing, without evaluation) and the steps run."""
    epochs = [r for r in history if r.get("event") == "epoch"]
    return round(sum(r["seconds"] for r in epochs), 1), (epochs[-1]["step"] if epochs else 0)


def run(args: argparse.Namespace) -> dict:
    cfg, overrides = build_config(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="recipe-") as tmp:
        run_dir = Path(args.keep) if args.keep else Path(tmp) / cfg.run_name
        start = time.perf_counter()
        train(cfg, run_dir, progress=False)
        wall = time.perf_counter() - start
        history = read_history(run_dir)
        data = load_translation_data(cfg, progress=False)
        fake = translate_images(load_generator(run_dir, device="cpu"), data.test_a.images)  # EMA when cfg.ema
        # with cfg.ema, the live generator too: the same training steps sampled without the average
        live = (translate_images(load_generator(run_dir, device="cpu", ema=False), data.test_a.images)
                if cfg.ema else None)
    seconds, steps = train_seconds(history)
    last_metrics = [r for r in history if r.get("event") == "metrics"][-1]
    OUT_DIR.mkdir(exist_ok=True)
    grid = OUT_DIR / f"{args.model}-{args.label}.png"
    rows = [data.test_a.images, fake] + ([live] if live is not None else []) + [data.test_b_true]
    save_grid(grid, [images[:GRID_IMAGES] for images in rows])
    live_record = {f"live_{k}": v for k, v in measure(live, data).items()} if live is not None else {}
    return {"model": args.model, "label": args.label, "profile": cfg.profile, "overrides": overrides,
            "levers": cfg.levers(), "epochs": cfg.epochs, "steps": steps, "threads": torch.get_num_threads(),
            "train_s": seconds, "wall_s": round(wall, 1), **measure(fake, data),
            "c2st_vs_B": last_metrics.get("c2st"), "spectral_vs_B": last_metrics.get("spectral"),
            **live_record, "grid": str(grid.relative_to(OUT_DIR.parent.parent)),
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


def main(argv=None) -> None:
    args = parse_args(argv)
    record = run(args)
    line = json.dumps(record)
    print(line)
    if not args.no_append:
        with open(OUT_DIR / "translation.jsonl", "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
