"""Evaluation-only networks, never used by a loss: a landmark evaluator and an attribute evaluator.

Why: the landmark loss uses the frozen regressor of :mod:`animelib.nets.landmarks`; measuring landmark
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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from animelib.data.faces import ANIME_LOCK, check_animeface
from animelib.data.labels import ATTRIBUTES, attribute_classes, chance_accuracy
from animelib.data.synthetic import RENDERER_VERSION
from animelib.errors import ConfigError
from animelib.metrics import landmark_error
from animelib.nets.frozen import (
    anime_faces,
    fit,
    flip_faces,
    load_or_train,
    noisy,
    resample,
    soft_argmax,
    with_seed,
)
from animelib.paths import cache_dir

EVALUATOR_VERSION = 1


INPUT_SIZE = 32  # what the evaluators see


RENDER_SIZE = 64  # what they are trained and tested on (resampled inside, like a 64 px translation)


TRAIN_OFFSET = 7_000_000  # synthetic indices of the evaluators' training faces


HELD_OUT_OFFSET = 7_500_000  # and of their held-out faces


LANDMARK_SEED = 1501  # weight init and batch order; the regressor uses 0, the content network its own


ATTRIBUTE_SEED = 1502


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


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


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


def to_input(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """(N, 3, S, S) uint8 -> (N, 3, size, size) float in [-1, 1], resampled like the evaluators do."""
    return resample(images.float().div(127.5).sub(1), size)


def _landmark_step(net: LandmarkEvaluator, x: torch.Tensor, t: dict, g: torch.Generator) -> torch.Tensor:
    x, marks = flip_faces(x, t["landmarks"], torch.rand(len(x), generator=g) < 0.5)
    return F.smooth_l1_loss(net.locate(noisy(x, g)), marks, beta=0.5)


def _attribute_step(net: AttributeEvaluator, x: torch.Tensor, t: dict, g: torch.Generator) -> torch.Tensor:
    x, _ = flip_faces(x, None, torch.rand(len(x), generator=g) < 0.5)
    logits = net.features(noisy(x, g))
    return sum(F.cross_entropy(net.heads[name](logits), t[name]) for name in ATTRIBUTES)


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
    net = with_seed(LANDMARK_SEED, LandmarkEvaluator)
    fit(net, _landmark_step, to_input(images), {"landmarks": marks_small}, b.epochs, LANDMARK_SEED,
        "training the landmark evaluator", progress=progress)
    return net, landmark_held_out(net, b.n_held_out, progress)


@torch.no_grad()
def landmark_held_out(net: LandmarkEvaluator, n: int, progress: bool = False) -> dict[str, Any]:
    """Mean landmark error (pixels at 64 px) on held-out anime renders, and on photo renders of the same faces."""
    out: dict[str, Any] = {"image_size": RENDER_SIZE, "n": n}
    for style in ("anime", "photo"):
        images, marks, _ = anime_faces(n, HELD_OUT_OFFSET, style=style, progress=progress)
        out[f"landmark_error_{style}_px"] = round(landmark_error(net(images.float() / 127.5 - 1), marks), 3)
    return out


def train_attribute_evaluator(budget: str = "standard", progress: bool = True) -> tuple[AttributeEvaluator, dict]:
    """Train on anime renders of the evaluators' own faces; returns the net (eval) and its held-out accuracy."""
    b = check_budget(budget)
    images, _, labels = anime_faces(b.n_train, TRAIN_OFFSET, progress=progress)
    net = with_seed(ATTRIBUTE_SEED, AttributeEvaluator)
    fit(net, _attribute_step, to_input(images), labels, b.epochs, ATTRIBUTE_SEED,
        "training the attribute evaluator", progress=progress)
    images, _, labels = anime_faces(b.n_held_out, HELD_OUT_OFFSET, progress=progress)
    accuracy = attribute_preservation(images.permute(0, 2, 3, 1).numpy(), labels, net)
    return net, {"image_size": RENDER_SIZE, "n": b.n_held_out, "accuracy": accuracy,
                 "chance": chance_accuracy(labels)}


def _cache_path(kind: str, budget: str) -> Path:

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

    check_animeface()
    import animeface  # optional third-party detector, imported only here

    out = np.full((len(images), 4, 2), np.nan)
    for i, img in enumerate(images):
        with ANIME_LOCK:
            faces = animeface.detect(Image.fromarray(np.ascontiguousarray(img)))
        if not faces:
            continue
        f = max(faces, key=lambda face: face.likelihood)
        box_centre = lambda b: (b.x + (b.width - 1) / 2, b.y + (b.height - 1) / 2)  # noqa: E731
        eyes = sorted([box_centre(f.left_eye.pos), box_centre(f.right_eye.pos)])
        out[i] = [*eyes, (f.nose.pos.x, f.nose.pos.y), box_centre(f.mouth.pos)]
    return out
