"""Measured evaluation: paired metrics against the synthetic ground truth, landmark error, FID/KID."""

from __future__ import annotations

import numpy as np
import torch


def _unit(images) -> torch.Tensor:
    """(N, H, W, 3) uint8 numpy or (N, 3, H, W) float in [-1, 1] -> (N, 3, H, W) float in [0, 1]."""
    if isinstance(images, np.ndarray):
        return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    return (images.detach().float().cpu().clamp(-1, 1) + 1) / 2


@torch.no_grad()
def paired_metrics(pred, target) -> dict[str, float]:
    """L1 (on [0, 1]), PSNR (dB) and SSIM between predictions and their ground truth (torchmetrics)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    p, t = _unit(pred), _unit(target)
    if p.shape != t.shape:
        raise ValueError(f"pred {tuple(p.shape)} and target {tuple(t.shape)} differ in shape")
    return {
        "l1": float((p - t).abs().mean()),
        "psnr": float(peak_signal_noise_ratio(p, t, data_range=1.0)),
        "ssim": float(structural_similarity_index_measure(p, t, data_range=1.0)),
    }


def landmark_error(pred: torch.Tensor | np.ndarray, true: torch.Tensor | np.ndarray) -> float:
    """Mean Euclidean distance (pixels) between predicted and true landmarks, (N, 5, 2) each."""
    pred, true = torch.as_tensor(pred, dtype=torch.float32), torch.as_tensor(true, dtype=torch.float32)
    return float((pred - true).norm(dim=-1).mean())
