"""DCGAN (report 3.2 and 4.1): networks, training, sampling and latent interpolation.

Generator, as the report's text describes it::

    z (100) -> ConvT 512x4x4 -> ConvT 256x8x8 -> ConvT 128x16x16 -> ConvT 64x32x32
            -> Conv 3x32x32 ("extra layer", size preserving) -> ConvT 3x64x64 -> tanh

with batch norm and leaky ReLU after every conv but the last. The discriminator mirrors it, with a
channel- and size-preserving conv at 512x4x4 and a final conv to 1x1x1 (no fully connected layer).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from animelib.config import Config
from animelib.data import ImageSet, floor_set, load_domain
from animelib.data.tensors import DeviceImages
from animelib.errors import ConfigError
from animelib.metrics import fid_kid, nearest_neighbour_distance, quality_floors, quality_measures
from animelib.nets.blocks import ConvBlock, colour_filter, init_dcgan_weights, recalibrate_batchnorm
from animelib.recipes import init_upsampling_mix, linear_decay, r1_penalty
from animelib.runs import Run
from animelib.training import ModelSpec, Trainer
from animelib.utils import to_uint8_images

COLLAPSE_DIVERSITY = 0.8  # structure diversity (of the real images') below which samples count as collapsing
D_WINS = 0.05  # mean D(G(z)) over an epoch below which the discriminator wins outright
R1_EVERY = 4  # steps between R1 penalties (lazy regularisation, as StyleGAN2 does)


@dataclass(frozen=True)
class DCGANConfig(Config):
    """DCGAN (report 3.2, 4.1): 100-d noise to 3x64x64; BCE; Adam lr 3e-4, batch 128, 100 epochs."""

    nz: int = 100  # length of the noise vector
    ngf: int = 64  # generator width: channels of the last hidden layer (512 = 8 * ngf at 4x4)
    ndf: int = 64  # discriminator width: channels of the first layer
    num_train: int = 115_087  # training images (report: Anime, 115,087)
    num_fixed: int = 64  # fixed-noise batch drawn at every epoch (fig6c)
    noise_seed: int = 1234  # seed of the fixed noise's own generator
    real_label: float = 1.0  # BCE target for real images; 0.9 = one-sided label smoothing (Salimans et al.)
    extra_layer: str = "report"  # "report": the extra layer outputs 3 channels; "wide": it keeps ngf (see Generator)
    r1_gamma: float = 0.0  # R1 penalty on D at real images (Mescheder et al.), every R1_EVERY steps; 0: off
    lr_decay_start: int = 0  # epoch from which both learning rates fall linearly towards 0 at the end; 0: constant

    MODEL: ClassVar[str] = "dcgan"
    LEVERS: ClassVar[dict[str, str]] = {**Config.LEVERS, "real_label": "one-sided label smoothing",
                                        "extra_layer": "the extra layer keeps ngf channels",
                                        "r1_gamma": "R1 penalty on the discriminator",
                                        "lr_decay_start": "learning rates fall linearly from this epoch",
                                        "upsample": "generator up-sampling (report: transposed convs)"}
    DATA_FIELDS: ClassVar[tuple[str, ...]] = ("num_train",)
    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": dict(ngf=8, ndf=8, batch_size=16, epochs=2, num_train=64, num_fixed=16, num_test=16,
                      extra_layer="wide", r1_gamma=1.0, ema=0.999, chroma_blur=1 / 6),  # quick recipe paths, float32
        # quick: a narrower discriminator and one-sided label smoothing keep it from winning outright in the few
        # hundred steps a CPU can afford; bf16 autocast and channels-last buy 1.5x the steps; the wide extra layer
        # removes the colour speckle, R1 and learning rates falling over the last 6 of the 21 epochs calm the colour
        # swings, and samples come from a short moving average of G's weights (0.95: about the last 20 steps; 0.999
        # blurred the finest detail), and batches of 32 give twice the steps over the same images (sharper, a little
        # less colour speckle, in about the same time); 21 epochs rather than 18 lowered the brightness spectral
        # distance on three seeds (docs/recipe.md: each lever measured, and the fixed colour low-pass that the
        # validation split dropped); the quality measures every third epoch (each evaluation of 1,024 samples: 5 s)
        "quick": dict(ngf=32, ndf=16, batch_size=32, epochs=21, num_train=4_096, num_test=1_024, real_label=0.9,
                      amp=True, channels_last=True, extra_layer="wide", r1_gamma=1.0, lr_decay_start=15, ema=0.95,
                      metrics_every=3),
        "full": dict(num_test=2_048, metrics_every=5, channels_last=True),  # the report as written (docs/recipe.md)
    }
    # real anime faces: a 5 x 5 median on the colour after a fixed [1, 4, 1] / 6 low-pass clears colour fringes of
    # hair and eyes (on real-dev's validation split, mean of three seeds: colour spectral 0.371 -> 0.077 (3 x 3:
    # 0.187), spectral 0.084 -> 0.111); on the embedded avatars a 3 x 3 one already doubles their colour spectral
    # distance, so only real folders get it. The low-pass stays on real folders: the median was chosen with it
    REAL_FOLDERS: ClassVar[dict[str, dict[str, Any]]] = {"quick": dict(chroma_blur=1 / 6, chroma_median=5)}

    def __post_init__(self):
        super().__post_init__()
        if self.image_size != 64:
            raise ConfigError(f"image_size={self.image_size} : the report's DCGAN makes 64x64 images only")
        if self.profile == "full" and (self.ngf, self.ndf) != (64, 64):
            raise ConfigError("ngf and ndf stay 64 in the full profile (the report's widths)")
        if self.extra_layer not in ("report", "wide"):
            raise ConfigError(f"extra_layer={self.extra_layer!r} is not 'report' or 'wide'")
        if self.r1_gamma < 0:
            raise ConfigError(f"r1_gamma={self.r1_gamma!r} must not be negative")
        if self.lr_decay_start < 0:
            raise ConfigError(f"lr_decay_start={self.lr_decay_start!r} must be at least 0 (0: off; at or past the "
                              "last epoch: no decay happens)")
        if self.r1_gamma and self.compile:
            raise ConfigError(f"r1_gamma={self.r1_gamma} needs a double backward, which compile=True (torch.compile) "
                              "does not support: set one of them off")


class Generator(nn.Module):
    """``extra_layer``: "report", the size-preserving extra layer outputs 3 channels as the report writes; "wide",
    it keeps ``ngf`` channels and the last transposed conv maps them to 3 (as DCGAN code with extra layers
    usually reads it)."""

    def __init__(self, nz: int = 100, ngf: int = 64, extra_layer: str = "report", chroma_blur: float = 0.0,
                 chroma_median: int = 0, upsample: str = "transposed"):
        super().__init__()
        self.nz = nz
        extra = 3 if extra_layer == "report" else ngf

        def up(cin: int, cout: int, **kw) -> ConvBlock:  # one doubling layer: 4 x 4 transposed, or nearest + 3 x 3
            resize = upsample == "resize"
            return ConvBlock(cin, cout, 3 if resize else 4, 2, 1, transposed=True, resize=resize, **kw)

        self.net = nn.Sequential(
            ConvBlock(nz, ngf * 8, 4, 1, 0, transposed=True, norm="batch", act="lrelu"),  # (N, 512, 4, 4)
            up(ngf * 8, ngf * 4, norm="batch", act="lrelu"),  # (N, 256, 8, 8)
            up(ngf * 4, ngf * 2, norm="batch", act="lrelu"),  # (N, 128, 16, 16)
            up(ngf * 2, ngf, norm="batch", act="lrelu"),  # (N, 64, 32, 32)
            ConvBlock(ngf, extra, 3, 1, 1, norm="batch", act="lrelu"),  # extra layer (N, 3 or ngf, 32, 32)
            up(extra, 3, act="tanh"),  # (N, 3, 64, 64) in (-1, 1)
        )
        self.chroma = colour_filter(chroma_blur, chroma_median)  # the colour levers (Config)
        init_dcgan_weights(self)
        if upsample == "resize":  # nearest up-sampling then a conv: no checkerboard to start from
            return
        if extra == 3:
            init_bilinear(self.net[-1][0])
        else:  # a random channel mix, each tap tied to the bilinear kernel: no checkerboard at the start
            init_upsampling_mix(self.net[-1][0])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:  # (N, 100) -> (N, 100, 1, 1)
            z = z[:, :, None, None]
        out = self.net(z)
        return out if self.chroma is None else self.chroma(out)


def init_bilinear(layer: nn.ConvTranspose2d) -> None:
    """Start a stride-2 transposed conv as per-channel bilinear up-sampling (as FCN initialised its up-sampling).

    The report's last layer reads only the 3 channels of the "extra layer". With DCGAN's N(0, 0.02) it starts
    as an almost constant grey, and with any random init as a checkerboard of noise that the discriminator
    rejects at once; measured here, neither learned faces in 300 steps. Starting as bilinear up-sampling makes
    the 3x32x32 map a small image from the first step, and faces appear within a few hundred steps.
    """
    k = layer.kernel_size[0]
    factor = (k + 1) // 2
    centre = factor - 1 if k % 2 == 1 else factor - 0.5
    taps = 1 - (torch.arange(k, dtype=torch.float32) - centre).abs() / factor  # (0.25, 0.75, 0.75, 0.25)
    with torch.no_grad():
        layer.weight.zero_()
        for c in range(min(layer.in_channels, layer.out_channels)):
            layer.weight[c, c] = torch.outer(taps, taps)
        if layer.bias is not None:
            layer.bias.zero_()


class Discriminator(nn.Module):
    def __init__(self, ndf: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            ConvBlock(3, ndf, 4, 2, 1, act="lrelu"),  # (N, 64, 32, 32)
            ConvBlock(ndf, ndf * 2, 4, 2, 1, norm="batch", act="lrelu"),  # (N, 128, 16, 16)
            ConvBlock(ndf * 2, ndf * 4, 4, 2, 1, norm="batch", act="lrelu"),  # (N, 256, 8, 8)
            ConvBlock(ndf * 4, ndf * 8, 4, 2, 1, norm="batch", act="lrelu"),  # (N, 512, 4, 4)
            ConvBlock(ndf * 8, ndf * 8, 3, 1, 1, norm="batch", act="lrelu"),  # extra layer (N, 512, 4, 4)
            ConvBlock(ndf * 8, 1, 4, 1, 0),  # (N, 1, 1, 1) logits
        )
        init_dcgan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()  # (N,) logits; BCE is applied with the sigmoid folded in


class DCGANTrainer(Trainer):
    """D on real and fake (BCE), then G to make D call its fakes real; a fixed noise batch every epoch."""

    loss_names = ("loss_G", "loss_D", "D_x", "D_G_z")
    generators = ("G",)

    def build(self) -> dict[str, str]:
        cfg = self.cfg
        train, test = load_data(cfg, self.progress, split="val")  # measured on validation; figures use test
        self.train_images, self.held_images = train.images, test.images  # (N, 64, 64, 3) uint8, for metrics
        self.images = DeviceImages(train.images, self.device, cfg.channels_last)
        self.G = build_generator(cfg).to(self.device)
        self.D = Discriminator(cfg.ndf).to(self.device)
        self.nets = {"G": self.G, "D": self.D}
        self.optimizers = {"G": self.adam(self.G.parameters()), "D": self.adam(self.D.parameters())}
        if cfg.lr_decay_start:
            self.schedulers = {k: torch.optim.lr_scheduler.LambdaLR(o, linear_decay(cfg.lr_decay_start, cfg.epochs))
                               for k, o in self.optimizers.items()}
        self.fixed_noise = noise(cfg.num_fixed, cfg.nz, cfg.noise_seed)
        # a second real set for the quality measures' real-vs-real floors (else halves of the held-out set)
        self.floor_images = floor_set("anime", cfg.image_size, len(test.images), cfg.data_dir, cfg.data_seed)
        self.floors: dict[str, float] | None = None
        self._labels: tuple[torch.Tensor, ...] | None = None  # BCE targets, made once per batch size
        return {"data.txt": "\n".join(train.notes)} if train.notes else {}

    def steps_per_epoch(self) -> int:
        return self.images.num_batches(self.cfg.batch_size)

    def batches(self):
        return self.images.batches(self.cfg.batch_size, self.rng)

    def labels(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """BCE targets for a batch of ``n``: real (maybe smoothed), fake and the generator's "real" (cached)."""
        if self._labels is None or len(self._labels[0]) != n:
            ones = torch.ones(n, device=self.device)
            self._labels = (ones * self.cfg.real_label, torch.zeros(n, device=self.device), ones)
        return self._labels

    def train_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        real_target, fake_target, g_target = self.labels(real.shape[0])
        z = self.randn(real.shape[0], self.cfg.nz)
        with self.autocast():
            fake = self.G(z)  # (N, 3, 64, 64)
            # phase 1: the discriminator on real and (detached) fake images
            out_real = self.D(real)
            out_fake = self.D(fake.detach())
            loss_D = F.binary_cross_entropy_with_logits(out_real, real_target) + \
                F.binary_cross_entropy_with_logits(out_fake, fake_target)
        if self.cfg.r1_gamma and self.step % R1_EVERY == 0:  # lazy R1: every R1_EVERY steps, weighted by it
            with self.autocast():
                loss_D = loss_D + self.cfg.r1_gamma / 2 * R1_EVERY * r1_penalty(self.D, real)
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss_D.backward()
        self.optimizers["D"].step()
        # phase 2: the generator, to make the discriminator call its images real
        with self.autocast():
            loss_G = F.binary_cross_entropy_with_logits(self.D(fake), g_target)
        self.optimizers["G"].zero_grad(set_to_none=True)
        loss_G.backward()
        self.optimizers["G"].step()
        return {"loss_G": loss_G, "loss_D": loss_D,
                "D_x": torch.sigmoid(out_real.detach()).mean(), "D_G_z": torch.sigmoid(out_fake.detach()).mean()}

    def end_epoch(self) -> None:
        # exact batch-norm statistics for sampling, from noise of its own (the training RNG is not touched)
        G = self.sampler("G")
        g = torch.Generator().manual_seed(self.cfg.noise_seed + 2)
        recalibrate_batchnorm(G, (torch.randn(self.cfg.batch_size, self.cfg.nz, generator=g).to(self.device)
                                  for _ in range(8)))
        G.eval()
        self.run.save_samples("fixed", self.epoch, to_uint8_images(G(self.fixed_noise.to(self.device))))
        if self.epoch % self.cfg.metrics_every == 0 or self.finished:
            metrics = self.evaluate()
            self.run.log({"event": "metrics", "epoch": self.epoch, "step": self.step, **metrics})
            self.watch(metrics)

    def evaluate(self) -> dict[str, float | None]:
        """Quality and memorisation of ``num_test`` samples from a fixed noise, against held-out real avatars.

        ``c2st``, ``diversity``, ``spectral`` (each with its real-vs-real ``_floor``): see
        :func:`animelib.metrics.quality_measures`; ``fid``/``kid``: Inception FID/KID where the weights can be had
        (else None); ``nn_ratio``: mean distance of a sample to its nearest training image over the same for
        held-out real images (< 1: copying).
        """
        n = len(self.held_images)
        if n < 4:  # a tiny real folder: nothing held out to compare with
            return {"note": f"{n} held-out image(s): too few to evaluate"}
        fake = generate(self.sampler("G"), noise(n, self.cfg.nz, seed=self.cfg.noise_seed + 1))
        nn_dist = nearest_neighbour_distance(fake[:256], self.train_images, reference=self.held_images[:256])
        inception = fid_kid(self.held_images, fake, device=self.device)
        if self.floors is None:  # the real-vs-real floors depend on the real images only: measured once
            self.floors = quality_floors(self.held_images, self.floor_images)
        return {**quality_measures(fake, self.held_images, floors=self.floors), "fid": inception["fid"],
                "kid": inception["kid_mean"], "nn_mean": nn_dist["mean"],
                "nn_reference": nn_dist["reference"]["mean"], "nn_ratio": nn_dist["ratio"]}

    def watch(self, metrics: dict[str, Any]) -> None:
        """Say so (a line in the output and a ``warning`` event) when samples collapse or D wins outright."""
        problems = []
        if metrics.get("diversity") is not None and metrics["diversity"] < COLLAPSE_DIVERSITY:
            problems.append(("collapse", f"samples are collapsing: structure diversity {metrics['diversity']:.2f} "
                                         f"of the real images' (below {COLLAPSE_DIVERSITY})"))
        if self.epoch and self.epoch_means.get("D_G_z", 1.0) < D_WINS:
            problems.append(("discriminator wins", f"the discriminator wins outright: D(G(z)) averaged "
                                                   f"{self.epoch_means['D_G_z']:.3f} over the epoch"))
        for kind, text in problems:
            self.run.log({"event": "warning", "epoch": self.epoch, "step": self.step, "kind": kind, "text": text})
            tqdm.write(f"[animelib] dcgan epoch {self.epoch}: {text}")


def load_data(cfg: DCGANConfig, progress: bool = True, split: str = "test") -> tuple[ImageSet, ImageSet]:
    """The run's training real avatars and the held-out ones of ``split`` that its samples are measured against:
    "val" during training, "test" in the figures."""
    return load_domain("anime", cfg.image_size, cfg.num_train, cfg.data_dir, cfg.data_seed, cfg.dedupe,
                       num_test=cfg.num_test, progress=progress, crop=cfg.crop, split=split)


def build_generator(cfg: DCGANConfig, name: str = "G") -> Generator:
    """An untrained generator with the config's widths and extra layer (``name``: its only one, G)."""
    return Generator(cfg.nz, cfg.ngf, cfg.extra_layer, cfg.chroma_blur, cfg.chroma_median, cfg.upsample)


def noise(n: int, nz: int = 100, seed: int = 0) -> torch.Tensor:
    """(n, nz) standard normal noise from its own generator: the same for a seed in every session and epoch."""
    return torch.randn(n, nz, generator=torch.Generator().manual_seed(seed))


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation between noise vectors (rows), t in [0, 1]; falls back to lerp when parallel."""
    t = torch.as_tensor(t, dtype=z0.dtype, device=z0.device)
    a, b = F.normalize(z0, dim=-1), F.normalize(z1, dim=-1)
    omega = torch.acos((a * b).sum(-1).clamp(-1 + 1e-7, 1 - 1e-7))[..., None]
    so = torch.sin(omega)
    if t.dim() == 0:
        t = t.expand(omega.shape)
    else:
        t = t.reshape(-1, 1)
    out = torch.sin((1 - t) * omega) / so * z0 + torch.sin(t * omega) / so * z1
    return torch.where(so.abs() < 1e-6, (1 - t) * z0 + t * z1, out)


def interpolation_rows(rows: int, steps: int, nz: int = 100, seed: int = 0) -> torch.Tensor:
    """(rows * steps, nz): each row walks the great circle between two random noise vectors."""
    ends = noise(2 * rows, nz, seed)
    t = torch.linspace(0, 1, steps)
    return torch.cat([slerp(ends[2 * r].expand(steps, nz), ends[2 * r + 1].expand(steps, nz), t)
                      for r in range(rows)])


@torch.no_grad()
def generate(G: Generator, z: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Images for noise ``z`` as (N, 64, 64, 3) uint8."""
    dev = next(G.parameters()).device
    return np.concatenate([to_uint8_images(G(z[i:i + batch_size].to(dev)))
                           for i in range(0, len(z), batch_size)])


def snapshot_epochs(epochs: int, count: int = 10) -> list[int]:
    """``count`` evenly spaced epochs ending at the last (10, 20 ... 100 for 100 epochs)."""
    picked = sorted({max(1, round(epochs * k / count)) for k in range(1, count + 1)})
    return picked


def epoch_samples(run_dir: str | Path, epochs: list[int], rows: int = 8) -> np.ndarray:
    """The first ``rows`` fixed-noise images at each epoch, row-major: (rows * len(epochs), 64, 64, 3)."""
    run = Run.open(run_dir)
    per_epoch = [run.load_samples("fixed", e)[:rows] for e in epochs]
    return np.stack(per_epoch, axis=1).reshape(-1, *per_epoch[0].shape[1:])


SPEC = ModelSpec(name="dcgan", label="DCGAN", config_class=DCGANConfig, trainer_class=DCGANTrainer,
                 build_generator=build_generator, notebook="01_dcgan.ipynb")
