"""Profiles and the frozen config dataclass every model's config extends.

Each model module (``animelib.models.dcgan``, ...) defines its own config class, with its profiles, next to
its networks and trainer. A config is built from a named profile plus overrides::

    cfg = DCGANConfig.from_profile("quick", epochs=3)

``smoke`` runs in seconds (tests, CI), ``quick`` is the default main job on a 2-core CPU (README's timing table
says how long ``make figures`` takes), ``full`` is the report's settings on one GPU.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from animelib.errors import ConfigError

PROFILES = ("smoke", "quick", "full")

# Settings that change how fast a run goes, not what it is: a run may resume with other values of these.
RUNTIME_FIELDS = ("device", "amp", "channels_last", "compile", "deterministic", "log_every")

# The report's three datasets (Table 1): DCGAN's anime avatars, and the translation's photos (A) and anime (B).
DOMAINS = ("anime", "thumbs", "faces")
# How a real folder's images are framed: auto (crop to the face unless the images already are face crops),
# face (always around the face found, else the centre), center (the centre square), none (the whole image, padded)
CROPS = ("auto", "face", "center", "none")

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
    crop: str = "auto"  # real folders' crop: auto, face, center, none, or per folder ("thumbs=face,anime=none")
    image_size: int = 64
    batch_size: int = 128
    epochs: int = 100
    lr: float = 3e-4
    beta1: float = 0.5
    beta2: float = 0.999
    num_test: int = 64  # held-out images for figures and metrics
    chroma_blur: float = 0.0  # side taps a of a fixed [a, 1-2a, a] low-pass on G's colour (Cb, Cr) output; 0: off
    chroma_median: int = 0  # side k of a k x k median on G's colour output (after chroma_blur); 0: off
    # G's doubling layers: "transposed" convs (report) or "resize" (nearest x2, then a conv); a lever of each model
    # that has it (in its LEVERS, where its place sets the captions' order)
    upsample: str = "transposed"
    ema: float = 0.0  # decay of a moving average of the generators' weights that samples are drawn from (0: off)
    metrics_every: int = 1  # epochs between evaluations on the held-out images (and always after the last)
    # speed switches: runtime settings that may change when a run resumes, like the device (see RUNTIME_FIELDS)
    amp: bool = False  # bf16 autocast around the forward passes (CUDA; also runs on the CPU)
    channels_last: bool = False  # NHWC memory layout for the nets and the batches
    compile: bool = False  # torch.compile each net's forward (slow to start; pays off on long GPU runs)
    deterministic: bool = False  # CUDA: deterministic kernels instead of cudnn.benchmark and TF32
    log_every: int = 50  # steps between reading the losses back from the device (one sync), checking and logging

    MODEL: ClassVar[str] = "base"
    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {p: {} for p in PROFILES}
    # a profile's values for real folders (data_dir given) that replace its own: levers that helped on real-dev's
    # validation split and hurt on the embedded avatars (docs/recipe.md)
    REAL_FOLDERS: ClassVar[dict[str, dict[str, Any]]] = {}
    DATA_FIELDS: ClassVar[tuple[str, ...]] = ()  # the fields that count training images
    # levers beyond the report's recipe, named in every caption when on: field -> what it is
    LEVERS: ClassVar[dict[str, str]] = {"ema": "sampling from a moving average of the generator's weights",
                                        "chroma_blur": "a fixed low-pass on the colour of G's output",
                                        "chroma_median": "a median on the colour of G's output",
                                        "amp": "bf16 autocast"}
    # levers that are no longer in the code, each at the value it had when off: a run folder's config.json that
    # names one at that value still loads (from_dict drops it), one that turned it on is refused by name; None: a
    # lever that acted at sampling only, dropped at any value (the trained weights do not depend on it)
    REMOVED_LEVERS: ClassVar[dict[str, Any]] = {"chroma_guided": 0}

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
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema={self.ema!r} must be at least 0 (off) and below 1, e.g. 0.999")
        if not 0 <= self.chroma_blur < 1 / 3:
            raise ConfigError(f"chroma_blur={self.chroma_blur!r} must be at least 0 (off) and below 1/3, e.g. 1/6")
        if self.chroma_median not in (0, 3, 5, 7):
            raise ConfigError(f"chroma_median={self.chroma_median!r} must be 0 (off) or a median window side of 3, 5 "
                              "or 7")
        if self.upsample not in ("transposed", "resize"):
            raise ConfigError(f"upsample={self.upsample!r} is not one of transposed, resize")
        crop_policies(self.crop)  # a ConfigError naming crop= when it is not a policy
        for name in ("metrics_every", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be at least 1")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_profile(cls, profile: str = "smoke", **overrides: Any) -> Config:
        """The profile's settings (with its ``REAL_FOLDERS`` values when ``data_dir`` is given) and ``overrides`` on
        top; ``None`` overrides are ignored."""
        if profile not in PROFILES:
            raise ConfigError(f"profile={profile!r} is not one of {', '.join(PROFILES)}")
        cls._check_names(overrides)
        real = cls.REAL_FOLDERS.get(profile, {}) if overrides.get("data_dir") is not None else {}
        values = {**cls.PROFILES.get(profile, {}), **real, **{k: v for k, v in overrides.items() if v is not None}}
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
    def default_settings(cls) -> dict[str, Any]:
        """The defaults as :meth:`to_dict` writes them, with the removed levers at their off values: what a field
        missing from one of two compared settings counts as (``runs.config_diff``)."""
        return {**cls.REMOVED_LEVERS, **cls().to_dict()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        """The config a ``to_dict`` (a run folder's config.json) describes; a removed lever at its off value is
        dropped, one switched on is a ConfigError naming it."""
        values = {k: v for k, v in values.items() if k != "model"}
        for name, off in cls.REMOVED_LEVERS.items():
            value = values.pop(name, off)
            if off is not None and value != off:
                raise ConfigError(f"{name}={value!r}: the {name} lever has been removed from animelib (only its off "
                                  f"value {off!r} can be read); this run cannot be loaded or resumed")
        cls._check_names(values)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    @property
    def run_name(self) -> str:
        return f"{self.MODEL}-{self.profile}-s{self.seed}"

    @property
    def data_label(self) -> str:
        """A short description of the data for captions."""
        return "synthetic avatars (embedded default)" if self.data_dir is None else f"folder {self.data_dir}"

    def levers(self, notes: dict[str, str] | None = None) -> list[str]:
        """The levers beyond the report's recipe that this config switches on, each as ``name (what it is)``;
        ``notes`` adds a remark to a lever's parentheses (``{"amp": "skipped on this CPU"}``)."""
        default, notes = type(self)(), notes or {}
        return [f"{name}={_short(getattr(self, name))} ({what}{f'; {notes[name]}' if name in notes else ''})"
                for name, what in self.LEVERS.items() if getattr(self, name) != getattr(default, name)]

    def report_recipe(self) -> Config:
        """This config with every lever at the report's value (its default), the budget (widths, image counts,
        epochs, batch size) and the speed switches (:data:`RUNTIME_FIELDS`, such as ``amp``) kept: the report's
        recipe at this profile's budget."""
        default = type(self)()
        return self.replace(**{name: getattr(default, name) for name in self.LEVERS if name not in RUNTIME_FIELDS})

    def summary(self) -> str:
        """One line per field, for notebooks and logs."""
        width = max(len(n) for n in self.field_names())
        return "\n".join(f"{n:<{width}} = {getattr(self, n)!r}" for n in self.field_names())


def _short(value: Any) -> str:
    """A lever's value for a caption: its repr, floats such as 1/6 cut to 4 significant digits."""
    text = repr(value)
    return f"{value:.4g}" if isinstance(value, float) and len(text) > 8 else text


def crop_policies(crop: str) -> dict[str, str]:
    """The crop policy of each domain's folder from ``crop``: one policy for all ("auto", "face", "center",
    "none"), or per folder, e.g. ``"thumbs=face,anime=none"`` (folders not named get "auto")."""
    text = crop.strip() if isinstance(crop, str) else ""
    if text in CROPS:
        return dict.fromkeys(DOMAINS, text)
    policies = dict.fromkeys(DOMAINS, "auto")
    for item in text.split(",") if "=" in text else [text]:
        domain, _, policy = (t.strip() for t in item.partition("="))
        if domain not in DOMAINS or policy not in CROPS:
            raise ConfigError(f"crop={crop!r} is not accepted; use one of {', '.join(CROPS)}, or one per folder "
                              f"such as 'thumbs=face,anime=none' (folders: {', '.join(DOMAINS)})")
        policies[domain] = policy
    return policies
