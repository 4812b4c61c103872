"""What a colour low-pass (``animelib.nets.blocks.ChromaBlur``) does to images it is applied to after the fact, with
no training: the colour spectral distance of the held-out avatars, filtered, against the unfiltered ones (the
cost of the filter to real images), and of a trained DCGAN run's samples, filtered, against the avatars::

    OMP_NUM_THREADS=1 python benchmarks/chroma_blur_probe.py /tmp/dx/b32

Taps ``a`` of the kernel ``[a, 1 - 2a, a]``: 0 (no filter), 1/8 ([1, 6, 1]), 1/6 ([1, 4, 1]), 1/4 ([1, 2, 1]).
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
from animelib.nets.blocks import ChromaBlur  # noqa: E402
from animelib.utils import to_tensor_images, to_uint8_images  # noqa: E402

TAPS = (0.0, 1 / 8, 1 / 6, 1 / 4)


def filtered(images: np.ndarray, a: float) -> np.ndarray:
    """(N, H, W, 3) uint8 through ChromaBlur(a), back to uint8 (a = 0: unchanged)."""
    if not a:
        return images
    with torch.no_grad():
        return to_uint8_images(ChromaBlur(a)(to_tensor_images(images)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a trained DCGAN run folder (its held-out avatars and sampler)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg, _, _ = open_trained(args.run_dir, "cpu")
    test = train(cfg, args.run_dir, progress=False).test_images  # reopens the finished run: trains nothing
    samples = dcgan.generate(load_generator(args.run_dir, device="cpu", ema=True),
                             dcgan.noise(len(test), cfg.nz, seed=300))
    half = len(test) // 2
    for a in TAPS:
        real, fake = filtered(test[:half], a), filtered(samples, a)
        print(json.dumps({"a": round(a, 4),
                          "real_colour": round(metrics.spectral_distance(real, test[half:], "chroma"), 3),
                          "real_brightness": round(metrics.spectral_distance(real, test[half:], "gray"), 4),
                          "samples_colour": round(metrics.spectral_distance(fake, test, "chroma"), 3),
                          "samples_brightness": round(metrics.spectral_distance(fake, test, "gray"), 4)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
