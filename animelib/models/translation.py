"""What CycleGAN and CartoonGAN share: their config fields (with the report's extra losses), A/B data,
batches of A paired with a shuffled stream of B, and the paired metrics logged after each epoch.

A = photos (Thumbs), B = anime (Faces). On the synthetic data every held-out photo has a ground-truth anime
rendering, so a translation is measured against it (L1/PSNR/SSIM) beside the do-nothing baseline.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from animelib.config import Config
from animelib.data import load_translation_data
from animelib.data.tensors import DeviceImages
from animelib.errors import ConfigError
from animelib.metrics import paired_metrics
from animelib.nets.vgg import VGGFeatures, load_vgg19
from animelib.training import Trainer
from animelib.utils import translate_images

EXTRA_LOSSES = ("landmark", "gray", "color")


@dataclass(frozen=True)
class TranslationConfig(Config):
    """Fields shared by CycleGAN and CartoonGAN, including the report's three extra losses."""

    ngf: int = 32
    ndf: int = 32
    n_blocks: int = 4
    num_a: int = 3_666  # photos (report: Thumbs, 3,666)
    num_b: int = 51_223  # anime faces (report: Faces, 51,223)
    landmark_loss: bool = False  # face landmark loss (after Wu et al.)
    landmark_weight: float = 1.0
    gray_loss: bool = False  # Gram loss against the grayscale target style (AnimeGAN)
    gray_weight: float = 1.0
    color_loss: bool = False  # YUV colour consistency between input and output (AnimeGAN)
    color_weight: float = 1.0
    vgg_weights: str = "imagenet"  # "imagenet": torchvision's VGG19; "allow-substitute": fall back offline
    vgg_width: float = 1.0  # substitute VGG only: fraction of VGG19's channels (cheaper on a CPU)

    DATA_FIELDS: ClassVar[tuple[str, ...]] = ("num_a", "num_b")

    def __post_init__(self):
        super().__post_init__()
        if self.image_size % 4:
            raise ConfigError(f"image_size={self.image_size} must be a multiple of 4 (two stride-2 layers)")
        if self.vgg_weights not in ("imagenet", "allow-substitute"):
            raise ConfigError(f"vgg_weights={self.vgg_weights!r} is not 'imagenet' or 'allow-substitute'")
        for name in ("landmark_weight", "gray_weight", "color_weight", "vgg_width"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must not be negative")

    @property
    def extra_losses(self) -> tuple[str, ...]:
        return tuple(n for n in EXTRA_LOSSES if getattr(self, f"{n}_loss"))


class TranslationTrainer(Trainer):
    """A/B data, held-out pairs, and the paired metrics of ``G_A2B(A)`` after each evaluated epoch."""

    def load_data(self) -> dict[str, str]:
        """Train and held-out A and B; returns the data note for the run folder (real folders' summaries)."""
        self.data = load_translation_data(self.cfg, progress=self.progress)
        self.images_a = DeviceImages(self.data.train_a.images, self.device, self.cfg.channels_last)
        self.images_b = DeviceImages(self.data.train_b.images, self.device, self.cfg.channels_last)
        notes = self.data.train_a.notes + self.data.train_b.notes
        return {"data.txt": "\n".join(notes)} if notes else {}

    def load_vgg(self) -> tuple[VGGFeatures, dict[str, str]]:
        """VGG19 features (or the allowed substitute), and a note naming which, for the run folder's captions."""
        vgg = load_vgg19(self.cfg, self.device)
        return vgg, {"vgg.txt": vgg.note}

    def steps_per_epoch(self) -> int:
        return self.images_a.num_batches(self.cfg.batch_size)

    def index_pairs(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass over A in batches; B indices come from a shuffled stream of B of the same length."""
        batches_a = self.images_a.batch_indices(self.cfg.batch_size, self.rng)
        need = sum(len(b) for b in batches_a)
        order_b = torch.cat([self.images_b.permutation(self.rng) for _ in range(-(-need // len(self.images_b)))])
        pos = 0
        for idx_a in batches_a:
            yield idx_a, order_b[pos:pos + len(idx_a)]
            pos += len(idx_a)

    def batches(self):
        for idx_a, idx_b in self.index_pairs():
            yield self.images_a[idx_a], self.images_b[idx_b]

    def log_paired_metrics(self, G_A2B: nn.Module) -> None:
        """On synthetic held-out pairs: G_A2B(A) against the ground-truth anime rendering (``A2B_*``), the identity
        baseline A against the same truth (``identity_*``), and G_A2B(A) against its own input (``input_*``)."""
        if not self.data.paired or self.epoch % self.cfg.metrics_every and not self.finished:
            return
        test_a, truth = self.data.test_a.images, self.data.test_b_true
        fake_b = translate_images(G_A2B, test_a)
        self.run.save_samples("test_A2B", self.epoch, fake_b[:16])
        record = {"event": "metrics", "epoch": self.epoch, "step": self.step}
        for prefix, (x, y) in {"A2B": (fake_b, truth), "identity": (test_a, truth), "input": (fake_b, test_a)}.items():
            record.update({f"{prefix}_{k}": v for k, v in paired_metrics(x, y).items()})
        self.run.log(record)
