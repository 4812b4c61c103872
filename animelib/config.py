"""Profiles and one frozen config dataclass per model.

A config is built from a named profile plus overrides::

    cfg = DCGANConfig.from_profile("quick", epochs=3)

``smoke`` runs in seconds (tests, CI), ``quick`` is the default main job on a 2-core CPU (the whole
``make figures`` in about 20 minutes), ``full`` is the report's settings on one GPU.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from animelib.errors import ConfigError

PROFILES = ("smoke", "quick", "full")

# Settings that change how fast a run goes, not what it is: a run may resume with other values of these.
RUNTIME_FIELDS = ("device", "amp", "channels_last", "compile", "deterministic", "log_every")

# Report, Table 1: the sizes of the three datasets (used as the synthetic sizes in the full profile).
REPORT_DATASETS = {
    "anime": ("Anime", "labelled anime avatars (DCGAN input)", 115_087),
    "thumbs": ("Thumbs", "unlabelled real photos (domain A)", 3_666),
    "faces": ("Faces", "unlabelled anime avatars (domain B)", 51_223),
}


@dataclass(frozen=True)
class Config:
    """Fields every model shares. Subclasses add their own and a ``PROFILES`` table of overrides."""

    profile: str = "smoke"
    seed: int = 0  # seeds weights, data order and noise; the synthetic data has its own data_seed
    device: str = "auto"  # auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, mps
    data_dir: str | None = None  # None: the embedded synthetic avatars; else DATA_DIR/{anime,thumbs,faces}
    data_seed: int = 0  # which synthetic faces are drawn
    dedupe: bool = False  # drop exact duplicate files from real folders
    # real folders' crop: auto, face, center, none, or per folder ("thumbs=face,anime=none"); the default comes
    # from $ANIMELIB_CROP, which `animelib run --crop` sets for the notebooks' kernels, else "auto"
    crop: str = dataclasses.field(default_factory=lambda: os.environ.get("ANIMELIB_CROP") or "auto")
    image_size: int = 64
    batch_size: int = 128
    epochs: int = 100
    lr: float = 3e-4
    beta1: float = 0.5
    beta2: float = 0.999
    num_test: int = 64  # held-out images for figures and metrics
    metrics_every: int = 1  # epochs between evaluations on the held-out images (and always after the last)
    # speed switches: runtime settings that may change when a run resumes, like the device (see RUNTIME_FIELDS)
    amp: bool = False  # bf16 autocast around the forward passes (CUDA; also runs on the CPU)
    channels_last: bool = False  # NHWC memory layout for the nets and the batches
    compile: bool = False  # torch.compile each net's forward (slow to start; pays off on long GPU runs)
    deterministic: bool = False  # CUDA: deterministic kernels instead of cudnn.benchmark and TF32
    log_every: int = 50  # steps between reading the losses back from the device (one sync), checking and logging

    MODEL: ClassVar[str] = "base"
    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {p: {} for p in PROFILES}

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ConfigError(f"profile={self.profile!r} is not one of {', '.join(PROFILES)}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", "float") and isinstance(value, bool):
                raise ConfigError(f"{f.name}={value!r} must be a number")
            if f.type == "int" and not isinstance(value, int):
                raise ConfigError(f"{f.name}={value!r} must be an integer")
            if f.type == "float" and not isinstance(value, (int, float)):
                raise ConfigError(f"{f.name}={value!r} must be a number")
            if f.type == "bool" and not isinstance(value, bool):
                raise ConfigError(f"{f.name}={value!r} must be True or False")
        for name in ("image_size", "batch_size", "epochs", "num_test"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be at least 1")
        if self.lr <= 0:
            raise ConfigError(f"lr={self.lr!r} must be positive")
        from animelib.data import crop_policies  # numpy only; animelib.data imports config lazily (no cycle)

        crop_policies(self.crop)  # a ConfigError naming crop= when it is not a policy
        for name in ("metrics_every", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be at least 1")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_profile(cls, profile: str = "smoke", **overrides: Any) -> Config:
        """The profile's settings with ``overrides`` on top; ``None`` overrides are ignored."""
        if profile not in PROFILES:
            raise ConfigError(f"profile={profile!r} is not one of {', '.join(PROFILES)}")
        cls._check_names(overrides)
        values = {**cls.PROFILES.get(profile, {}), **{k: v for k, v in overrides.items() if v is not None}}
        values["profile"] = profile
        if values.get("data_dir") is not None:  # absolute, so the CLI and the notebooks name the same run
            values["data_dir"] = str(Path(values["data_dir"]).expanduser().resolve())
        return cls(**values)

    @classmethod
    def _check_names(cls, values: dict[str, Any]) -> None:
        known = cls.field_names()
        for name in values:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(
                    f"unknown parameter {name!r} for {cls.__name__}{hint}; accepted: {', '.join(known)}"
                )

    def replace(self, **changes: Any) -> Config:
        self._check_names(changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.MODEL, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        values = {k: v for k, v in values.items() if k != "model"}
        cls._check_names(values)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    @classmethod
    def load(cls, path: str | Path) -> Config:
        return cls.from_dict(json.loads(Path(path).read_text()))

    @property
    def run_name(self) -> str:
        return f"{self.MODEL}-{self.profile}-s{self.seed}"

    @property
    def data_label(self) -> str:
        """A short description of the data for captions."""
        return "synthetic avatars (embedded default)" if self.data_dir is None else f"folder {self.data_dir}"

    def summary(self) -> str:
        """One line per field, for notebooks and logs."""
        width = max(len(n) for n in self.field_names())
        return "\n".join(f"{n:<{width}} = {getattr(self, n)!r}" for n in self.field_names())


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

    MODEL: ClassVar[str] = "dcgan"
    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": dict(ngf=8, ndf=8, batch_size=16, epochs=2, num_train=64, num_fixed=16, num_test=16),
        # quick: a narrower discriminator and one-sided label smoothing keep it from winning outright in the
        # few hundred steps a CPU can afford (measured: without them the generator never left noise)
        "quick": dict(ngf=32, ndf=16, batch_size=64, epochs=12, num_train=4_096, num_test=256, real_label=0.9),
        "full": dict(num_test=2_048, metrics_every=5, amp=True, channels_last=True),
    }

    def __post_init__(self):
        super().__post_init__()
        if self.image_size != 64:
            raise ConfigError(f"image_size={self.image_size} : the report's DCGAN makes 64x64 images only")
        if self.profile == "full" and (self.ngf, self.ndf) != (64, 64):
            raise ConfigError("ngf and ndf stay 64 in the full profile (the report's widths)")


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
        return tuple(n for n in ("landmark", "gray", "color") if getattr(self, f"{n}_loss"))


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
    interrupt_at: tuple[int, ...] = ()  # epochs at which the notebook stops and resumes (report: 3 times)

    MODEL: ClassVar[str] = "cyclegan"

    def __post_init__(self):
        super().__post_init__()
        if self.pool_size < 0 or self.lr_decay_epoch < 0:
            raise ConfigError(f"pool_size={self.pool_size} and lr_decay_epoch={self.lr_decay_epoch} must not be "
                              "negative")
        if any(not 0 < e for e in self.interrupt_at):
            raise ConfigError(f"interrupt_at={self.interrupt_at!r}: epochs to interrupt after must be positive")
    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": dict(image_size=32, ngf=4, ndf=4, batch_size=4, epochs=3, lr_decay_epoch=2,
                      num_a=16, num_b=16, num_test=8, pool_size=8, interrupt_at=(1,),
                      vgg_weights="allow-substitute", vgg_width=0.125),
        "quick": dict(image_size=64, ngf=16, ndf=16, batch_size=8, epochs=8, lr_decay_epoch=6,
                      num_a=640, num_b=640, num_test=64, interrupt_at=(3,),
                      vgg_weights="allow-substitute", vgg_width=0.25),
        "full": dict(image_size=128, num_test=512, interrupt_at=(), amp=True, channels_last=True),
    }


@dataclass(frozen=True)
class CartoonGANConfig(TranslationConfig):
    """CartoonGAN (report 3.4): edge-promoted fakes, VGG19 content loss, content-only pre-training."""

    n_blocks: int = 8
    ngf: int = 64
    ndf: int = 32
    batch_size: int = 16
    epochs: int = 100
    lr: float = 2e-4
    pretrain_epochs: int = 10  # generator trained on the content loss alone first
    content_weight: float = 10.0
    style_weight: float = 1.0

    MODEL: ClassVar[str] = "cartoongan"

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.pretrain_epochs < self.epochs:
            raise ConfigError(f"pretrain_epochs={self.pretrain_epochs} must be at least 0 and less than "
                              f"epochs={self.epochs}, or there is no adversarial training")
    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": dict(image_size=32, ngf=4, ndf=4, batch_size=4, epochs=2, pretrain_epochs=1,
                      num_a=16, num_b=16, num_test=8, vgg_weights="allow-substitute", vgg_width=0.125),
        "quick": dict(image_size=64, ngf=16, ndf=16, batch_size=8, epochs=10, pretrain_epochs=4,
                      num_a=640, num_b=640, num_test=64, vgg_weights="allow-substitute", vgg_width=0.25),
        "full": dict(image_size=128, num_test=512, amp=True, channels_last=True),
    }


CONFIGS: dict[str, type[Config]] = {c.MODEL: c for c in (DCGANConfig, CycleGANConfig, CartoonGANConfig)}


def config_class(model: str) -> type[Config]:
    try:
        return CONFIGS[model]
    except KeyError:
        raise ConfigError(f"model={model!r} is not one of {', '.join(CONFIGS)}") from None
