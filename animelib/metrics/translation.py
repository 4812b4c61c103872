"""Every translation measure for one model on the same held-out inputs: :func:`evaluate_translation`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from animelib.metrics.inception import fid_kid
from animelib.metrics.paired import as_unit_tensor, landmark_error, paired_metrics


def _translate(translate_fn: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch_size: int) -> np.ndarray:
    out = []
    for i in range(0, len(images), batch_size):
        chunk = images[i:i + batch_size]
        y = np.asarray(translate_fn(chunk))
        if y.shape != chunk.shape or y.dtype != np.uint8:
            raise ValueError(f"translate_fn must map (N, H, W, 3) uint8 to the same shape and dtype; got "
                             f"{chunk.shape} uint8 -> {y.shape} {y.dtype}")
        out.append(y)
    return np.concatenate(out)


@torch.no_grad()
def _landmarks(regressor: nn.Module, images: np.ndarray, batch_size: int = 64) -> torch.Tensor:
    device = next(regressor.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        x = as_unit_tensor(images[i:i + batch_size]).mul(2).sub(1).to(device)  # (B, 3, S, S) in [-1, 1]
        out.append(regressor(x).float().cpu())  # (B, 5, 2) pixels
    return torch.cat(out)


def evaluate_translation(translate_fn: Callable[[np.ndarray], np.ndarray] | None, test_a: np.ndarray, truth=None,
                         landmarks=None, regressor: nn.Module | None = None, real_b=None,
                         feature: nn.Module | None = None, batch_size: int = 64, device="cpu",
                         outputs: np.ndarray | None = None) -> dict[str, Any]:
    """Every translation metric for one model on the same held-out inputs ``test_a`` ((N, H, W, 3) uint8).

    ``translate_fn`` is called on chunks of ``batch_size`` inputs and must return uint8 images of the same shape;
    translations made already can be passed as ``outputs`` instead (``translate_fn=None``).

    - ``truth`` (the same faces rendered in the target style): paired ``l1``/``psnr``/``ssim``, and
      ``identity_l1``/``identity_psnr``/``identity_ssim`` of the untranslated inputs (the do-nothing baseline).
    - ``landmarks`` ((N, 5, 2) pixels): ``landmark_error`` of the regressor on the outputs, and
      ``landmark_error_truth``, its error on ``truth`` (the floor a perfect translation would reach).
    - ``real_b`` (real target-domain images): ``fid``/``kid_mean``/``kid_std`` of the outputs (None offline,
      with a ``note``).
    """
    test_a = np.asarray(test_a)
    if outputs is None:
        outputs = _translate(translate_fn, test_a, batch_size)
    elif outputs.shape != test_a.shape:
        raise ValueError(f"outputs {outputs.shape} and test_a {test_a.shape} differ in shape")
    result: dict[str, Any] = {"n": len(test_a), "size": int(test_a.shape[1])}
    if truth is not None:
        truth = np.asarray(truth)
        result.update(paired_metrics(outputs, truth))
        # doing nothing (output = input) as a baseline: a translation should beat it
        result.update({f"identity_{k}": v for k, v in paired_metrics(test_a, truth).items()})
    if landmarks is not None:
        if regressor is None:
            raise ValueError("landmarks given without a regressor to read the outputs' landmarks")
        result["landmark_error"] = landmark_error(_landmarks(regressor, outputs), landmarks)
        if truth is not None:
            result["landmark_error_truth"] = landmark_error(_landmarks(regressor, truth), landmarks)
    if real_b is not None:  # the feature nets keep their own batch size: batch_size is translate_fn's
        result.update(fid_kid(real_b, outputs, feature=feature, device=device))
    return result

