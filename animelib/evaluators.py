"""Evaluation-only networks, never used by a loss: a landmark evaluator and an attribute evaluator.

Why: the landmark loss uses the frozen regressor of :mod:`animelib.models.landmarks`; measuring landmark
error with that same network makes "+landmark lowers the landmark error" true by construction. The
evaluators here are trained apart from every loss network: other architectures, their own seeds and their
own synthetic faces (indices 7,000,000+ for training, 7,500,000+ held out; the models' data uses
0-2,999,999 and 9,000,000+, the regressor 5,000,000+ and 6,000,000+, the content network 8,000,000+).
They learn from anime-style renders, where translations land, with the renderer's exact labels.

- :class:`LandmarkEvaluator`: heatmaps and a soft-argmax (the regressor is a plain CNN with a linear head);
  same call as the regressor: (N, 3, S, S) in [-1, 1] -> (N, 5, 2) pixels of the input.
- :class:`AttributeEvaluator`: one classification head per attribute of :func:`attribute_labels`.
  "Attribute preservation" of a translation is the accuracy of the attributes it reads from G(A) against
  A's true attributes (:func:`attribute_preservation`); its accuracy on ground-truth anime renders
  (``held_out``) is the ceiling.

Both look at images at 32 px (inputs of other sizes are resampled inside), are cached in
``cache_dir("evaluators")`` with their held-out accuracy, and record the path and SHA-256 of their weights
file (``weights_file``, ``weights_sha256``) so :func:`check_independent` can show that no metric comes
from a network a loss uses. Budgets: ``"smoke"`` trains in seconds (tests, the smoke profile);
``"standard"`` in about a minute of one CPU core (quick and full profiles).
"""

from __future__ import annotations

import colorsys
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from animelib.errors import AnimelibError, ConfigError

EVALUATOR_VERSION = 1
INPUT_SIZE = 32  # what the evaluators see
RENDER_SIZE = 64  # what they are trained and tested on (resampled inside, like a 64 px translation)
TRAIN_OFFSET = 7_000_000  # synthetic indices of the evaluators' training faces
HELD_OUT_OFFSET = 7_500_000  # and of their held-out faces
LANDMARK_SEED = 1501  # weight init and batch order; the regressor uses 0, the content network its own
ATTRIBUTE_SEED = 1502
FLIP_LANDMARKS = (1, 0, 2, 4, 3)  # a mirrored face: left and right eyes and mouth corners swap
PHOTO_SHARE = 0.25  # photo renders added to the landmark evaluator's training set, as a share of the anime ones


@dataclass(frozen=True)
class Budget:
    """How much an evaluator trains: faces rendered for training, passes over them, held-out faces."""

    n_train: int
    epochs: int
    n_held_out: int


BUDGETS = {"smoke": Budget(n_train=400, epochs=12, n_held_out=128),
           "standard": Budget(n_train=3000, epochs=12, n_held_out=512)}


def check_budget(budget: str) -> Budget:
    if budget not in BUDGETS:
        raise ConfigError(f"budget={budget!r} is not one of {', '.join(BUDGETS)}")
    return BUDGETS[budget]


class CircularEvaluationError(AnimelibError):
    """A metric would be measured by a network that a loss also uses."""


# --- attribute labels ---------------------------------------------------------------------------------------------

# Coarse colour classes from an RGB value: achromatic classes first, then hue sectors (hue in [0, 1)).
_HUE_SECTORS = ((0.02, "red/pink"), (0.2, "warm"), (0.45, "green"), (0.7, "blue"), (0.85, "purple"),
                (1.01, "red/pink"))
HAIR_COLOURS = ("dark", "pale", "brown", "blonde/orange", "red/pink", "green", "blue", "purple")
EYE_COLOURS = ("grey", "brown/amber", "red/pink", "green", "blue", "purple")
SKIN_TONES = ("light", "medium", "dark")
FACE_SHAPES = ("narrow round", "narrow pointed", "wide round", "wide pointed")
MOUTHS = ("closed", "open")


def attribute_classes() -> dict[str, tuple[str, ...]]:
    """{attribute: its class names}, in the order of the labels of :func:`attribute_labels`."""
    from animelib.data.synthetic import BACKGROUND_PATTERNS, HAIR_STYLES

    return {"hair_style": HAIR_STYLES, "hair_colour": HAIR_COLOURS, "eye_colour": EYE_COLOURS,
            "skin_tone": SKIN_TONES, "face_shape": FACE_SHAPES, "background": BACKGROUND_PATTERNS,
            "mouth": MOUTHS}


ATTRIBUTES = ("hair_style", "hair_colour", "eye_colour", "skin_tone", "face_shape", "background", "mouth")


def _hue_sector(h: float) -> str:
    return next(name for bound, name in _HUE_SECTORS if h < bound)


def hair_colour_class(rgb) -> int:
    """Index into ``HAIR_COLOURS``: dark (value < 0.33), pale (saturation < 0.25), else by hue; warm hues split
    into brown (value < 0.75) and blonde/orange. The renderer's palette colours sit well inside their class."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    if v < 0.33:
        return HAIR_COLOURS.index("dark")
    if s < 0.25:
        return HAIR_COLOURS.index("pale")
    sector = _hue_sector(h)
    if sector == "warm":
        return HAIR_COLOURS.index("brown" if v < 0.75 else "blonde/orange")
    return HAIR_COLOURS.index(sector)


def eye_colour_class(rgb) -> int:
    """Index into ``EYE_COLOURS``: grey (saturation < 0.3), else by hue (brown, amber, hazel, gold are warm)."""
    h, s, _ = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    if s < 0.3:
        return EYE_COLOURS.index("grey")
    sector = _hue_sector(h)
    return EYE_COLOURS.index("brown/amber" if sector == "warm" else sector)


def attribute_labels(attrs: Mapping[str, Any]) -> dict[str, int]:
    """Class labels of one avatar, from its attributes (``animelib.data.synthetic.sample_attributes``).

    - ``hair_style``: the renderer's 7 styles (``HAIR_STYLES``);
    - ``hair_colour``: 8 coarse classes of the RGB hair colour (:func:`hair_colour_class`);
    - ``eye_colour``: 6 coarse classes of the RGB eye colour (:func:`eye_colour_class`);
    - ``skin_tone``: light (< 0.2), medium (< 0.45), dark: about a third of the faces each;
    - ``face_shape``: narrow / wide (face_width < 0.5) times round / pointed (jaw < 0.5) chin;
    - ``background``: the 4 patterns (``BACKGROUND_PATTERNS``);
    - ``mouth``: closed / open (the renderer opens it above mouth_open 0.55).
    """
    tone = float(attrs["skin_tone"])
    return {
        "hair_style": int(attrs["hair_style"]),
        "hair_colour": hair_colour_class(attrs["hair_color"]),
        "eye_colour": eye_colour_class(attrs["eye_color"]),
        "skin_tone": 0 if tone < 0.2 else 1 if tone < 0.45 else 2,
        "face_shape": 2 * int(attrs["face_width"] >= 0.5) + int(attrs["jaw"] >= 0.5),
        "background": int(attrs["background_pattern"]),
        "mouth": int(attrs["mouth_open"] > 0.55),
    }


def attribute_table(n: int, start: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Labels of synthetic avatars ``start`` .. ``start + n - 1`` of ``seed``: {attribute: (n,) int64}.

    For a translation's held-out inputs pass the range they were rendered from (for the models' test pairs:
    ``start=animelib.data.INDEX_OFFSET["test"]``, ``seed=cfg.data_seed``).
    """
    from animelib.data.synthetic import sample_attributes

    rows = [attribute_labels(sample_attributes(seed, i)) for i in range(start, start + n)]
    return {name: np.array([r[name] for r in rows], np.int64) for name in ATTRIBUTES}


# --- networks -----------------------------------------------------------------------------------------------------

def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def resample(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size): area averaging to shrink, bilinear to enlarge."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="area" if x.shape[-1] > size else "bilinear")


def soft_argmax(heatmaps: torch.Tensor, stride: float) -> torch.Tensor:
    """(N, K, h, w) logits -> (N, K, 2) expected (x, y) in pixels of an image ``stride`` times larger."""
    n, k, h, w = heatmaps.shape
    p = heatmaps.flatten(2).softmax(-1).view(n, k, h, w)
    # a cell covering pixels stride*j .. stride*(j+1)-1 has its centre at stride*j + (stride-1)/2
    xs = torch.arange(w, dtype=p.dtype, device=p.device) * stride + (stride - 1) / 2
    ys = torch.arange(h, dtype=p.dtype, device=p.device) * stride + (stride - 1) / 2
    return torch.stack([(p.sum(2) * xs).sum(-1), (p.sum(3) * ys).sum(-1)], -1)


class LandmarkEvaluator(nn.Module):
    """(N, 3, S, S) in [-1, 1] -> (N, 5, 2) landmark (x, y) in pixels of the input.

    Heatmaps at half resolution (16x16 for the 32 px it sees), a coarse 8x8 context path with dilated
    convolutions merged back in, and a soft-argmax: an architecture unlike the loss's regressor.
    """

    def __init__(self, width: int = 12):
        super().__init__()
        self.stem = nn.Sequential(_block(3, width), _block(width, 2 * width, stride=2),
                                  _block(2 * width, 2 * width, dilation=2))  # 16x16
        self.context = nn.Sequential(_block(2 * width, 3 * width, stride=2), _block(3 * width, 3 * width, dilation=2))
        self.head = nn.Sequential(_block(5 * width, 2 * width), nn.Conv2d(2 * width, 5, 1))

    def locate(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 32, 32) -> (N, 5, 2) in pixels of the 32 px image."""
        fine = self.stem(x)  # (N, 2w, 16, 16)
        coarse = F.interpolate(self.context(fine), scale_factor=2, mode="nearest")  # (N, 3w, 16, 16)
        return soft_argmax(self.head(torch.cat([fine, coarse], 1)), stride=x.shape[-1] / fine.shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-1]
        marks = self.locate(resample(x, INPUT_SIZE))
        return (marks + 0.5) * (size / INPUT_SIZE) - 0.5  # pixel centres at whole numbers at every size


class AttributeEvaluator(nn.Module):
    """(N, 3, S, S) in [-1, 1] -> {attribute: (N, classes) logits}, one head per attribute of ``ATTRIBUTES``."""

    def __init__(self, width: int = 24):
        super().__init__()
        self.features = nn.Sequential(
            _block(3, width), nn.MaxPool2d(2),  # 16x16
            _block(width, 2 * width), nn.MaxPool2d(2),  # 8x8
            _block(2 * width, 3 * width), nn.MaxPool2d(2),  # 4x4
            _block(3 * width, 4 * width), nn.Flatten(),
            nn.Linear(4 * width * 16, 128), nn.ReLU(inplace=True),
        )
        self.heads = nn.ModuleDict({name: nn.Linear(128, len(classes))
                                    for name, classes in attribute_classes().items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(resample(x, INPUT_SIZE))  # (N, 128)
        return {name: head(f) for name, head in self.heads.items()}


# --- weights files and their identity -----------------------------------------------------------------------------

_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file (remembered per path, size and modification time within a process)."""
    stat = Path(path).stat()
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_MEMO:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _SHA_MEMO[key] = digest.hexdigest()
    return _SHA_MEMO[key]


def record_weights(net: nn.Module, path: str | Path) -> nn.Module:
    """Mark ``net`` as loaded from ``path``: ``weights_file`` and ``weights_sha256`` attributes."""
    net.weights_file = str(Path(path).resolve())
    net.weights_sha256 = file_sha256(path)
    return net


def _identities(nets) -> dict[str, tuple[str, str]]:
    named = nets.items() if isinstance(nets, Mapping) else ((type(n).__name__, n) for n in nets)
    out = {}
    for name, net in named:
        file, sha = getattr(net, "weights_file", None), getattr(net, "weights_sha256", None)
        if not file or not sha:
            raise CircularEvaluationError(f"{name} records no weights file (weights_file, weights_sha256): its "
                                          "independence cannot be checked")
        out[name] = (file, sha)
    return out


def check_independent(evaluators: Mapping[str, nn.Module] | Iterable[nn.Module],
                      loss_networks: Mapping[str, nn.Module] | Iterable[nn.Module]) -> None:
    """Raise :class:`CircularEvaluationError` when an evaluator shares its weights file (path or SHA-256) with a
    network a loss uses; every network must record its file. Pass dicts {name: net} for clear messages."""
    measured, used = _identities(evaluators), _identities(loss_networks)
    for e_name, (e_file, e_sha) in measured.items():
        for l_name, (l_file, l_sha) in used.items():
            if e_file == l_file or e_sha == l_sha:
                raise CircularEvaluationError(
                    f"evaluator {e_name} and loss network {l_name} share weights ({e_file}, sha256 {e_sha[:12]}): "
                    "a metric would come from a network that a loss uses")


def load_or_train(path: Path, build: Callable[[], nn.Module], train: Callable[[], tuple[nn.Module, dict]],
                  device: torch.device | str = "cpu") -> nn.Module:
    """The network cached at ``path`` (``held_out`` metrics attached), trained by ``train()`` and written
    atomically first if missing or unreadable; frozen, in eval mode, its weights file recorded.

    The caller's random number generators are left as they were (building layers draws from them). Training
    runs on one CPU thread: these small networks gain little from a second one and lose much when the cores
    are shared (measured on the project's loaded 2-core machine: 2 threads took 7-8x the CPU time of one).
    """
    from animelib.utils import select_device

    with torch.random.fork_rng(devices=[]):
        net, held_out = _load_cached(path, build)
        if net is None:
            start, cpu_start, threads = time.perf_counter(), time.process_time(), torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                net, held_out = train()
            finally:
                torch.set_num_threads(threads)
            held_out = {**held_out, "train_seconds": round(time.perf_counter() - start, 1),
                        "train_cpu_seconds": round(time.process_time() - cpu_start, 1)}  # core-seconds
            tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
            torch.save({"net": net.state_dict(), "held_out": held_out}, tmp)
            os.replace(tmp, path)
    net.held_out = held_out
    record_weights(net, path)
    device = select_device(device) if isinstance(device, str) else device
    return net.to(device).eval().requires_grad_(False)


def _load_cached(path: Path, build: Callable[[], nn.Module]) -> tuple[nn.Module | None, dict | None]:
    """The network and held-out metrics stored at ``path``; (None, None) if missing, unreadable or outdated."""
    if not path.exists():
        return None, None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = build()
        net.load_state_dict(state["net"])
        return net, state["held_out"]
    except (OSError, RuntimeError, KeyError, EOFError, ValueError):
        return None, None  # train again and overwrite it


# --- training -----------------------------------------------------------------------------------------------------

def anime_faces(n: int, start: int, size: int = RENDER_SIZE, seed: int = 0, style: str = "anime",
                progress: bool = True) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Synthetic faces ``start`` .. ``start + n - 1``: images (n, 3, size, size) uint8, landmarks (n, 5, 2) in
    pixels of ``size``, labels {attribute: (n,) int64}."""
    from animelib.data.synthetic import render_set

    images, marks = render_set(style, n, size, seed=seed, start=start, progress=progress)
    labels = {k: torch.from_numpy(v) for k, v in attribute_table(n, start, seed).items()}
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(marks), labels


def to_input(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """(N, 3, S, S) uint8 -> (N, 3, size, size) float in [-1, 1], resampled like the evaluators do."""
    return resample(images.float().div(127.5).sub(1), size)


def flip_faces(x: torch.Tensor, marks: torch.Tensor | None, flip: torch.Tensor):
    """Mirror the images where ``flip`` (N,) is True; landmarks (pixels of x) mirrored and left/right swapped."""
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if marks is not None:
        mirrored = marks[:, FLIP_LANDMARKS].clone()
        mirrored[..., 0] = x.shape[-1] - 1 - mirrored[..., 0]
        marks = torch.where(flip[:, None, None], mirrored, marks)
    return x, marks


def fit(net: nn.Module, step_loss: Callable[[nn.Module, torch.Tensor, dict, torch.Generator], torch.Tensor],
        x: torch.Tensor, targets: dict[str, torch.Tensor], epochs: int, seed: int, desc: str,
        batch_size: int = 64, lr: float = 3e-3, progress: bool = True) -> None:
    """Adam with a one-cycle schedule over ``x`` ((N, 3, s, s) floats) in shuffled batches drawn from ``seed``;
    ``step_loss(net, batch, batch_targets, generator)`` returns the loss (it may augment the batch)."""
    from tqdm.auto import trange

    g = torch.Generator().manual_seed(seed)
    steps_per_epoch = max(1, len(x) // batch_size)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps_per_epoch)
    net.train()
    with torch.enable_grad():  # may be called from evaluation code running under no_grad
        for _ in trange(epochs, desc=desc, disable=not progress):
            order = torch.randperm(len(x), generator=g)
            for i in range(steps_per_epoch):
                idx = order[i * batch_size:(i + 1) * batch_size]
                loss = step_loss(net, x[idx], {k: v[idx] for k, v in targets.items()}, g)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    net.eval()


def _noisy(x: torch.Tensor, g: torch.Generator, sigma: float = 0.04) -> torch.Tensor:
    """Mild pixel noise, so the evaluators read imperfect translations as well as clean renders."""
    return x + sigma * torch.rand(len(x), 1, 1, 1, generator=g) * torch.randn(x.shape, generator=g)


def _landmark_step(net: LandmarkEvaluator, x: torch.Tensor, t: dict, g: torch.Generator) -> torch.Tensor:
    x, marks = flip_faces(x, t["landmarks"], torch.rand(len(x), generator=g) < 0.5)
    return F.smooth_l1_loss(net.locate(_noisy(x, g)), marks, beta=0.5)


def _attribute_step(net: AttributeEvaluator, x: torch.Tensor, t: dict, g: torch.Generator) -> torch.Tensor:
    x, _ = flip_faces(x, None, torch.rand(len(x), generator=g) < 0.5)
    logits = net.features(_noisy(x, g))
    return sum(F.cross_entropy(net.heads[name](logits), t[name]) for name in ATTRIBUTES)


def _with_seed(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # new layers draw their weights from the global CPU RNG
        torch.manual_seed(seed)
        return build()


def train_landmark_evaluator(budget: str = "standard", progress: bool = True) -> tuple[LandmarkEvaluator, dict]:
    """Train on anime renders of the evaluators' own faces; returns the net (eval) and its held-out errors."""
    b = check_budget(budget)
    images, marks, _ = anime_faces(b.n_train, TRAIN_OFFSET, progress=progress)
    n_photo = int(b.n_train * PHOTO_SHARE)
    if n_photo:  # some photo renders of the same faces, for translations half-way between the styles
        photos, photo_marks, _ = anime_faces(n_photo, TRAIN_OFFSET, style="photo", progress=progress)
        images, marks = torch.cat([images, photos]), torch.cat([marks, photo_marks])
    scale = INPUT_SIZE / RENDER_SIZE
    marks_small = (marks + 0.5) * scale - 0.5  # landmarks in pixels of the 32 px input
    net = _with_seed(LANDMARK_SEED, LandmarkEvaluator)
    fit(net, _landmark_step, to_input(images), {"landmarks": marks_small}, b.epochs, LANDMARK_SEED,
        "training the landmark evaluator", progress=progress)
    return net, landmark_held_out(net, b.n_held_out, progress)


@torch.no_grad()
def landmark_held_out(net: LandmarkEvaluator, n: int, progress: bool = False) -> dict[str, Any]:
    """Mean landmark error (pixels at 64 px) on held-out anime renders, and on photo renders of the same faces."""
    from animelib.metrics import landmark_error

    out: dict[str, Any] = {"image_size": RENDER_SIZE, "n": n}
    for style in ("anime", "photo"):
        images, marks, _ = anime_faces(n, HELD_OUT_OFFSET, style=style, progress=progress)
        out[f"landmark_error_{style}_px"] = round(landmark_error(net(images.float() / 127.5 - 1), marks), 3)
    return out


def train_attribute_evaluator(budget: str = "standard", progress: bool = True) -> tuple[AttributeEvaluator, dict]:
    """Train on anime renders of the evaluators' own faces; returns the net (eval) and its held-out accuracy."""
    b = check_budget(budget)
    images, _, labels = anime_faces(b.n_train, TRAIN_OFFSET, progress=progress)
    net = _with_seed(ATTRIBUTE_SEED, AttributeEvaluator)
    fit(net, _attribute_step, to_input(images), labels, b.epochs, ATTRIBUTE_SEED,
        "training the attribute evaluator", progress=progress)
    images, _, labels = anime_faces(b.n_held_out, HELD_OUT_OFFSET, progress=progress)
    accuracy = attribute_preservation(images.permute(0, 2, 3, 1).numpy(), labels, net)
    return net, {"image_size": RENDER_SIZE, "n": b.n_held_out, "accuracy": accuracy,
                 "chance": chance_accuracy(labels)}


def chance_accuracy(labels: Mapping[str, Any]) -> dict[str, float]:
    """Accuracy of always guessing the most frequent class, per attribute and their mean: the floor."""
    out = {name: round(float(np.bincount(np.asarray(labels[name])).max() / len(labels[name])), 4)
           for name in ATTRIBUTES}
    out["mean"] = round(float(np.mean(list(out.values()))), 4)
    return out


def _cache_path(kind: str, budget: str) -> Path:
    from animelib.data.synthetic import RENDERER_VERSION
    from animelib.paths import cache_dir

    check_budget(budget)
    return cache_dir("evaluators") / f"{kind}-{budget}-{INPUT_SIZE}px-v{EVALUATOR_VERSION}-r{RENDERER_VERSION}.pt"


def load_landmark_evaluator(budget: str = "standard", device: torch.device | str = "cpu",
                            progress: bool = True) -> LandmarkEvaluator:
    """The cached frozen landmark evaluator, trained first if missing (about a minute at the standard budget).

    ``held_out`` holds its own error (pixels at 64 px) on held-out anime renders: print it beside every
    landmark error it measures.
    """
    return load_or_train(_cache_path("landmark-evaluator", budget), LandmarkEvaluator,
                         lambda: train_landmark_evaluator(budget, progress), device)


def load_attribute_evaluator(budget: str = "standard", device: torch.device | str = "cpu",
                             progress: bool = True) -> AttributeEvaluator:
    """The cached frozen attribute evaluator, trained first if missing (about a minute at the standard budget).

    ``held_out["accuracy"]`` is its accuracy on held-out ground-truth anime renders: the ceiling of
    attribute preservation; ``held_out["chance"]`` the most-frequent-class floor.
    """
    return load_or_train(_cache_path("attribute-evaluator", budget), AttributeEvaluator,
                         lambda: train_attribute_evaluator(budget, progress), device)


def budget_for(profile: str) -> str:
    """The evaluators' budget for a config profile: smoke for smoke, standard for quick and full."""
    return "smoke" if profile == "smoke" else "standard"


# --- using them ---------------------------------------------------------------------------------------------------

def _batches(images, batch_size: int, device) -> Iterable[torch.Tensor]:
    """(N, H, W, 3) uint8 numpy or (N, 3, H, W) float in [-1, 1] -> batches (B, 3, H, W) in [-1, 1]."""
    for i in range(0, len(images), batch_size):
        chunk = images[i:i + batch_size]
        if isinstance(chunk, np.ndarray):
            chunk = torch.from_numpy(np.ascontiguousarray(chunk)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        yield chunk.float().clamp(-1, 1).to(device)


@torch.no_grad()
def predict_landmarks(evaluator: nn.Module, images, batch_size: int = 128) -> np.ndarray:
    """(N, 5, 2) landmarks in pixels of ``images`` ((N, H, W, 3) uint8 or (N, 3, H, W) in [-1, 1])."""
    device = next(evaluator.parameters()).device
    return torch.cat([evaluator(x).float().cpu() for x in _batches(images, batch_size, device)]).numpy()


@torch.no_grad()
def predict_attributes(evaluator: AttributeEvaluator, images, batch_size: int = 128) -> dict[str, np.ndarray]:
    """{attribute: (N,) predicted class} for ``images`` ((N, H, W, 3) uint8 or (N, 3, H, W) in [-1, 1])."""
    device = next(evaluator.parameters()).device
    parts = [{k: v.argmax(1).cpu() for k, v in evaluator(x).items()} for x in _batches(images, batch_size, device)]
    return {name: torch.cat([p[name] for p in parts]).numpy() for name in ATTRIBUTES}


def attribute_correct(outputs, true_labels: Mapping[str, Any], evaluator: AttributeEvaluator | None = None
                      ) -> dict[str, np.ndarray]:
    """Per image: {attribute: (N,) 1.0 where the attribute read from ``outputs`` is the true one, else 0.0},
    and ``"mean"``: the fraction of attributes right per image (per-image values for a paired bootstrap)."""
    evaluator = evaluator if evaluator is not None else load_attribute_evaluator(progress=False)
    predicted = predict_attributes(evaluator, outputs)
    n = len(next(iter(predicted.values())))
    out = {}
    for name in ATTRIBUTES:
        truth = np.asarray(true_labels[name])
        if truth.shape != (n,):
            raise ConfigError(f"true_labels[{name!r}] has shape {truth.shape}, expected ({n},) for {n} images")
        out[name] = (predicted[name] == truth).astype(np.float64)
    out["mean"] = np.mean([out[name] for name in ATTRIBUTES], axis=0)
    return out


def attribute_preservation(outputs, true_labels: Mapping[str, Any], evaluator: AttributeEvaluator | None = None
                           ) -> dict[str, float]:
    """Accuracy of the attributes the evaluator reads from ``outputs`` (e.g. G(A), (N, H, W, 3) uint8) against
    ``true_labels`` (A's, from :func:`attribute_table`): {attribute: accuracy, "mean": their mean}.

    The evaluator (default: the standard one) has its own accuracy on ground-truth renders in
    ``evaluator.held_out["accuracy"]``: the ceiling to print beside these numbers.
    """
    return {name: round(float(v.mean()), 4) for name, v in attribute_correct(outputs, true_labels, evaluator).items()}


# --- animeface as a third-party cross-check -----------------------------------------------------------------------

FACE_POINTS = ("left_eye", "right_eye", "nose", "mouth")  # what animeface and our landmarks both give


def face_points(landmarks) -> np.ndarray:
    """(N, 5, 2) landmarks -> (N, 4, 2) eye centres, nose tip and mouth centre (midpoint of the corners)."""
    marks = np.asarray(landmarks, np.float64)
    return np.concatenate([marks[:, :3], marks[:, 3:].mean(1, keepdims=True)], 1)


def animeface_points(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 4, 2) eye-box centres, nose point and mouth-box centre found by the third-party
    ``animeface`` detector (its most likely face; needs pillow<12), NaN for images where it finds no face.

    animeface names the eyes from the character's side; here, as in our landmarks, left = smaller x.
    """
    from animelib.data.faces import _ANIME_LOCK, _check_animeface

    _check_animeface()
    import animeface  # optional third-party detector, imported only here
    from PIL import Image

    out = np.full((len(images), 4, 2), np.nan)
    for i, img in enumerate(images):
        with _ANIME_LOCK:
            faces = animeface.detect(Image.fromarray(np.ascontiguousarray(img)))
        if not faces:
            continue
        f = max(faces, key=lambda face: face.likelihood)
        box_centre = lambda b: (b.x + (b.width - 1) / 2, b.y + (b.height - 1) / 2)  # noqa: E731
        eyes = sorted([box_centre(f.left_eye.pos), box_centre(f.right_eye.pos)])
        out[i] = [*eyes, (f.nose.pos.x, f.nose.pos.y), box_centre(f.mouth.pos)]
    return out
