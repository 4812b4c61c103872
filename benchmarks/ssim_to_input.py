"""What SSIM to the input photo a translation can reach on the synthetic pairs (issue 20, CartoonGAN's target).

Scores images that need no training on the quick profile's 64 held-out photos: the anime ground truth itself,
the truth blurred by a Gaussian of a few tenths of a pixel to 2 px, and blends of photo and truth. Each row gives
L1 / PSNR / SSIM against the truth and SSIM to the input photo, so it shows where a perfect translation sits
(SSIM to its input 0.406 here) and what it takes to score higher: softening the drawing or copying part of the
photo into it.

    ANIMELIB_OFFLINE=1 PYTHONPATH=. python benchmarks/ssim_to_input.py
"""

from __future__ import annotations

import cv2
import numpy as np

from animelib import metrics
from animelib.data import load_translation_data
from animelib.models import config_class


def rows(photos: np.ndarray, truth: np.ndarray) -> list[tuple[str, np.ndarray]]:
    out = [("the photo itself (doing nothing)", photos), ("the anime truth", truth)]
    for sigma in (0.5, 0.7, 1.0, 1.5):
        out.append((f"the truth blurred, sigma {sigma} px",
                    np.stack([cv2.GaussianBlur(t, (0, 0), sigma) for t in truth])))
    for share in (0.1, 0.2, 0.3):
        blend = share * photos.astype(np.float64) + (1 - share) * truth
        out.append((f"{share:.0%} photo + {1 - share:.0%} truth", blend.round().astype(np.uint8)))
    return out


def main() -> None:
    data = load_translation_data(config_class("cartoongan").from_profile("quick"), progress=False)
    photos, truth = data.test_a.images, data.test_b_true
    print(f"{len(photos)} held-out synthetic photos and their anime truth ({photos.shape[1]} px)\n")
    print("| image | L1 to truth | PSNR | SSIM to truth | SSIM to input |")
    print("|---|---|---|---|---|")
    for name, images in rows(photos, truth):
        to_truth, to_input = metrics.paired_metrics(images, truth), metrics.paired_metrics(images, photos)
        psnr = "inf" if not np.isfinite(to_truth["psnr"]) else f"{to_truth['psnr']:.2f}"
        print(f"| {name} | {to_truth['l1']:.3f} | {psnr} | {to_truth['ssim']:.3f} | {to_input['ssim']:.3f} |")


if __name__ == "__main__":
    main()
