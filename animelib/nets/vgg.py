"""VGG19 features for CartoonGAN's content and style losses (up to conv4_4, as in the CartoonGAN paper).

The ImageNet weights come from torchvision's file ``vgg19-dcbb9e9d.pth``: first from the torch hub cache
(``$TORCH_HOME/hub/checkpoints``), else downloaded. When neither works, training stops with a message
that says how to get the file, unless the config allows a substitute (``vgg_weights="allow-substitute"``,
the smoke and quick profiles do).

The substitute is VGG19's own layer layout up to conv2_2 (optionally narrower, ``vgg_width``) with
random weights from a fixed seed, frozen. It still measures content: every layer is a fixed, local,
non-trivial convolution + ReLU, so features of two images agree only where their local structure
agrees, and an L1 between them penalises moved or lost edges and shapes much like trained features do
(less selectively: it also weighs colour and fine texture more). It stops at conv2_2 rather than
conv4_4 because random layers, unlike trained ones, lose more of the input with every layer: measured
here, 160 steps of content-only pre-training brought G(A) to SSIM 0.40 with A through conv2_2 but only
0.23 through conv4_4 (``vgg_width=0.25``, 64 px). Gram matrices of random convolutional features are
known to capture texture statistics well enough for texture synthesis (Ustyuzhaninov et al., 2017),
which is what the style loss needs. Results with it are labelled as such in every caption.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from animelib.errors import WeightsUnavailableError

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILE = "vgg19-dcbb9e9d.pth"
# VGG19's convolutions up to conv4_4 ("M" = 2x2 max pool), as in torchvision's ``vgg19().features[:26]``.
LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SUBSTITUTE_NOTE = "VGG19 substitute (random frozen weights up to conv2_2, no ImageNet weights available)"
SUBSTITUTE_DEPTH = 8  # layers of vgg_layers() the substitute keeps: conv1_1 ... conv2_2 (with its ReLUs)


def vgg_layers(width: float = 1.0) -> nn.Sequential:
    """conv1_1 ... conv4_4 with the ReLUs between (none after conv4_4); indices match torchvision's."""
    layers: list[nn.Module] = []
    cin = 3
    for i, v in enumerate(LAYOUT):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        cout = max(8, int(round(v * width)))
        layers.append(nn.Conv2d(cin, cout, 3, padding=1))
        if i < len(LAYOUT) - 1:
            layers.append(nn.ReLU(inplace=True))
        cin = cout
    return nn.Sequential(*layers)


class VGGFeatures(nn.Module):
    """Frozen features at conv4_4 of images in [-1, 1] (ImageNet normalisation applied inside)."""

    def __init__(self, layers: nn.Sequential, substitute: bool, note: str):
        super().__init__()
        self.layers = layers.eval().requires_grad_(False)
        self.substitute = substitute
        self.note = note
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True):  # always eval: no dropout or batch norm, but keep it explicit
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(((x + 1) / 2 - self.mean) / self.std)


def weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


def _imagenet_layers() -> tuple[nn.Sequential, str]:
    """VGG19 conv1_1..conv4_4 with torchvision's ImageNet weights (cache, else download)."""
    path = weights_path()
    if not path.exists():
        if os.environ.get("ANIMELIB_OFFLINE") == "1":
            raise OSError("downloads are switched off (ANIMELIB_OFFLINE=1)")
        torch.hub.load_state_dict_from_url(VGG19_URL, progress=True)  # writes the file into the cache
    state = torch.load(path, map_location="cpu", weights_only=True)
    layers = vgg_layers()
    wanted = {f"features.{k}": v for k, v in layers.state_dict().items()}
    missing = [k for k in wanted if k not in state]
    if missing:
        raise OSError(f"{path} is not a VGG19 state dict (missing {missing[0]})")
    layers.load_state_dict({k.removeprefix("features."): state[k] for k in wanted})
    return layers, f"VGG19 ImageNet weights ({path.name})"


def load_vgg19(cfg, device: torch.device | str = "cpu") -> VGGFeatures:
    """The frozen VGG19 features the config asks for: ImageNet weights, or the allowed substitute."""
    try:
        layers, note = _imagenet_layers()
        return VGGFeatures(layers, False, note).to(device)
    except (OSError, RuntimeError, ValueError) as e:  # URLError is an OSError
        reason = str(e).splitlines()[0][:200]
    if cfg.vgg_weights != "allow-substitute":
        raise WeightsUnavailableError(
            f"VGG19 ImageNet weights are needed for the content loss, but {weights_path()} is missing and "
            f"could not be downloaded ({reason}). On a machine with internet run\n"
            f"  python -c \"import torchvision; torchvision.models.vgg19(weights='IMAGENET1K_V1')\"\n"
            f"or download {VGG19_URL} into {weights_path().parent}/ (set TORCH_HOME to use another cache). "
            "To run anyway with a random-weight substitute, set vgg_weights='allow-substitute'."
        )
    message = (f"WARNING: {SUBSTITUTE_NOTE}: {reason}. Content and style losses use random frozen VGG19 "
               "features; results are labelled as such.")
    warnings.warn(message, stacklevel=2)
    print("!" * 100 + "\n" + message + "\n" + "!" * 100, file=sys.stderr)
    g = torch.Generator().manual_seed(19)  # the same substitute everywhere, without touching the caller's RNGs
    with torch.random.fork_rng(devices=[]):  # the default init of new layers draws from the global CPU RNG
        layers = vgg_layers(cfg.vgg_width)[:SUBSTITUTE_DEPTH]
    for m in layers.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=g)
            nn.init.zeros_(m.bias)
    return VGGFeatures(layers, True, SUBSTITUTE_NOTE).to(device)
