"""Measure a trained DCGAN run folder: 1,024 samples (fixed noise, seed 300) from its EMA sampler and from its raw
generator against the run's held-out real images: spectral distance of the luma and of the colour (Cb + Cr), each
with the signed mean log10 ratio per band of rings (low 1-8, mid 9-20, high 21-32), structure diversity, and a
colour-histogram distance (8x8x8 RGB bins, total variation; ``colour_floor``: the first half of the real images
against the second). Appends one JSON line to ``--out``::

    OMP_NUM_THREADS=1 python -m animelib train dcgan --profile quick --run-dir /tmp/dexp/ema95 --set ema=0.95
    OMP_NUM_THREADS=1 python benchmarks/measure_dcgan_run.py /tmp/dexp/ema95 --out /tmp/dexp/results.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from animelib import metrics  # noqa: E402
from animelib.models import dcgan, load_generator, open_trained, train  # noqa: E402

BANDS = {"low": (0, 8), "mid": (8, 20), "high": (20, 32)}
COLOUR_BINS = 8  # per channel
CHANNELS = {"gray": "", "chroma": "colour_"}  # spectra of the luma and of Cb + Cr, and their keys' prefixes


def colour_histogram(images: np.ndarray) -> np.ndarray:
    """The share of all pixels of (N, H, W, 3) uint8 images in each of COLOUR_BINS ** 3 RGB bins."""
    q = images.reshape(-1, 3).astype(np.int64) // (256 // COLOUR_BINS)
    counts = np.bincount((q[:, 0] * COLOUR_BINS + q[:, 1]) * COLOUR_BINS + q[:, 2], minlength=COLOUR_BINS ** 3)
    return counts / counts.sum()


def colour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total-variation distance between the colour histograms of two image sets: 0 same colours, 1 disjoint."""
    return float(np.abs(colour_histogram(a) - colour_histogram(b)).sum() / 2)


def measure(run_dir: Path) -> dict:
    cfg, _, _ = open_trained(run_dir, "cpu")
    test = train(cfg, run_dir, progress=False).test_images  # reopens the finished run: trains nothing
    out = {"run": run_dir.name, "levers": cfg.levers()}
    real = {ch: metrics.radial_power_spectrum(test, ch) for ch in CHANNELS}
    half = len(test) // 2
    out["colour_floor"] = round(colour_distance(test[:half], test[half:2 * half]), 3)
    for ema in (True, False):
        samples = dcgan.generate(load_generator(run_dir, device="cpu", ema=ema),
                                 dcgan.noise(len(test), cfg.nz, seed=300))
        key = "ema" if ema else "raw"
        for ch, name in CHANNELS.items():
            fake = metrics.radial_power_spectrum(samples, ch)
            ratio = np.log10(fake[:32] / real[ch][:32])
            out[f"{key}_{name}spectral"] = round(metrics.spectrum_distance(fake, real[ch]), 4)
            out[f"{key}_{name}bands"] = {k: round(float(ratio[a:b].mean()), 2) for k, (a, b) in BANDS.items()}
        out[f"{key}_diversity"] = round(metrics.diversity_ratio(samples, test), 3)
        out[f"{key}_colour"] = round(colour_distance(samples, test), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, help="append the JSON lines here too")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for run_dir in args.run_dirs:
        line = json.dumps(measure(run_dir))
        print(line)
        if args.out:
            with open(args.out, "a", encoding="utf-8") as f:
                f.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
