"""CycleGAN (report 3.3 and 4.2): two generators, two patch discriminators, identity : GAN : cycle = 5 : 1 : 10.

A = photos (Thumbs), B = anime (Faces). Generators: a 7x7 stem, two stride-2 down-sampling convs,
residual blocks (4 in the report), two stride-2 up-sampling transposed convs and a 7x7 conv to RGB
with tanh. Discriminators follow DCGAN's (stride-2 convs, then a channel-preserving conv) but end in a
map of patch scores instead of one number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from animelib.errors import ConfigError
from animelib.losses import ExtraLosses, ImagePool, gan_loss
from animelib.models.translation import TranslationConfig, TranslationGenerator, TranslationTrainer
from animelib.nets.blocks import ConvBlock, ResidualBlock
from animelib.training import ModelSpec
from animelib.utils import translate_images

LOSS_NAMES = ("loss_idt_A", "loss_idt_B", "loss_gan_A2B", "loss_gan_B2A", "loss_cycle_A", "loss_cycle_B")


@dataclass(frozen=True)
class CycleGANConfig(TranslationConfig):
    """CycleGAN (report 3.3, 4.2): identity : GAN : cycle = 5 : 1 : 10, lr 3e-4 then 3e-5 after epoch 120."""

    epochs: int = 300
    lr_decay_epoch: int = 120  # from this epoch on the learning rate is lr * lr_decay
    lr_decay: float = 0.1
    lambda_identity: float = 5.0
    lambda_gan: float = 1.0
    lambda_cycle: float = 10.0
    pool_size: int = 50  # history of generated images shown to the discriminators
    # lever (0 = the report's): the first this many epochs train both generators towards the identity map
    # alone (GAN and cycle weights 0, discriminators untouched), so the adversarial epochs start from clean images
    identity_warmup_epochs: int = 0
    # lever (False = the report's): D_B also sees each anime image with its edges blurred away
    # (CartoonGAN's edge promotion, animelib.data.edges) as a fake, so crisp outlines become a sign of "anime"
    edge_promoted_fakes: bool = False

    MODEL: ClassVar[str] = "cyclegan"
    LEVERS: ClassVar[dict[str, str]] = {
        **TranslationConfig.LEVERS,
        "lr": "learning rate (report: 3e-4)",
        "lambda_identity": "identity-loss weight (report: 5)",
        "lambda_gan": "GAN-loss weight (report: 1)",
        "lambda_cycle": "cycle-loss weight (report: 10)",
        "identity_warmup_epochs": "generators first trained towards the identity map",
        "edge_promoted_fakes": "edge-blurred anime images shown to D_B as fakes (CartoonGAN's edge promotion)",
    }
    REMOVED_LEVERS: ClassVar[dict[str, Any]] = {**TranslationConfig.REMOVED_LEVERS, "cycle_noise": 0.0,
                                                "cycle_pool": 1}
    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": dict(image_size=32, ngf=4, ndf=4, batch_size=4, epochs=3, lr_decay_epoch=2,
                      num_a=16, num_b=16, num_test=8, pool_size=8,
                      vgg_weights="allow-substitute", vgg_width=0.125),
        # quick: the report's nets at quick widths plus the levers measured in docs/recipe.md
        # (bf16 autocast pays for 960 images, one identity warm-up epoch, a total-variation term, twice the report's
        # learning rate for the short run, a 3 x 3 median on the colour of G's output against colour specks). The
        # levers dropped on the validation split (a moving average of G's weights, resize up-sampling, a colour
        # low-pass before the median, a GAN weight of 3 with edge-blurred anime images as D_B's extra fakes) are
        # listed there.
        "quick": dict(image_size=64, ngf=16, ndf=16, batch_size=8, epochs=8, lr=6e-4, lr_decay_epoch=6,
                      num_a=960, num_b=960, num_test=64, amp=True, identity_warmup_epochs=1,
                      tv_weight=3.0, chroma_median=3, vgg_weights="allow-substitute", vgg_width=0.25),
        "full": dict(image_size=128, num_test=512, channels_last=True),  # the report as written (docs/recipe.md)
    }
    # real folders: a 5 x 5 colour median instead of 3 x 3 turns the colour confetti of real anime hair into flat
    # colour (real-dev's validation split, mean of three seeds: colour spectral 0.359 -> 0.179, spectral 0.062 -> 0.045,
    # anime faces found 0.44 -> 0.48 of real anime's 0.56); not screened on the avatars. Real folders keep what every
    # real-folder value was chosen with (resize up-sampling, a [1, 4, 1] / 6 colour low-pass before the median, the
    # GAN weight of 3 with edge-blurred anime as extra fakes): their removal was screened on the avatars only
    REAL_FOLDERS: ClassVar[dict[str, dict[str, Any]]] = {"quick": dict(
        chroma_blur=1 / 6, chroma_median=5, upsample="resize", lambda_gan=3.0, edge_promoted_fakes=True)}

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.identity_warmup_epochs < self.epochs:
            raise ConfigError(f"identity_warmup_epochs={self.identity_warmup_epochs} must be at least 0 and less "
                              f"than epochs={self.epochs}")
        if self.pool_size < 0 or self.lr_decay_epoch < 0:
            raise ConfigError(f"pool_size={self.pool_size} and lr_decay_epoch={self.lr_decay_epoch} must not be "
                              "negative")


class Generator(TranslationGenerator):
    def __init__(self, ngf: int = 32, n_blocks: int = 4, norm: str = "instance", upsample: str = "transposed",
                 chroma_blur: float = 0.0, chroma_median: int = 0):
        super().__init__(chroma_blur, chroma_median)  # the colour steps after self.net
        self.net = nn.Sequential(
            ConvBlock(3, ngf, 7, 1, 3, norm=norm, act="relu", padding_mode="reflect"),  # (N, ngf, H, W)
            ConvBlock(ngf, ngf * 2, 3, 2, 1, norm=norm, act="relu"),  # (N, 2ngf, H/2, W/2)
            ConvBlock(ngf * 2, ngf * 4, 3, 2, 1, norm=norm, act="relu"),  # (N, 4ngf, H/4, W/4)
            *[ResidualBlock(ngf * 4, norm) for _ in range(n_blocks)],  # (N, 4ngf, H/4, W/4)
            ConvBlock(ngf * 4, ngf * 2, 3, 2, 1, transposed=True, output_padding=1, norm=norm, act="relu",
                      resize=upsample == "resize"),
            ConvBlock(ngf * 2, ngf, 3, 2, 1, transposed=True, output_padding=1, norm=norm, act="relu",
                      resize=upsample == "resize"),
            ConvBlock(ngf, 3, 7, 1, 3, act="tanh", padding_mode="reflect"),  # (N, 3, H, W) in (-1, 1)
        )


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


def generator_loss(parts: dict[str, torch.Tensor], cfg: CycleGANConfig, warmup: bool = False) -> torch.Tensor:
    """identity * (idt_A + idt_B) + gan * (gan_A2B + gan_B2A) + cycle * (cycle_A + cycle_B); in the identity
    warm-up (``warmup``) the identity terms alone."""
    identity = cfg.lambda_identity * (parts["loss_idt_A"] + parts["loss_idt_B"])
    if warmup:
        return identity
    return (identity + cfg.lambda_gan * (parts["loss_gan_A2B"] + parts["loss_gan_B2A"])
            + cfg.lambda_cycle * (parts["loss_cycle_A"] + parts["loss_cycle_B"]))


def lr_factor(cfg: CycleGANConfig):
    """The learning-rate multiplier per completed epoch: 1 before ``lr_decay_epoch``, ``lr_decay`` after."""
    return lambda epoch: 1.0 if epoch < cfg.lr_decay_epoch else cfg.lr_decay


class CycleGANTrainer(TranslationTrainer):
    loss_names = ("loss_G", *LOSS_NAMES, "loss_D_A", "loss_D_B")
    generators = ("G_A2B", "G_B2A")

    def build(self) -> dict[str, str]:
        cfg = self.cfg
        notes = self.load_data()
        self.G_A2B = build_generator(cfg, "G_A2B").to(self.device)
        self.G_B2A = build_generator(cfg, "G_B2A").to(self.device)
        self.D_A = Discriminator(cfg.ndf).to(self.device)
        self.D_B = Discriminator(cfg.ndf).to(self.device)
        self.nets = {"G_A2B": self.G_A2B, "G_B2A": self.G_B2A, "D_A": self.D_A, "D_B": self.D_B}
        self.optimizers = {
            "G": self.adam([*self.G_A2B.parameters(), *self.G_B2A.parameters()]),
            "D": self.d_adam([*self.D_A.parameters(), *self.D_B.parameters()]),
        }
        self.schedulers = {k: torch.optim.lr_scheduler.LambdaLR(o, lr_factor(cfg)) for k, o in self.optimizers.items()}
        self.pool_A, self.pool_B = ImagePool(cfg.pool_size), ImagePool(cfg.pool_size)
        if cfg.edge_promoted_fakes:
            self.images_e = self.load_edges()  # batches then carry them as a third element
        vgg = None
        if "gray" in cfg.extra_losses:
            vgg, vgg_note = self.load_vgg()
            notes.update(vgg_note)
        self.extra = ExtraLosses(cfg, self.device, vgg, progress=self.progress)
        self.loss_names = (*self.loss_names, *(f"loss_{n}" for n in cfg.extra_losses))
        self.loss_names = (*self.loss_names, *self.tv_names())
        return notes

    def train_step(self, batch) -> dict[str, torch.Tensor]:
        real_A, real_B, *edge_B = batch
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
            tv = self.tv_log((real_A, fake_B), (real_B, fake_A))  # both translations (levers; the report has none)
            warmup = self.epoch < cfg.identity_warmup_epochs
            loss_G = generator_loss(parts, cfg, warmup) + (
                0.0 if warmup else self.extra.weighted(extra) + self.tv_penalty(tv))
        loss_G.backward()
        self.optimizers["G"].step()
        for d in (self.D_A, self.D_B):
            d.requires_grad_(True)
        if warmup:  # the discriminators wait; their losses on this step's images are logged
            with torch.no_grad(), self.autocast():
                d_losses = {"loss_D_A": 0.5 * (gan_loss(self.D_A(real_A), True) + gan_loss(self.D_A(fake_A), False)),
                            "loss_D_B": 0.5 * (gan_loss(self.D_B(real_B), True) + gan_loss(self.D_B(fake_B), False))}
        else:
            d_losses = self.discriminator_step(real_A, real_B, fake_A, fake_B, *edge_B)
        return {"loss_G": loss_G, **parts, **d_losses, **extra, **tv}

    def discriminator_step(self, real_A, real_B, fake_A, fake_B, edge_B=None) -> dict[str, torch.Tensor]:
        """Real towards 1, fakes from the history pools towards 0. ``edge_B`` (the ``edge_promoted_fakes`` lever):
        edge-blurred anime images, also towards 0 for D_B, as one more term of the same weight (as CartoonGAN's
        discriminator loss has it)."""
        self.optimizers["D"].zero_grad(set_to_none=True)
        pooled_B = self.pool_B.query(fake_B, self.rng)
        pooled_A = self.pool_A.query(fake_A, self.rng)
        with self.autocast():
            loss_D_B = 0.5 * (gan_loss(self.D_B(real_B), True) + gan_loss(self.D_B(pooled_B), False))
            if edge_B is not None:
                loss_D_B = loss_D_B + 0.5 * gan_loss(self.D_B(edge_B), False)
            loss_D_A = 0.5 * (gan_loss(self.D_A(real_A), True) + gan_loss(self.D_A(pooled_A), False))
        (loss_D_A + loss_D_B).backward()
        self.optimizers["D"].step()
        return {"loss_D_A": loss_D_A.detach(), "loss_D_B": loss_D_B.detach()}

    def extra_state(self) -> dict:
        return {"pool_A": self.pool_A.state_dict(), "pool_B": self.pool_B.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        self.pool_A.load_state_dict(state["pool_A"], self.device)
        self.pool_B.load_state_dict(state["pool_B"], self.device)


def build_generator(cfg: TranslationConfig, name: str = "G_A2B") -> Generator:
    """An untrained generator ``name`` (G_A2B or G_B2A: the same architecture) with the config's widths."""
    return Generator(cfg.ngf, cfg.n_blocks, upsample=cfg.upsample, chroma_blur=cfg.chroma_blur,
                     chroma_median=cfg.chroma_median)


def loss_groups(cfg: CycleGANConfig) -> dict[str, list[str]]:
    """Figure 7's panels: each loss pair as computed before its weight (named in the title), and the
    discriminators'."""
    return {f"identity, unweighted (x{cfg.lambda_identity:g} in loss_G)": ["loss_idt_A", "loss_idt_B"],
            f"GAN, unweighted (x{cfg.lambda_gan:g} in loss_G)": ["loss_gan_A2B", "loss_gan_B2A"],
            f"cycle, unweighted (x{cfg.lambda_cycle:g} in loss_G)": ["loss_cycle_A", "loss_cycle_B"],
            "discriminators": ["loss_D_A", "loss_D_B"]}


def cycle_rows(images: np.ndarray, forward: nn.Module, backward: nn.Module,
               truth: np.ndarray | None = None) -> np.ndarray:
    """Rows of (x, forward(x), backward(forward(x))[, truth]) for Figure 8, row-major."""
    fake = translate_images(forward, images)
    rec = translate_images(backward, fake)
    columns = [images, fake, rec] + ([truth] if truth is not None else [])
    return np.stack(columns, axis=1).reshape(-1, *images.shape[1:])


SPEC = ModelSpec(name="cyclegan", label="CycleGAN", config_class=CycleGANConfig, trainer_class=CycleGANTrainer,
                 build_generator=build_generator, notebook="02_cyclegan.ipynb",
                 interrupt_at={"smoke": (1,), "quick": (3,)})  # as the report's run was: stopped and resumed
