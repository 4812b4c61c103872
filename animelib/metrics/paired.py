"""Paired measures: each output against its ground truth (L1, PSNR, SSIM) and landmark error.

torchmetrics is imported inside the functions (a heavy import: about 2 s), so importing this module stays cheap.
"""

from __future__ import annotations

import numpy as np
import torch


def as_unit_tensor(images) -> torch.Tensor:
    """(N, H, W, 3) uint8 numpy or (N, 3, H, W) float in [-1, 1] -> (N, 3, H, W) float in [0, 1]."""
    if isinstance(images, np.ndarray):
        return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    return (images.detach().float().cpu().clamp(-1, 1) + 1) / 2


@torch.no_grad()
def paired_metrics(pred, target) -> dict[str, float]:
    """L1 (on [0, 1]), PSNR (dB) and SSIM between predictions and their ground truth (torchmetrics)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    p, t = as_unit_tensor(pred), as_unit_tensor(target)
    if p.shape != t.shape:
        raise ValueError(f"pred {tuple(p.shape)} and target {tuple(t.shape)} differ in shape")
    return {
        "l1": float((p - t).abs().mean()),
        "psnr": float(peak_signal_noise_ratio(p, t, data_range=1.0)),
        "ssim": float(structural_similarity_index_measure(p, t, data_range=1.0)),
    }


def per_image_paired(pred, target) -> dict[str, np.ndarray]:
    """{"l1", "psnr", "ssim"}: (N,) values per image (their means are :func:`paired_metrics`), for a paired
    bootstrap; PSNR of identical images is capped at 100 dB."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    p, t = as_unit_tensor(pred), as_unit_tensor(target)
    if p.shape != t.shape:
        raise ValueError(f"pred {tuple(p.shape)} and target {tuple(t.shape)} differ in shape")
    mse = (p - t).square().mean((1, 2, 3)).double()
    with torch.no_grad():
        ssim = structural_similarity_index_measure(p, t, data_range=1.0, reduction="none")
    return {"l1": (p - t).abs().mean((1, 2, 3)).double().numpy(),
            "psnr": (10 * torch.log10(1 / mse.clamp(min=1e-10))).numpy(), "ssim": ssim.double().numpy()}


def per_image_landmark_error(pred, true) -> np.ndarray:
    """(N,) mean Euclidean distance (pixels) over the landmarks of each image; (N, K, 2) each."""
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    if pred.shape != true.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"landmarks must both be (N, K, 2), got {pred.shape} and {true.shape}")
    return np.linalg.norm(pred - true, axis=-1).mean(1)



def roll_degrees(landmarks) -> np.ndarray:
    """(N,) head roll in degrees from (N, 5, 2) landmarks: the angle of the line from the left to the right eye."""
    marks = np.asarray(landmarks, np.float64)
    d = marks[:, 1] - marks[:, 0]
    return np.degrees(np.arctan2(d[:, 1], d[:, 0]))


def landmark_error(pred: torch.Tensor | np.ndarray, true: torch.Tensor | np.ndarray) -> float:
    """Mean Euclidean distance (pixels) between predicted and true landmarks, (N, 5, 2) each."""
    pred, true = torch.as_tensor(pred, dtype=torch.float32), torch.as_tensor(true, dtype=torch.float32)
    return float((pred - true).norm(dim=-1).mean())

