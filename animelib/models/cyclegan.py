"""CycleGAN (report 3.3 and 4.2): two generators, two patch discriminators, identity : GAN : cycle = 5 : 1 : 10.

A = photos (Thumbs), B = anime (Faces). Generators: a 7x7 stem, two stride-2 down-sampling convs,
residual blocks (4 in the report), two stride-2 up-sampling transposed convs and a 7x7 conv to RGB
with tanh. Discriminators follow DCGAN's (stride-2 convs, then a channel-preserving conv) but end in a
map of patch scores instead of one number.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from animelib.config import CycleGANConfig
from animelib.losses import ExtraLosses, ImagePool, gan_loss
from animelib.models.common import ConvBlock, ResidualBlock
from animelib.training import Trainer, index_batches, num_batches
from animelib.utils import translate_images

LOSS_NAMES = ("loss_idt_A", "loss_idt_B", "loss_gan_A2B", "loss_gan_B2A", "loss_cycle_A", "loss_cycle_B")


class Generator(nn.Module):
    def __init__(self, ngf: int = 32, n_blocks: int = 4, norm: str = "instance"):
        super().__init__()
        self.net = nn.Sequential(
            ConvBlock(3, ngf, 7, 1, 3, norm=norm, act="relu", padding_mode="reflect"),  # (N, ngf, H, W)
            ConvBlock(ngf, ngf * 2, 3, 2, 1, norm=norm, act="relu"),  # (N, 2ngf, H/2, W/2)
            ConvBlock(ngf * 2, ngf * 4, 3, 2, 1, norm=norm, act="relu"),  # (N, 4ngf, H/4, W/4)
            *[ResidualBlock(ngf * 4, norm) for _ in range(n_blocks)],  # (N, 4ngf, H/4, W/4)
            ConvBlock(ngf * 4, ngf * 2, 3, 2, 1, transposed=True, output_padding=1, norm=norm, act="relu"),
            ConvBlock(ngf * 2, ngf, 3, 2, 1, transposed=True, output_padding=1, norm=norm, act="relu"),
            ConvBlock(ngf, 3, 7, 1, 3, act="tanh", padding_mode="reflect"),  # (N, 3, H, W) in (-1, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Discriminator(nn.Module):
    def __init__(self, ndf: int = 32, norm: str = "instance"):
        super().__init__()
        self.net = nn.Sequential(
            ConvBlock(3, ndf, 4, 2, 1, act="lrelu"),  # (N, ndf, H/2, W/2)
            ConvBlock(ndf, ndf * 2, 4, 2, 1, norm=norm, act="lrelu"),  # (N, 2ndf, H/4, W/4)
            ConvBlock(ndf * 2, ndf * 4, 4, 2, 1, norm=norm, act="lrelu"),  # (N, 4ndf, H/8, W/8)
            ConvBlock(ndf * 4, ndf * 4, 3, 1, 1, norm=norm, act="lrelu"),  # channel and size preserving
            ConvBlock(ndf * 4, 1, 3, 1, 1),  # (N, 1, H/8, W/8) patch scores
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def generator_loss(parts: dict[str, torch.Tensor], cfg: CycleGANConfig) -> torch.Tensor:
    """identity * (idt_A + idt_B) + gan * (gan_A2B + gan_B2A) + cycle * (cycle_A + cycle_B)."""
    return (cfg.lambda_identity * (parts["loss_idt_A"] + parts["loss_idt_B"])
            + cfg.lambda_gan * (parts["loss_gan_A2B"] + parts["loss_gan_B2A"])
            + cfg.lambda_cycle * (parts["loss_cycle_A"] + parts["loss_cycle_B"]))


def lr_factor(cfg: CycleGANConfig):
    """The learning-rate multiplier per completed epoch: 1 before ``lr_decay_epoch``, ``lr_decay`` after."""
    return lambda epoch: 1.0 if epoch < cfg.lr_decay_epoch else cfg.lr_decay


class TranslationTrainer(Trainer):
    """What CycleGAN and CartoonGAN share: A/B data, held-out pairs and paired metrics per epoch."""

    def load_data(self) -> None:
        from animelib.data import load_translation_data

        self.data = load_translation_data(self.cfg, progress=self.progress)
        self.data_notes = self.data.train_a.notes + self.data.train_b.notes
        self.images_a = self.data_tensor(self.data.train_a.images)  # (NA, 3, H, W) uint8
        self.images_b = self.data_tensor(self.data.train_b.images)  # (NB, 3, H, W) uint8

    def steps_per_epoch(self) -> int:
        return num_batches(len(self.images_a), self.cfg.batch_size)

    def load_vgg(self):
        """VGG19 features (or the allowed substitute); which one is written to the run folder for captions."""
        from animelib.models.vgg import load_vgg19

        vgg = load_vgg19(self.cfg, self.device)
        self.run_files["vgg.txt"] = vgg.note + "\n"
        return vgg

    def index_pairs(self):
        """One pass over A in batches; B indices come from a shuffled stream of B of the same length."""
        order_a = self.shuffled(self.images_a)
        batches_a = index_batches(len(self.images_a), self.cfg.batch_size, order_a)
        need = sum(len(b) for b in batches_a)
        order_b = torch.cat([self.shuffled(self.images_b)
                             for _ in range(-(-need // len(self.images_b)))])
        pos = 0
        for idx_a in batches_a:
            yield idx_a, order_b[pos:pos + len(idx_a)]
            pos += len(idx_a)

    def batches(self):
        for idx_a, idx_b in self.index_pairs():
            yield self.to_device(self.images_a[idx_a]), self.to_device(self.images_b[idx_b])

    def log_paired_metrics(self, net_A2B: nn.Module) -> None:
        """On synthetic held-out pairs: G_A2B(A) against the ground-truth anime rendering (``A2B_*``), the identity
        baseline A against the same truth (``identity_*``), and G_A2B(A) against its own input (``input_*``)."""
        from animelib.metrics import paired_metrics

        if not self.data.paired or self.epoch % self.cfg.metrics_every and not self.finished:
            return
        test_a, truth = self.data.test_a.images, self.data.test_b_true
        fake_b = translate_images(net_A2B, test_a)
        np.save(self.run.sample_file(f"test_A2B_e{self.epoch:03d}.npy"), fake_b[:16])
        record = {"event": "metrics", "epoch": self.epoch, "step": self.step}
        for prefix, (x, y) in {"A2B": (fake_b, truth), "identity": (test_a, truth), "input": (fake_b, test_a)}.items():
            record.update({f"{prefix}_{k}": v for k, v in paired_metrics(x, y).items()})
        self.run.log(record)


class CycleGANTrainer(TranslationTrainer):
    loss_names = ("loss_G", *LOSS_NAMES, "loss_D_A", "loss_D_B")

    def build(self) -> None:
        cfg = self.cfg
        self.load_data()
        self.G_A2B = build_generator(cfg).to(self.device)
        self.G_B2A = build_generator(cfg).to(self.device)
        self.D_A = Discriminator(cfg.ndf).to(self.device)
        self.D_B = Discriminator(cfg.ndf).to(self.device)
        self.nets = {"G_A2B": self.G_A2B, "G_B2A": self.G_B2A, "D_A": self.D_A, "D_B": self.D_B}
        self.optimizers = {
            "G": self.adam([*self.G_A2B.parameters(), *self.G_B2A.parameters()]),
            "D": self.adam([*self.D_A.parameters(), *self.D_B.parameters()]),
        }
        self.schedulers = {k: torch.optim.lr_scheduler.LambdaLR(o, lr_factor(cfg)) for k, o in self.optimizers.items()}
        self.pool_A, self.pool_B = ImagePool(cfg.pool_size), ImagePool(cfg.pool_size)
        vgg = self.load_vgg() if "gray" in cfg.extra_losses else None
        self.extra = ExtraLosses(cfg, self.device, vgg, progress=self.progress)
        self.loss_names = (*self.loss_names, *(f"loss_{n}" for n in cfg.extra_losses))

    def train_step(self, batch) -> dict[str, torch.Tensor]:
        real_A, real_B = batch
        cfg = self.cfg
        # generators: identity, GAN (least squares) and cycle losses in both directions
        for d in (self.D_A, self.D_B):
            d.requires_grad_(False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.autocast():
            fake_B = self.G_A2B(real_A)
            fake_A = self.G_B2A(real_B)
            parts = {
                "loss_idt_A": F.l1_loss(self.G_B2A(real_A), real_A),
                "loss_idt_B": F.l1_loss(self.G_A2B(real_B), real_B),
                "loss_gan_A2B": gan_loss(self.D_B(fake_B), True),
                "loss_gan_B2A": gan_loss(self.D_A(fake_A), True),
                "loss_cycle_A": F.l1_loss(self.G_B2A(fake_B), real_A),
                "loss_cycle_B": F.l1_loss(self.G_A2B(fake_A), real_B),
            }
            extra = self.extra.terms(real_A, fake_B, real_B)
            loss_G = generator_loss(parts, cfg) + self.extra.weighted(extra)
        loss_G.backward()
        self.optimizers["G"].step()
        # discriminators: real towards 1, fakes from the history pools towards 0
        for d in (self.D_A, self.D_B):
            d.requires_grad_(True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        pooled_B = self.pool_B.query(fake_B, self.gen)
        pooled_A = self.pool_A.query(fake_A, self.gen)
        with self.autocast():
            loss_D_B = 0.5 * (gan_loss(self.D_B(real_B), True) + gan_loss(self.D_B(pooled_B), False))
            loss_D_A = 0.5 * (gan_loss(self.D_A(real_A), True) + gan_loss(self.D_A(pooled_A), False))
        (loss_D_A + loss_D_B).backward()
        self.optimizers["D"].step()
        return {"loss_G": loss_G, **parts, "loss_D_A": loss_D_A, "loss_D_B": loss_D_B, **extra}

    def end_epoch(self) -> None:
        self.log_paired_metrics(self.G_A2B)

    def extra_state(self) -> dict:
        return {"pool_A": self.pool_A.state_dict(), "pool_B": self.pool_B.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        self.pool_A.load_state_dict(state["pool_A"], self.device)
        self.pool_B.load_state_dict(state["pool_B"], self.device)


def build_generator(cfg) -> Generator:
    """An untrained generator with the config's widths."""
    return Generator(cfg.ngf, cfg.n_blocks)


def cycle_rows(images: np.ndarray, forward: nn.Module, backward: nn.Module,
               truth: np.ndarray | None = None) -> np.ndarray:
    """Rows of (x, forward(x), backward(forward(x))[, truth]) for Figure 8, row-major."""
    fake = translate_images(forward, images)
    rec = translate_images(backward, fake)
    columns = [images, fake, rec] + ([truth] if truth is not None else [])
    return np.stack(columns, axis=1).reshape(-1, *images.shape[1:])


def identity_check(history: list[dict]) -> str:
    """Test the report's reading of Figure 7 ("behaves like an identity map") on the last paired metrics.

    Two questions, each on L1 and SSIM: is G_A2B(A) closer to its input A than to the anime truth, and does it
    beat the do-nothing baseline (A itself) against that truth?
    """
    from animelib.compare import against_baseline

    metrics = [r for r in history if r.get("event") == "metrics"]
    if not metrics:
        return "no paired metrics (real data has no ground truth): the identity-map claim is not testable here"
    m = metrics[-1]
    closer = {"L1": m["input_l1"] < m["A2B_l1"], "SSIM": m["input_ssim"] > m["A2B_ssim"]}
    model = {k: m[f"A2B_{k}"] for k in ("l1", "psnr", "ssim")}
    base = {k: m[f"identity_{k}"] for k in ("l1", "psnr", "ssim")}
    lines = [
        f"epoch {m['epoch']}: G_A2B(A) vs ground truth: L1 {m['A2B_l1']:.3f}, PSNR {m['A2B_psnr']:.2f} dB, "
        f"SSIM {m['A2B_ssim']:.3f}",
        f"identity baseline (A vs ground truth): L1 {m['identity_l1']:.3f}, PSNR {m['identity_psnr']:.2f} dB, "
        f"SSIM {m['identity_ssim']:.3f}",
        f"G_A2B(A) vs its input A: L1 {m['input_l1']:.3f}, SSIM {m['input_ssim']:.3f}",
        f"Against the baseline, G_A2B {against_baseline(model, base)}.",
    ]
    if all(closer.values()):
        verdict = "supported: by L1 and by SSIM the translation is closer to its input than to the anime truth"
    elif any(closer.values()):
        near = [k for k, v in closer.items() if v]
        verdict = (f"partly supported: the translation is closer to its input than to the anime truth by "
                   f"{', '.join(near)} only")
    else:
        verdict = "not supported here: by L1 and by SSIM the translation is closer to the anime truth than to its input"
    return "\n".join(lines + [f"The report's 'behaves like an identity map': {verdict}."])
