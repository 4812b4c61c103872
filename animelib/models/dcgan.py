"""DCGAN (report 3.2 and 4.1): networks, training, sampling and latent interpolation.

Generator, as the report's text describes it::

    z (100) -> ConvT 512x4x4 -> ConvT 256x8x8 -> ConvT 128x16x16 -> ConvT 64x32x32
            -> Conv 3x32x32 ("extra layer", size preserving) -> ConvT 3x64x64 -> tanh

with batch norm and leaky ReLU after every conv but the last. The discriminator mirrors it, with a
channel- and size-preserving conv at 512x4x4 and a final conv to 1x1x1 (no fully connected layer).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from animelib.config import DCGANConfig
from animelib.models.common import ConvBlock, init_dcgan_weights, recalibrate_batchnorm
from animelib.training import Trainer, index_batches, num_batches
from animelib.utils import to_uint8_images


class Generator(nn.Module):
    def __init__(self, nz: int = 100, ngf: int = 64):
        super().__init__()
        self.nz = nz
        self.net = nn.Sequential(
            ConvBlock(nz, ngf * 8, 4, 1, 0, transposed=True, norm="batch", act="lrelu"),  # (N, 512, 4, 4)
            ConvBlock(ngf * 8, ngf * 4, 4, 2, 1, transposed=True, norm="batch", act="lrelu"),  # (N, 256, 8, 8)
            ConvBlock(ngf * 4, ngf * 2, 4, 2, 1, transposed=True, norm="batch", act="lrelu"),  # (N, 128, 16, 16)
            ConvBlock(ngf * 2, ngf, 4, 2, 1, transposed=True, norm="batch", act="lrelu"),  # (N, 64, 32, 32)
            ConvBlock(ngf, 3, 3, 1, 1, norm="batch", act="lrelu"),  # extra layer (N, 3, 32, 32)
            ConvBlock(3, 3, 4, 2, 1, transposed=True, act="tanh"),  # (N, 3, 64, 64) in (-1, 1)
        )
        init_dcgan_weights(self)
        init_bilinear(self.net[-1][0])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:  # (N, 100) -> (N, 100, 1, 1)
            z = z[:, :, None, None]
        return self.net(z)


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

    def build(self) -> None:
        from animelib.data import load_domain

        cfg = self.cfg
        train, test = load_domain("anime", cfg.image_size, cfg.num_train, cfg.data_dir, cfg.data_seed,
                                  cfg.dedupe, num_test=cfg.num_test, progress=self.progress, crop=cfg.crop)
        self.data_notes = train.notes
        self.train_images, self.test_images = train.images, test.images  # (N, 64, 64, 3) uint8, for metrics
        self.images = self.data_tensor(train.images)  # (N, 3, 64, 64) uint8
        self.net_G = Generator(cfg.nz, cfg.ngf).to(self.device)
        self.net_D = Discriminator(cfg.ndf).to(self.device)
        self.nets = {"G": self.net_G, "D": self.net_D}
        self.optimizers = {"G": self.adam(self.net_G.parameters()), "D": self.adam(self.net_D.parameters())}
        self.fixed_noise = fixed_noise(cfg)
        self._labels: tuple[torch.Tensor, ...] | None = None  # BCE targets, made once per batch size

    def steps_per_epoch(self) -> int:
        return num_batches(len(self.images), self.cfg.batch_size)

    def batches(self):
        order = self.shuffled(self.images)
        for idx in index_batches(len(self.images), self.cfg.batch_size, order):
            yield self.to_device(self.images[idx])

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
            fake = self.net_G(z)  # (N, 3, 64, 64)
            # phase 1: the discriminator on real and (detached) fake images
            out_real = self.net_D(real)
            out_fake = self.net_D(fake.detach())
            loss_D = F.binary_cross_entropy_with_logits(out_real, real_target) + \
                F.binary_cross_entropy_with_logits(out_fake, fake_target)
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss_D.backward()
        self.optimizers["D"].step()
        # phase 2: the generator, to make the discriminator call its images real
        with self.autocast():
            loss_G = F.binary_cross_entropy_with_logits(self.net_D(fake), g_target)
        self.optimizers["G"].zero_grad(set_to_none=True)
        loss_G.backward()
        self.optimizers["G"].step()
        return {"loss_G": loss_G, "loss_D": loss_D,
                "D_x": torch.sigmoid(out_real.detach()).mean(), "D_G_z": torch.sigmoid(out_fake.detach()).mean()}

    def end_epoch(self) -> None:
        # exact batch-norm statistics for sampling, from noise of its own (the training RNG is not touched)
        g = torch.Generator().manual_seed(self.cfg.noise_seed + 2)
        recalibrate_batchnorm(self.net_G, (torch.randn(self.cfg.batch_size, self.cfg.nz, generator=g).to(self.device)
                                           for _ in range(8)))
        self.net_G.eval()
        samples = to_uint8_images(self.net_G(self.fixed_noise.to(self.device)))  # (K, 64, 64, 3)
        np.save(self.run.sample_file(f"fixed_e{self.epoch:03d}.npy"), samples)
        if self.epoch % self.cfg.metrics_every == 0 or self.finished:
            self.run.log({"event": "metrics", "epoch": self.epoch, "step": self.step, **self.evaluate()})

    def evaluate(self) -> dict[str, float | None]:
        """Quality and memorisation on ``num_test`` samples from a fixed noise, against held-out real avatars.

        ``fd_landmark``: Frechet distance in the landmark regressor's feature space (offline, always);
        ``fid``/``kid``: Inception FID/KID where the weights can be had (else None); ``nn_ratio``: mean distance of
        a sample to its nearest training image over the same for held-out real images (< 1: copying).
        """
        from animelib.metrics import fid_kid, nearest_neighbour_distance
        from animelib.models.landmarks import LandmarkFeatures, load_regressor

        n = len(self.test_images)
        if n < 2:  # a tiny real folder: nothing held out to compare with
            return {"fd_landmark": None, "fid": None, "kid": None, "nn_mean": None, "nn_reference": None,
                    "nn_ratio": None, "note": f"{n} held-out image(s): too few to evaluate"}
        if not hasattr(self, "fd_features"):
            self.fd_features = LandmarkFeatures(load_regressor(device=self.device, progress=self.progress))
        fake = generate(self.net_G, noise(n, self.cfg.nz, seed=self.cfg.noise_seed + 1))
        nn_dist = nearest_neighbour_distance(fake[:256], self.train_images, reference=self.test_images[:256])
        fd = fid_kid(self.test_images, fake, feature=self.fd_features, device=self.device)
        inception = fid_kid(self.test_images, fake, device=self.device)
        return {"fd_landmark": fd["fid"], "fid": inception["fid"], "kid": inception["kid_mean"],
                "nn_mean": nn_dist["mean"], "nn_reference": nn_dist["reference"]["mean"], "nn_ratio": nn_dist["ratio"]}


def fixed_noise(cfg: DCGANConfig) -> torch.Tensor:
    """The evaluation noise: drawn from its own generator, the same at every epoch and in every session."""
    return torch.randn(cfg.num_fixed, cfg.nz, generator=torch.Generator().manual_seed(cfg.noise_seed))


def build_generator(cfg) -> Generator:
    """An untrained generator with the config's widths."""
    return Generator(cfg.nz, cfg.ngf)


def noise(n: int, nz: int = 100, seed: int = 0) -> torch.Tensor:
    """(n, nz) standard normal noise from its own seed."""
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
def generate(net_G: Generator, z: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Images for noise ``z`` as (N, 64, 64, 3) uint8."""
    dev = next(net_G.parameters()).device
    return np.concatenate([to_uint8_images(net_G(z[i:i + batch_size].to(dev)))
                           for i in range(0, len(z), batch_size)])


def snapshot_epochs(epochs: int, count: int = 10) -> list[int]:
    """``count`` evenly spaced epochs ending at the last (10, 20 ... 100 for 100 epochs)."""
    picked = sorted({max(1, round(epochs * k / count)) for k in range(1, count + 1)})
    return picked


def epoch_samples(run_dir: str | Path, epochs: list[int], rows: int = 8) -> np.ndarray:
    """The first ``rows`` fixed-noise images at each epoch, row-major: (rows * len(epochs), 64, 64, 3)."""
    per_epoch = [np.load(Path(run_dir) / "samples" / f"fixed_e{e:03d}.npy")[:rows] for e in epochs]
    return np.stack(per_epoch, axis=1).reshape(-1, *per_epoch[0].shape[1:])


def loss_trend(history: list[dict]) -> str:
    """The report's reading of Figure 5, checked on this run: does the discriminator get the upper hand?"""
    steps = [r for r in history if "event" not in r]
    tenth = max(1, len(steps) // 10)
    first = {k: float(np.mean([r[k] for r in steps[:tenth]])) for k in ("loss_G", "loss_D")}
    last = {k: float(np.mean([r[k] for r in steps[-tenth:]])) for k in ("loss_G", "loss_D")}
    upper_hand = last["loss_G"] > first["loss_G"] and last["loss_D"] < first["loss_D"]
    verdict = ("as in the report, the discriminator gets the upper hand (loss_D falls while loss_G rises)"
               if upper_hand else "unlike the report's run, the discriminator does not clearly get the upper hand")
    return (f"loss_G {first['loss_G']:.3f} (first tenth of the iterations) -> {last['loss_G']:.3f} (last tenth); "
            f"loss_D {first['loss_D']:.3f} -> {last['loss_D']:.3f}: {verdict}.")
