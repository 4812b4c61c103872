"""Losses and the image pool shared by CycleGAN and CartoonGAN, including the report's extra losses."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from animelib.nets.blocks import luma
from animelib.nets.frozen import budget_for
from animelib.nets.landmarks import load_regressor


class ImagePool:
    """A history of generated images (Shrivastava et al.; CycleGAN's pool of 50).

    Until the pool is full every image goes in and comes back out. After that, each image is, with
    probability 1/2, swapped for a random stored one (the stored one is returned, the new one kept),
    else returned as it is. Randomness comes from the generator passed in, so a resumed run draws the same.
    """

    def __init__(self, size: int = 50):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=gen).item() < 0.5:
                i = int(torch.randint(len(self.images), (), generator=gen))
                out.append(self.images[i])
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        stored = torch.stack(self.images).cpu() if self.images else torch.zeros(0)
        return {"size": self.size, "images": stored}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        self.size = state["size"]
        self.images = [im.to(device) for im in state["images"]] if state["images"].numel() else []


def gan_loss(logits: torch.Tensor, real: bool, kind: str = "mse") -> torch.Tensor:
    """Least squares (CycleGAN) or binary cross entropy (DCGAN, CartoonGAN) towards real (1) or fake (0)."""
    target = torch.full_like(logits, 1.0 if real else 0.0)
    if kind == "mse":
        return F.mse_loss(logits, target)
    return F.binary_cross_entropy_with_logits(logits, target)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between vertically and between horizontally neighbouring pixels, summed:
    (N, C, H, W) -> a scalar. As a penalty it flattens speckle in flat regions and keeps edges (anime's flat
    colours with outlines are what it favours); the synthetic anime faces score about 0.25 on [-1, 1] images."""
    return ((images[:, :, 1:] - images[:, :, :-1]).abs().mean()
            + (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().mean())


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C), normalised by C * H * W."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(features_out: torch.Tensor, features_style: torch.Tensor) -> torch.Tensor:
    """L1 between Gram matrices; the style batch may differ in size from the output batch (batch means)."""
    return F.l1_loss(gram_matrix(features_out).mean(0), gram_matrix(features_style).mean(0))


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """RGB (N, 3, H, W) -> the luminance repeated in three channels (ITU-R BT.601 weights)."""
    return luma(images).expand(-1, 3, -1, -1)


def rgb_to_yuv(images: torch.Tensor) -> torch.Tensor:
    """RGB in [-1, 1] (N, 3, H, W) -> YUV (BT.601) of the [0, 1] image."""
    rgb = (images + 1) / 2
    m = images.new_tensor([[0.299, 0.587, 0.114], [-0.14714119, -0.28886916, 0.43601035],
                           [0.61497538, -0.51496512, -0.10001026]])
    return torch.einsum("ij,njhw->nihw", m, rgb)


def color_loss(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """YUV consistency (AnimeGAN): L1 on Y, Huber on U and V, between the input and its translation."""
    a, b = rgb_to_yuv(inputs), rgb_to_yuv(outputs)
    return F.l1_loss(b[:, 0], a[:, 0]) + F.huber_loss(b[:, 1], a[:, 1]) + F.huber_loss(b[:, 2], a[:, 2])


class ExtraLosses(nn.Module):
    """The report's extra losses, each switched on by the config: landmark, grayscale and colour.

    ``terms(inputs, outputs, style)`` returns the unweighted values of the switched-on losses;
    ``weighted(terms)`` their weighted sum. Landmarks come from a frozen regressor trained on the
    synthetic faces' exact landmarks; the grayscale loss needs VGG features (passed in as ``vgg``).
    """

    def __init__(self, cfg, device: torch.device, vgg: nn.Module | None = None, progress: bool = True):
        super().__init__()
        self.names = cfg.extra_losses
        self.weights = {n: getattr(cfg, f"{n}_weight") for n in self.names}
        self.vgg = vgg
        self.landmarks = None
        if "landmark" in self.names:
            self.landmarks = load_regressor(cfg.image_size, device=device, progress=progress,
                                            budget=budget_for(cfg.profile))
        if "gray" in self.names and vgg is None:
            raise ValueError("the grayscale loss needs VGG features: pass vgg=")

    def terms(self, inputs: torch.Tensor, outputs: torch.Tensor, style: torch.Tensor | None,
              vgg_out: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if "landmark" in self.names:
            with torch.no_grad():
                target = self.landmarks(inputs)
            out["loss_landmark"] = F.l1_loss(self.landmarks(outputs), target)
        if "gray" in self.names:
            with torch.no_grad():
                gray_style = self.vgg(grayscale(style))
            out["loss_gray"] = style_loss(vgg_out if vgg_out is not None else self.vgg(outputs), gray_style)
        if "color" in self.names:
            out["loss_color"] = color_loss(inputs, outputs)
        return out

    def weighted(self, terms: dict[str, torch.Tensor]) -> torch.Tensor | float:
        return sum((self.weights[k.removeprefix("loss_")] * v for k, v in terms.items()), 0.0)
