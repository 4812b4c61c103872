"""VGG19 features for CartoonGAN's content and style losses (up to conv4_4, as in the CartoonGAN paper).

The ImageNet weights come from torchvision's file ``vgg19-dcbb9e9d.pth``: first from the torch hub cache
(``$TORCH_HOME/hub/checkpoints``), else downloaded. ImageNet VGG19 is the default wherever its weights can
be had. When they cannot, training stops with a message that says how to get the file, unless the config
allows the synthetic network (``vgg_weights="allow-substitute"``, as the smoke and quick profiles do).

The synthetic network is VGG19's own layout up to conv4_4 (``vgg_layers``, narrower by ``vgg_width``)
trained on the package's synthetic avatars of *both* styles, unpaired (the photos and the drawings show
different faces), to predict from each image its own face's attributes
(``animelib.data.labels.attribute_labels``) and five landmarks: per-domain objectives only, with no
photo-to-anime target, so the unpaired CartoonGAN gets no paired supervision through its content loss. Its
conv4_4 features describe the face (what it looks like and where its parts are) more than the style it is
drawn in. It trains with batch norm after every convolution, folded into
the convolutions afterwards (VGG19 has no batch norm), so features at conv4_4 have about unit scale per
channel. It is cached in
``cache_dir("content-networks")`` with its held-out accuracy, trained from its own seed on its own faces
(indices 8,000,000+), apart from the evaluators that measure the results. Its note, shown in captions:
``SYNTHETIC_NOTE``. (It replaced a random-weight conv2_2 substitute.)

Its held-out record (``held_out``) gives the distance between the features of a face's photo and its anime
rendering against that of unrelated faces (a measurement only: training never sees a face in both styles).
It is small and trained briefly on clean renders, so content-only pre-training of a generator through it
does not reproduce the input the way ImageNet VGG19 does: the generator finds high-frequency patterns it does
not see.
"""

from __future__ import annotations

import os
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from animelib.data.labels import ATTRIBUTES, attribute_classes
from animelib.data.synthetic import RENDERER_VERSION
from animelib.errors import ConfigError, WeightsUnavailableError
from animelib.metrics import landmark_error
from animelib.nets.frozen import (
    anime_faces,
    budget_for,
    file_sha256,
    fit,
    flip_faces,
    load_or_train,
    resample,
    soft_argmax,
)
from animelib.paths import cache_dir
from animelib.utils import say_once, select_device

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILE = "vgg19-dcbb9e9d.pth"
# VGG19's convolutions up to conv4_4 ("M" = 2x2 max pool), as in torchvision's ``vgg19().features[:26]``.
LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SYNTHETIC_NOTE = ("VGG19-shaped network trained on synthetic avatars of both styles, unpaired, to read each face's "
                  "attributes and landmarks (conv4_4); the report uses ImageNet VGG19")
ALLOW_SYNTHETIC = ("allow-substitute", "allow-synthetic")  # config values that allow it offline
SYNTHETIC_VERSION = 2  # 2: unpaired, attributes and landmarks only (1 also drew each face in anime style)
SYNTHETIC_SEED = 1919  # weights and batch order; the evaluators use their own seeds
SYNTHETIC_TRAIN_OFFSET = 8_000_000  # synthetic faces the network trains on
SYNTHETIC_HELD_OUT_OFFSET = 8_500_000


def vgg_layers(width: float = 1.0, batch_norm: bool = False) -> nn.Sequential:
    """conv1_1 ... conv4_4 with the ReLUs between (none after conv4_4); indices match torchvision's.

    ``batch_norm`` puts a BatchNorm2d after every convolution (for training; :func:`fold_batch_norm` removes
    them again), which shifts the indices.
    """
    layers: list[nn.Module] = []
    cin = 3
    for i, v in enumerate(LAYOUT):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        cout = max(8, int(round(v * width)))
        layers.append(nn.Conv2d(cin, cout, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        if i < len(LAYOUT) - 1:
            layers.append(nn.ReLU(inplace=True))
        cin = cout
    return nn.Sequential(*layers)


def fold_batch_norm(layers: nn.Sequential, width: float) -> nn.Sequential:
    """``vgg_layers(width, batch_norm=True)`` (eval statistics) -> the same function as ``vgg_layers(width)``."""
    convs = [m for m in layers if isinstance(m, nn.Conv2d)]
    norms = [m for m in layers if isinstance(m, nn.BatchNorm2d)]
    plain = vgg_layers(width)
    with torch.no_grad():
        for target, conv, bn in zip((m for m in plain if isinstance(m, nn.Conv2d)), convs, norms, strict=True):
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C,)
            target.weight.copy_(conv.weight * scale[:, None, None, None])
            target.bias.copy_((conv.bias - bn.running_mean) * scale + bn.bias)
    return plain


class VGGFeatures(nn.Module):
    """Frozen features at conv4_4 of images in [-1, 1] (ImageNet normalisation applied inside).

    ``synthetic``: True for the network trained on synthetic avatars (``note`` says which network it is);
    ``weights_file`` and ``weights_sha256`` name the file its weights came from.
    """

    def __init__(self, layers: nn.Sequential, synthetic: bool, note: str, weights_file: str | None = None,
                 weights_sha256: str | None = None):
        super().__init__()
        self.layers = layers.eval().requires_grad_(False)
        self.synthetic = synthetic
        self.note = note
        self.weights_file = weights_file
        self.weights_sha256 = weights_sha256
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True):  # always eval: no dropout or batch norm, but keep it explicit
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(((x + 1) / 2 - self.mean) / self.std)


def weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


_failed_download: list[OSError] = []  # a download that failed in this process is not tried again


def _imagenet_layers() -> tuple[nn.Sequential, str]:
    """VGG19 conv1_1..conv4_4 with torchvision's ImageNet weights (cache, else download, once per process)."""
    path = weights_path()
    if not path.exists():
        if os.environ.get("ANIMELIB_OFFLINE") == "1":
            raise OSError("downloads are switched off (ANIMELIB_OFFLINE=1)")
        if _failed_download:
            raise _failed_download[0]
        try:
            torch.hub.load_state_dict_from_url(VGG19_URL, progress=True)  # writes the file into the cache
        except OSError as e:  # URLError is an OSError
            _failed_download.append(e)
            raise
    state = torch.load(path, map_location="cpu", weights_only=True)
    layers = vgg_layers()
    wanted = {f"features.{k}": v for k, v in layers.state_dict().items()}
    missing = [k for k in wanted if k not in state]
    if missing:
        raise OSError(f"{path} is not a VGG19 state dict (missing {missing[0]})")
    layers.load_state_dict({k.removeprefix("features."): state[k] for k in wanted})
    return layers, f"VGG19 ImageNet weights ({path.name})"


def _plain_reason(error: Exception) -> str:
    """Why the ImageNet weights could not be had, in plain words (not the raw ``urlopen error``)."""
    if os.environ.get("ANIMELIB_OFFLINE") == "1":
        return "downloads are switched off (ANIMELIB_OFFLINE=1)"
    if isinstance(error, urllib.error.URLError):
        return "they could not be downloaded (no connection to download.pytorch.org)"
    return f"they could not be read ({str(error).splitlines()[0][:200]})"


def load_vgg19(cfg, device: torch.device | str = "cpu") -> VGGFeatures:
    """The frozen VGG19 features the config asks for: ImageNet weights, or the allowed synthetic network."""
    device = select_device(device) if isinstance(device, str) else device
    try:
        layers, note = _imagenet_layers()
        return VGGFeatures(layers, False, note, str(weights_path().resolve()), file_sha256(weights_path())).to(device)
    except (OSError, RuntimeError, ValueError) as e:  # URLError is an OSError
        reason = _plain_reason(e)
    if cfg.vgg_weights not in ALLOW_SYNTHETIC:
        raise WeightsUnavailableError(
            f"VGG19 ImageNet weights are needed for the content loss, but {weights_path()} is missing and "
            f"{reason}. On a machine with internet run\n"
            f"  python -c \"import torchvision; torchvision.models.vgg19(weights='IMAGENET1K_V1')\"\n"
            f"or download {VGG19_URL} into {weights_path().parent}/ (set TORCH_HOME to use another cache). "
            "To run anyway with a VGG19-shaped network trained on synthetic avatars, set "
            "vgg_weights='allow-substitute'."
        )
    say_once(f"Note: the ImageNet VGG19 weights are not in {weights_path().parent}/ and {reason}, "
             f"so the content and style losses use a {SYNTHETIC_NOTE}. Captions say so.")
    budget = budget_for(cfg.profile)
    return load_synthetic_vgg(cfg.vgg_width, budget, device, progress=False)


# --- the VGG19-shaped network trained on synthetic avatars ---------------------------------------------------------

@dataclass(frozen=True)
class SyntheticBudget:
    """Faces per style it trains on (photos and drawings of different faces), passes over them, training
    resolution, held-out pairs (a face in both styles, for the feature distances only)."""

    n_pairs: int
    epochs: int
    size: int
    n_held_out: int


SYNTHETIC_BUDGETS = {"smoke": SyntheticBudget(n_pairs=200, epochs=4, size=32, n_held_out=64),
                     "standard": SyntheticBudget(n_pairs=1500, epochs=3, size=64, n_held_out=256)}


class ContentTrainingNet(nn.Module):
    """VGG19 layout (with batch norm) to conv4_4, plus the heads it learns through, both reading conv4_4.

    (N, 3, S, S) ImageNet-normalised -> {"attributes": {attribute: (N, classes) logits}, "landmarks": (N, 5, 2)
    pixels}.
    """

    def __init__(self, width: float):
        super().__init__()
        self.width = width
        self.body = vgg_layers(width, batch_norm=True)
        channels = self.body[-1].num_features
        self.attributes = nn.ModuleDict({name: nn.Linear(channels * 4, len(classes))
                                         for name, classes in attribute_classes().items()})
        self.landmarks = nn.Conv2d(channels, 5, 1)

    def forward(self, x: torch.Tensor) -> dict:
        f = F.relu(self.body(x))  # (N, C, S/8, S/8): conv4_4 after its (folded) batch norm
        pooled = F.adaptive_avg_pool2d(f, 2).flatten(1)  # (N, 4C)
        return {"attributes": {name: head(pooled) for name, head in self.attributes.items()},
                "landmarks": soft_argmax(self.landmarks(f), stride=x.shape[-1] / f.shape[-1])}


def _normalise(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, S, S) uint8 -> (N, 3, size, size) ImageNet-normalised floats, as VGGFeatures feeds its layers."""
    x = resample(images.float() / 255, size)
    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def _faces(n: int, start: int, size: int, progress: bool, paired: bool):
    """Photos of faces ``start``.. and drawings of faces ``start + n``.. (``paired``: of the same faces ``start``..):
    images (2n, 3, S, S) uint8, each image's own landmarks and attribute labels."""
    photo, marks_p, labels_p = anime_faces(n, start, size=size, style="photo", progress=progress)
    anime, marks_a, labels_a = anime_faces(n, start if paired else start + n, size=size, progress=progress)
    return (torch.cat([photo, anime]), torch.cat([marks_p, marks_a]),
            {k: torch.cat([v, labels_a[k]]) for k, v in labels_p.items()})


def _content_step(net: ContentTrainingNet, x: torch.Tensor, t: dict, g: torch.Generator) -> torch.Tensor:
    """Each image's own attributes and landmarks, whichever style it is drawn in."""
    flip = torch.rand(len(x), generator=g) < 0.5
    x, marks = flip_faces(x, t["landmarks"], flip)
    out = net(x)
    size = x.shape[-1]
    return (sum(F.cross_entropy(out["attributes"][name], t[name]) for name in ATTRIBUTES)
            + 4 * F.smooth_l1_loss(out["landmarks"] / size * 32, marks / size * 32, beta=0.5))  # pixels at 32 px


def train_synthetic_vgg(width: float, budget: str = "standard", progress: bool = True
                        ) -> tuple[nn.Sequential, dict]:
    """Train the network on both styles, unpaired; returns plain ``vgg_layers(width)`` (batch norm folded in) and
    its held-out accuracy (attributes, landmark error in pixels at the training size, paired/unrelated distances)."""
    b = _check_synthetic_budget(budget)
    images, marks, labels = _faces(b.n_pairs, SYNTHETIC_TRAIN_OFFSET, b.size, progress, paired=False)
    with torch.random.fork_rng(devices=[]):  # new layers draw their weights from the global CPU RNG
        torch.manual_seed(SYNTHETIC_SEED)
        net = ContentTrainingNet(width)
    fit(net, _content_step, _normalise(images, b.size), {"landmarks": marks, **labels}, b.epochs, SYNTHETIC_SEED,
        "training the VGG19-shaped content network", batch_size=32, progress=progress)
    layers = fold_batch_norm(net.body.eval(), width)
    return layers, synthetic_held_out(net, layers, b, progress)


@torch.no_grad()
def synthetic_held_out(net: ContentTrainingNet, layers: nn.Sequential, b: SyntheticBudget, progress: bool = False
                       ) -> dict:
    """Held-out accuracy of the heads on either style, and how far conv4_4 features of a face's photo are from
    its anime rendering (``paired_l1``) against those of unrelated faces (``unrelated_l1``)."""
    images, marks, labels = _faces(b.n_held_out, SYNTHETIC_HELD_OUT_OFFSET, b.size, progress, paired=True)
    x = _normalise(images, b.size)
    out_heads = net.eval()(x)
    logits, predicted = out_heads["attributes"], out_heads["landmarks"]
    out: dict = {"image_size": b.size, "n_pairs": b.n_held_out, "width": net.width}
    out["accuracy"] = {name: round(float((logits[name].argmax(1) == labels[name]).float().mean()), 4)
                       for name in ATTRIBUTES}
    out["landmark_error_px"] = round(landmark_error(predicted, marks), 3)
    out.update(content_distances(VGGFeatures(layers, True, SYNTHETIC_NOTE), images[:b.n_held_out],
                                 images[b.n_held_out:]))
    return out


@torch.no_grad()
def content_distances(features: nn.Module, photos: torch.Tensor, anime: torch.Tensor) -> dict[str, float]:
    """Mean L1 between feature maps (the content loss) of each photo and its own anime rendering, and of each
    photo and the anime rendering of another face (the next one); ``ratio`` = paired / unrelated (lower: the
    features keep content across styles). Images: (N, 3, S, S) uint8, same faces in the same order."""
    to_unit = lambda im: im.float() / 127.5 - 1  # noqa: E731
    f_photo, f_anime = features(to_unit(photos)), features(to_unit(anime))  # (N, C, h, w)
    paired = (f_photo - f_anime).abs().mean((1, 2, 3))
    unrelated = (f_photo - f_anime.roll(1, 0)).abs().mean((1, 2, 3))
    return {"paired_l1": round(float(paired.mean()), 4), "unrelated_l1": round(float(unrelated.mean()), 4),
            "ratio": round(float(paired.mean() / unrelated.mean()), 4)}


def _check_synthetic_budget(budget: str) -> SyntheticBudget:
    if budget not in SYNTHETIC_BUDGETS:
        raise ConfigError(f"budget={budget!r} is not one of {', '.join(SYNTHETIC_BUDGETS)}")
    return SYNTHETIC_BUDGETS[budget]


def synthetic_vgg_path(width: float, budget: str) -> Path:

    _check_synthetic_budget(budget)
    name = f"vgg19-synthetic-w{width:g}-{budget}-v{SYNTHETIC_VERSION}-r{RENDERER_VERSION}.pt"
    return cache_dir("content-networks") / name


def load_synthetic_vgg(width: float = 0.25, budget: str = "standard", device: torch.device | str = "cpu",
                       progress: bool = True) -> VGGFeatures:
    """The cached VGG19-shaped network trained on synthetic avatars, trained first if missing, as frozen
    :class:`VGGFeatures` (``held_out`` holds its held-out accuracy, ``weights_file``/``weights_sha256`` its file)."""
    net = load_or_train(synthetic_vgg_path(width, budget), lambda: vgg_layers(width),
                        lambda: train_synthetic_vgg(width, budget, progress))
    features = VGGFeatures(net, True, SYNTHETIC_NOTE, net.weights_file, net.weights_sha256)
    features.held_out = net.held_out
    return features.to(device)
