"""Training levers a GAN engineer reaches for, as pieces any training loop can use.

- :class:`EMA`: an exponential moving average of a generator's weights, to sample from (as StyleGAN does);
  it changes no training step.
- :func:`diff_augment`: differentiable augmentation (DiffAugment, Zhao et al. 2020) of every image the
  discriminator sees, real and fake, so a small set is harder to memorise; seeded by its own ``torch.Generator``.
- :func:`r1_penalty`: the squared gradient norm of D at real images (Mescheder et al. 2018).
- :func:`apply_spectral_norm`: spectral normalisation of every conv/linear weight of a discriminator
  (Miyato et al. 2018), optionally without its batch norms.
- :func:`init_upsampling_mix`: a checkerboard-free start for a generator's last transposed conv.
- :func:`linear_decay`: learning rates that fall linearly over the last epochs, so the live weights settle.
- :func:`colour_blotches`: real images with random colour blotches, brightness kept, for a discriminator to learn
  as fakes (as CartoonGAN's edge promotion teaches it that soft outlines are fake).

Nothing here knows about a trainer: each takes networks and tensors and returns tensors or modules.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from animelib.nets.blocks import recalibrate_batchnorm, rgb_from_ycbcr


def linear_decay(start: int, epochs: int):
    """The learning-rate multiplier of each epoch (0-based): 1 before ``start``, then falling linearly so that the
    last epoch trains at 1 / (epochs - start + 1) of the rate. For ``torch.optim.lr_scheduler.LambdaLR``."""
    return lambda epoch: 1.0 if epoch < start else (epochs - epoch) / (epochs - start + 1)


class EMA:
    """A shadow copy of ``net`` whose weights follow an exponential moving average of the live weights.

    ``update(net)`` after each optimizer step: ``shadow = decay * shadow + (1 - decay) * live`` for every
    parameter. With ``ramp``, the decay of update ``k`` is ``min(decay, (1 + k) / (10 + k))`` (as TensorFlow's
    moving averages do): the shadow then averages about the last tenth of the updates until ``decay`` takes over,
    so a long horizon (0.999) cannot keep a short run near its random start. Without it, the start weighs
    ``decay ** k`` after ``k`` updates. Buffers (batch-norm running statistics) are copied from the live net; they
    belong to the live weights, so call :meth:`recalibrate` before sampling from a net with batch norm. The shadow
    is in eval mode and needs no gradients; sample from ``ema.shadow``.
    """

    def __init__(self, net: nn.Module, decay: float = 0.999, ramp: bool = False):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay={decay!r} must be in [0, 1)")
        self.decay, self.ramp = decay, ramp
        self.num_updates = 0
        self.shadow = copy.deepcopy(net).eval().requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next update uses (with ``ramp``, lower over the first updates)."""
        if not self.ramp:
            return self.decay
        return min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        decay = self.current_decay()
        for shadow_p, live_p in zip(self.shadow.parameters(), net.parameters(), strict=True):
            shadow_p.lerp_(live_p.detach(), 1.0 - decay)
        for shadow_b, live_b in zip(self.shadow.buffers(), net.buffers(), strict=True):
            shadow_b.copy_(live_b)
        self.num_updates += 1

    def recalibrate(self, inputs: Iterable[torch.Tensor]) -> nn.Module:
        """Exact batch-norm statistics of the averaged weights over ``inputs`` (batches of noise); the shadow."""
        recalibrate_batchnorm(self.shadow, inputs)
        return self.shadow.eval()

    def state_dict(self) -> dict:
        return {"shadow": self.shadow.state_dict(), "decay": self.decay, "ramp": self.ramp,
                "num_updates": self.num_updates}

    def load_state_dict(self, state: dict) -> None:
        self.shadow.load_state_dict(state["shadow"])
        self.decay, self.ramp = float(state["decay"]), bool(state["ramp"])
        self.num_updates = int(state["num_updates"])


# --- initialisation -------------------------------------------------------------------------------------------------

@torch.no_grad()
def init_upsampling_mix(layer: nn.ConvTranspose2d, std: float = 0.04, generator: torch.Generator | None = None):
    """Start a stride-2, kernel-4 transposed conv as a random 1x1 channel mix followed by bilinear up-sampling.

    A transposed conv with random taps starts as a checkerboard: its four output phases (even/odd rows and
    columns) get unrelated weights, and a small discriminator may not push that out in a few hundred steps.
    Tying every tap of an (in, out) pair to one random number ``a ~ N(0, std)`` times the bilinear kernel (0.25,
    0.75, 0.75, 0.25)^2 gives all four phases the same weight sum, so the layer starts free of checkerboard and
    can still learn any kernel. ``std`` 0.04 matches the output scale of DCGAN's N(0, 0.02) per tap (four taps
    reach each output pixel). The bias, if any, is zeroed.
    """
    k = layer.kernel_size[0]
    if layer.stride != (2, 2) or layer.kernel_size != (4, 4):
        raise ValueError(f"init_upsampling_mix expects a 4x4 stride-2 transposed conv, got {layer}")
    taps = 1 - (torch.arange(k, dtype=torch.float32) - 1.5).abs() / 2  # (0.25, 0.75, 0.75, 0.25)
    mix = torch.randn(layer.in_channels, layer.out_channels, 1, 1, generator=generator) * std  # (in, out, 1, 1)
    layer.weight.copy_(mix * torch.outer(taps, taps))  # (in, out, 4, 4)
    if layer.bias is not None:
        layer.bias.zero_()


# --- DiffAugment ----------------------------------------------------------------------------------------------------

def _rand(shape: tuple[int, ...], generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn on the generator's device, moved to ``like``'s device and dtype."""
    device = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=device).to(like.device, like.dtype)


def _randint(high: int, shape: tuple[int, ...], generator: torch.Generator | None, like: torch.Tensor):
    device = generator.device if generator is not None else like.device
    return torch.randint(0, high, shape, generator=generator, device=device).to(like.device)


def augment_color(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per image; (N, C, H, W) in [-1, 1]."""
    n = x.shape[0]
    x = x + (_rand((n, 1, 1, 1), generator, x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand((n, 1, 1, 1), generator, x) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand((n, 1, 1, 1), generator, x) + 0.5) + mean


def augment_translation(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.125):
    """Shift each image by up to ``ratio`` of its size in x and y, filling with zeros; (N, C, H, W)."""
    n, _, h, w = x.shape
    max_dy, max_dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _randint(2 * max_dy + 1, (n, 1, 1), generator, x) - max_dy  # (N, 1, 1)
    dx = _randint(2 * max_dx + 1, (n, 1, 1), generator, x) - max_dx
    batch = torch.arange(n, device=x.device)[:, None, None]
    rows = (torch.arange(h, device=x.device)[None, :, None] + dy + 1).clamp(0, h + 1)  # (N, H, 1), 1 = padding
    cols = (torch.arange(w, device=x.device)[None, None, :] + dx + 1).clamp(0, w + 1)  # (N, 1, W)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)  # (N, H + 2, W + 2, C)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)  # (N, C, H, W)


def augment_cutout(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` of the image size at a random place in each image; (N, C, H, W)."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = _randint(h + (1 - size_y % 2), (n, 1, 1), generator, x) - size_y // 2  # (N, 1, 1), may start outside
    left = _randint(w + (1 - size_x % 2), (n, 1, 1), generator, x) - size_x // 2
    rows = torch.arange(h, device=x.device)[None, :, None]  # (1, H, 1)
    cols = torch.arange(w, device=x.device)[None, None, :]  # (1, 1, W)
    inside = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)  # (N, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


AUGMENTS = {"color": augment_color, "translation": augment_translation, "cutout": augment_cutout}


# --- colour-noise promoted fakes --------------------------------------------------------------------------------

def colour_blotches(x: torch.Tensor, amplitude: float, generator: torch.Generator | None = None,
                    luma: float = 0.0) -> torch.Tensor:
    """``x`` ((N, 3, H, W) RGB in [-1, 1]) with random colour blotches; its brightness (luma) kept unless ``luma``.

    The blotches are the sum of four random colour (Cb, Cr) fields drawn on grids of H/8, H/4, H/2 and H cells and
    resized smoothly to the image: from blobs an eighth of the image wide down to single-pixel confetti, the colour
    noise an undertrained translator paints. ``luma`` > 0 adds a brightness grain drawn the same way, at ``luma``
    times the colour's strength. Each image gets its own strength, uniform in ``[0, amplitude]`` (so some are nearly
    clean); the result is clipped to [-1, 1]. Random draws come from ``generator``.
    """
    n, _, h, w = x.shape
    to_rgb = rgb_from_ycbcr().to(x.device, x.dtype)  # (3, 3): a Y, Cb, Cr change in RGB

    def noise(channels: int) -> torch.Tensor:  # (N, channels, H, W): the four scales summed
        total = 0
        for cells in (max(1, h // 8), max(1, h // 4), max(1, h // 2), h):
            field = _rand((n, channels, cells, cells), generator, x) * 2 - 1  # in [-1, 1)
            total = total + F.interpolate(field, size=(h, w), mode="bilinear", align_corners=False)
        return total / 4

    fields = noise(2)  # Cb, Cr
    fields = torch.cat([luma * noise(1) if luma else torch.zeros_like(fields[:, :1]), fields], 1)  # Y, Cb, Cr
    strength = amplitude * _rand((n, 1, 1, 1), generator, x)
    delta = torch.einsum("ck,nkhw->nchw", to_rgb, fields) * strength  # (N, 3, H, W)
    return (x + delta).clamp(-1, 1)


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """DiffAugment: the ``policy``'s augmentations (comma-separated names of ``AUGMENTS``) applied in order.

    (N, C, H, W) in [-1, 1] -> the same shape, differentiable with respect to ``x``. Apply it to every image
    D sees (real and fake, in D's step and in G's), so G is not pushed to make augmented-looking images.
    Random draws come from ``generator`` (a ``torch.Generator``, whose state a checkpoint can save) or, when
    None, from the global RNG. An empty policy returns ``x`` unchanged.
    """
    for name in (p.strip() for p in policy.split(",")):
        if not name:
            continue
        if name not in AUGMENTS:
            raise ValueError(f"DiffAugment policy {name!r} is not one of {', '.join(AUGMENTS)}")
        x = AUGMENTS[name](x, generator)
    return x


# --- discriminator regularisers -------------------------------------------------------------------------------------

def r1_penalty(net_D: nn.Module, real: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``|grad_x D(x)|^2`` at real images ``x`` ((N, C, H, W)): a scalar, differentiable.

    Add ``gamma / 2 * r1_penalty(D, real)`` to D's loss (every k steps, times k, for the lazy variant): it keeps
    D flat around the real data, so D cannot win by sharp edges in its decision surface. D's output is summed
    over its elements (a patch discriminator works too). Run it in float32 (outside autocast).
    """
    real = real.detach().requires_grad_(True)
    out = net_D(real)
    (grad,) = torch.autograd.grad(out.sum(), real, create_graph=True)  # (N, C, H, W)
    return grad.square().sum(dim=(1, 2, 3)).mean()


def apply_spectral_norm(net: nn.Module, remove_batchnorm: bool = False) -> nn.Module:
    """Spectral normalisation of every Conv2d / ConvTranspose2d / Linear weight of ``net``, in place; ``net``.

    Each weight is divided by an estimate of its largest singular value (one power iteration per forward), so D
    is about 1-Lipschitz per layer. ``remove_batchnorm`` replaces D's batch norms by identities, as SN-GAN's
    discriminators do (batch norm rescales what SN bounds). The parametrization adds ``u``/``v`` buffers: apply
    it before building the optimizer and before loading a checkpoint made with it.
    """
    for module in list(net.modules()):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            spectral_norm(module)
        if remove_batchnorm:
            for name, child in module.named_children():
                if isinstance(child, nn.modules.batchnorm._BatchNorm):
                    setattr(module, name, nn.Identity())
    return net
