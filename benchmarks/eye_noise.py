"""How busy the colour of a translation's eyes is, against the anime truth's eyes (issue 20: the eyes' colour noise).

The held-out synthetic photos come with their faces' landmarks, so the eyes can be cut out of G(A) and of the
truth at the same place: a square of ``--patch`` pixels (at 64 px: 14, a little more than an anime eye) around
each eye. In each square the colour's total variation (``animelib.losses.total_variation`` of Cb and Cr) measures
how much the colour changes from pixel to pixel; its ratio to the truth's says whether the translation's eyes are
as busy as a drawn anime eye (1), busier (colour confetti: above 1) or flatter (below 1). The rest of the image
(the eye squares masked out) gets the same ratio, so eye noise and background noise can be told apart. A second
number per region is the mean absolute colour difference to the truth (a wrong iris colour raises it, confetti
too). The last number, ``coarse_colour_diff``, compares the colour layout alone: the mean absolute difference of
Cb and Cr averaged over an 8 x 8 grid of blocks (``animelib.losses.coarse_colour_l1``, what the ``colour_anchor``
lever ties to the input), so a background or hair painted in a colour of its own raises it and confetti does not.

    ANIMELIB_OFFLINE=1 PYTHONPATH=. python benchmarks/eye_noise.py RUN_DIR [RUN_DIR ...] [--live]

Each RUN_DIR is a CycleGAN or CartoonGAN run on the synthetic avatars (``make figures``' runs/cyclegan-quick-s0,
or a screen's ``--keep`` folder). One line per run; the identity baseline (G(A) = A) and a floor
(each face's truth against another face's, the same squares: a drawn eye of a random colour) are printed first.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from animelib.data import load_translation_data
from animelib.losses import chroma, coarse_colour_l1, total_variation
from animelib.models import load_generator, open_trained
from animelib.utils import to_tensor_images, translate_images


def eye_boxes(landmarks: np.ndarray, size: int, patch: int) -> list[list[tuple[int, int]]]:
    """Per image, the top-left corners of the squares around its two eyes (landmarks 0 and 1), kept inside."""
    boxes = []
    for points in landmarks:
        corners = []
        for x, y in points[:2]:
            corners.append((int(np.clip(round(y) - patch // 2, 0, size - patch)),
                            int(np.clip(round(x) - patch // 2, 0, size - patch))))
        boxes.append(corners)
    return boxes


def colour_busyness(images: np.ndarray, truth: np.ndarray, boxes, patch: int) -> dict[str, float]:
    """Colour total variation in the eye squares and elsewhere, and the mean colour difference to the truth."""
    images, truth = to_tensor_images(images), to_tensor_images(truth)
    c, t = chroma(images), chroma(truth)
    mask = torch.zeros(c.shape[0], 1, c.shape[2], c.shape[3])
    eyes_c, eyes_t = [], []
    for i, corners in enumerate(boxes):
        for top, left in corners:
            eyes_c.append(c[i, :, top:top + patch, left:left + patch])
            eyes_t.append(t[i, :, top:top + patch, left:left + patch])
            mask[i, :, top:top + patch, left:left + patch] = 1
    eyes_c, eyes_t = torch.stack(eyes_c), torch.stack(eyes_t)

    def masked_tv(x: torch.Tensor, keep: torch.Tensor) -> float:
        """``losses.total_variation`` over the neighbour pairs that both lie where ``keep`` is 1."""
        dy, dx = (x[:, :, 1:] - x[:, :, :-1]).abs(), (x[:, :, :, 1:] - x[:, :, :, :-1]).abs()
        ky, kx = keep[:, :, 1:] * keep[:, :, :-1], keep[:, :, :, 1:] * keep[:, :, :, :-1]
        return float((dy * ky).sum() / (ky.sum() * 2) + (dx * kx).sum() / (kx.sum() * 2))

    rest = 1 - mask
    return {"eye_tv": float(total_variation(eyes_c)), "eye_tv_truth": float(total_variation(eyes_t)),
            "eye_diff": float((eyes_c - eyes_t).abs().mean()),
            "rest_tv": masked_tv(c, rest), "rest_tv_truth": masked_tv(t, rest),
            "rest_diff": float(((c - t).abs() * rest).sum() / (rest.sum() * 2)),
            "coarse_diff": float(coarse_colour_l1(images, truth))}


def summary(name: str, m: dict[str, float]) -> dict:
    return {"run": name, "eye_tv_ratio": round(m["eye_tv"] / m["eye_tv_truth"], 3),
            "eye_colour_diff": round(m["eye_diff"], 4), "rest_tv_ratio": round(m["rest_tv"] / m["rest_tv_truth"], 3),
            "rest_colour_diff": round(m["rest_diff"], 4), "coarse_colour_diff": round(m["coarse_diff"], 4)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--patch", type=int, default=14, help="side of the square around each eye, at 64 px")
    parser.add_argument("--live", action="store_true", help="also the live generator (runs with an EMA)")
    args = parser.parse_args(argv)
    cfg, _, _ = open_trained(args.runs[0], device="cpu")
    data = load_translation_data(cfg, progress=False)
    if data.test_b_true is None or data.test_landmarks is None:
        raise SystemExit("eye_noise.py needs a run on the synthetic avatars (held-out truth and landmarks)")
    truth, size = data.test_b_true, data.test_b_true.shape[1]
    patch = max(4, round(args.patch * size / 64))
    boxes = eye_boxes(data.test_landmarks, size, patch)
    others = np.roll(truth, 1, axis=0)  # the floor: each truth against another face's
    print(json.dumps({"patch": patch, "images": len(truth), **summary("floor (truth of another face)",
                                                             colour_busyness(others, truth, boxes, patch))}))
    print(json.dumps(summary("identity (G(A) = A)", colour_busyness(data.test_a.images, truth, boxes, patch))))
    for run_dir in args.runs:
        for ema in (True, False) if args.live else (True,):
            fake = translate_images(load_generator(run_dir, device="cpu", ema=ema), data.test_a.images)
            label = f"{run_dir}" + ("" if ema else " (live)")
            print(json.dumps(summary(label, colour_busyness(fake, truth, boxes, patch))))


if __name__ == "__main__":
    main()
