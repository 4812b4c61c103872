"""What CycleGAN and CartoonGAN share: their config fields (with the report's extra losses), A/B data,
batches of A paired with a shuffled stream of B, and the paired metrics logged after each epoch.

A = photos (Thumbs), B = anime (Faces). On the synthetic data every held-out photo has a ground-truth anime
rendering, so a translation is measured against it (L1/PSNR/SSIM) beside the do-nothing baseline.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from animelib.config import Config
from animelib.data import floor_set, load_translation_data
from animelib.data.edges import edge_promoted
from animelib.data.tensors import DeviceImages, index_batches, num_batches
from animelib.errors import ConfigError
from animelib.losses import total_variation
from animelib.metrics import paired_metrics, quality_floors, quality_measures
from animelib.nets.blocks import colour_filter
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
    # what one epoch is: "larger", one pass over the larger domain (as common CycleGAN code counts it, and the
    # report's most likely reading: 51,223 anime faces at batch 128 = 400 steps); "A", one pass over the photos
    # (3,666: 28 steps). Equal-sized domains (the smoke and quick profiles) give the same epochs either way.
    epoch_over: str = "larger"
    # levers beyond the report's recipe (the defaults are the report's): named in captions when changed
    d_lr_scale: float = 1.0  # the discriminators' learning rate is lr * d_lr_scale (separate rates for G and D)
    tv_weight: float = 0.0  # total variation of the translations in G's loss (losses.total_variation): no speckle

    DATA_FIELDS: ClassVar[tuple[str, ...]] = ("num_a", "num_b")
    LEVERS: ClassVar[dict[str, str]] = {
        **Config.LEVERS,
        "d_lr_scale": "discriminator learning rate = lr x this",
        "tv_weight": "total-variation penalty on the translations",
        "upsample": "generator up-sampling (report: 'up-sampling convolution layers', read as transposed convs)",
    }
    REMOVED_LEVERS: ClassVar[dict[str, Any]] = {
        **Config.REMOVED_LEVERS, "d_every": 1, "diffaugment": "", "d_spectral_norm": False, "tv_chroma_weight": 0.0,
        "blotch_fakes": 0.0, "blotch_luma": 0.0, "colour_anchor": 0.0, "input_colour": None,
    }

    def __post_init__(self):
        super().__post_init__()
        if self.image_size % 4:
            raise ConfigError(f"image_size={self.image_size} must be a multiple of 4 (two stride-2 layers)")
        if self.epoch_over not in ("larger", "A"):
            raise ConfigError(f"epoch_over={self.epoch_over!r} is not 'larger' or 'A'")
        if self.vgg_weights not in ("imagenet", "allow-substitute"):
            raise ConfigError(f"vgg_weights={self.vgg_weights!r} is not 'imagenet' or 'allow-substitute'")
        for name in ("landmark_weight", "gray_weight", "color_weight", "vgg_width"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must not be negative")
        if self.tv_weight < 0:
            raise ConfigError(f"tv_weight={self.tv_weight!r} must not be negative")
        if self.d_lr_scale <= 0:
            raise ConfigError(f"d_lr_scale={self.d_lr_scale!r} must be positive")

    @property
    def extra_losses(self) -> tuple[str, ...]:
        return tuple(n for n in EXTRA_LOSSES if getattr(self, f"{n}_loss"))


class TranslationGenerator(nn.Module):
    """What CycleGAN's and CartoonGAN's generators share after their own layers (``self.net``, set by the subclass):
    the colour levers as fixed last steps (:func:`~animelib.nets.blocks.colour_filter`), the same in training and
    sampling."""

    def __init__(self, chroma_blur: float = 0.0, chroma_median: int = 0):
        super().__init__()
        self.chroma = colour_filter(chroma_blur, chroma_median)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out if self.chroma is None else self.chroma(out)


class TranslationTrainer(Trainer):
    """A/B data, held-out pairs, and the paired metrics of ``G_A2B(A)`` after each evaluated epoch."""

    images_e: DeviceImages | None = None  # edge-promoted training B images, aligned with images_b (load_edges)

    def load_data(self) -> dict[str, str]:
        """Train and held-out A and B; returns the data note for the run folder (real folders' summaries)."""
        self.data = load_translation_data(self.cfg, progress=self.progress, split="val")  # figures: the test split
        self.images_a = DeviceImages(self.data.train_a.images, self.device, self.cfg.channels_last)
        self.images_b = DeviceImages(self.data.train_b.images, self.device, self.cfg.channels_last)
        # a second real anime set for the quality measures' real-vs-real floors (real folders: halves of test_b)
        self.floor_images = floor_set("faces", self.cfg.image_size, len(self.data.test_b), self.cfg.data_dir,
                                      self.cfg.data_seed)
        self.floors: dict[str, float] | None = None
        notes = self.data.train_a.notes + self.data.train_b.notes
        return {"data.txt": "\n".join(notes)} if notes else {}

    def load_edges(self) -> DeviceImages:
        """The edge-promoted copies of the training B images (cached; aligned with ``images_b``)."""
        key = f"{self.cfg.data_dir or 'synthetic'}-{self.cfg.image_size}"
        edges = edge_promoted(self.data.train_b.images, key=key, progress=self.progress)
        return DeviceImages(edges, self.device, self.cfg.channels_last)

    def load_vgg(self) -> tuple[VGGFeatures, dict[str, str]]:
        """VGG19 features (or the allowed substitute), and a note naming which, for the run folder's captions."""
        vgg = load_vgg19(self.cfg, self.device)
        return vgg, {"vgg.txt": vgg.note}

    def tv_log(self, *pairs: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The total-variation lever's term summed over the translations of the ``(input, translation)`` pairs:
        ``loss_tv`` when ``cfg.tv_weight`` is on, else nothing (and nothing computed). :meth:`tv_penalty` weights it
        for G's loss."""
        log = {}
        if self.cfg.tv_weight:
            log["loss_tv"] = sum(total_variation(t) for _, t in pairs)
        return log

    def tv_penalty(self, log: dict[str, torch.Tensor]) -> torch.Tensor | float:
        """The weighted term of :meth:`tv_log` (0 when the lever is off)."""
        return self.cfg.tv_weight * log.get("loss_tv", 0.0)

    def tv_names(self) -> tuple[str, ...]:
        """The loss names :meth:`tv_log` logs under this config."""
        return ("loss_tv",) if self.cfg.tv_weight else ()

    def d_adam(self, params) -> torch.optim.Adam:
        """Adam for discriminators, at ``lr * cfg.d_lr_scale``."""
        return self.adam(params, lr=self.cfg.lr * self.cfg.d_lr_scale)

    def epoch_length(self) -> int:
        """Training pairs per epoch: one pass over A, or over the larger domain (``cfg.epoch_over``)."""
        return len(self.images_a) if self.cfg.epoch_over == "A" else max(len(self.images_a), len(self.images_b))

    def steps_per_epoch(self) -> int:
        return num_batches(self.epoch_length(), self.cfg.batch_size)

    def index_pairs(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of index batches into A and B, each from a stream of shuffled passes over its domain."""
        batches = index_batches(torch.arange(self.epoch_length()), self.cfg.batch_size)
        need = sum(len(b) for b in batches)
        order_a, order_b = (torch.cat([images.permutation(self.rng) for _ in range(-(-need // len(images)))])
                            for images in (self.images_a, self.images_b))
        for positions in batches:
            positions = positions.to(order_a.device)
            yield order_a[positions], order_b[positions]

    def batches(self):
        """A and B; when the trainer loaded edges (``load_edges``), also the edge-promoted copies of the same B."""
        for idx_a, idx_b in self.index_pairs():
            if self.images_e is None:
                yield self.images_a[idx_a], self.images_b[idx_b]
            else:
                yield self.images_a[idx_a], self.images_b[idx_b], self.images_e[idx_b]

    def end_epoch(self) -> None:
        """Every ``metrics_every`` epochs (and at epoch 0 and the end): the model's translations of held-out A."""
        if self.epoch % self.cfg.metrics_every and not self.finished:
            return
        fake_b = translate_images(self.sampler(self.generators[0]), self.data.test_a.images)
        self.run.save_samples("test_A2B", self.epoch, fake_b[:16])
        self.run.log({"event": "metrics", "epoch": self.epoch, "step": self.step, **self.evaluate(fake_b)})

    def evaluate(self, fake_b) -> dict[str, float]:
        """Translations ``fake_b`` of the held-out photos A: against held-out real anime B (offline quality measures,
        with their real-vs-real floors) and, on synthetic pairs, against the ground-truth anime rendering
        (``A2B_*``), beside the do-nothing baseline A against the same truth (``identity_*``) and G_A2B(A) against
        its own input (``input_*``)."""
        test_a, test_b = self.data.test_a.images, self.data.test_b.images
        record: dict[str, float] = {}
        if min(len(fake_b), len(test_b)) >= 4:
            if self.floors is None:  # depend on the real images only: measured once
                self.floors = quality_floors(test_b, self.floor_images)
            record.update(quality_measures(fake_b, test_b, floors=self.floors))
        if self.data.paired:
            truth = self.data.test_b_true
            pairs = {"A2B": (fake_b, truth), "identity": (test_a, truth), "input": (fake_b, test_a)}
            for prefix, (x, y) in pairs.items():
                record.update({f"{prefix}_{k}": v for k, v in paired_metrics(x, y).items()})
        return record
