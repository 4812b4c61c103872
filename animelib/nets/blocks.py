"""Building blocks shared by the networks, and the layer table the architecture figures are drawn from."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

NORMS = {"batch": nn.BatchNorm2d, "instance": nn.InstanceNorm2d}
ACTS = {"lrelu": lambda: nn.LeakyReLU(0.2, inplace=True), "relu": lambda: nn.ReLU(inplace=True),
        "tanh": nn.Tanh}
SHORT = {"batch": "BN", "instance": "IN", "lrelu": "LReLU", "relu": "ReLU", "tanh": "Tanh"}


class NearestUpsample(nn.Module):
    """Nearest-neighbour up-sampling by an integer factor, as ``nn.Upsample(mode="nearest")`` computes it.

    Resampled in channels-last layout and handed back contiguous: the same numbers forward and backward (bit for
    bit), but PyTorch's CPU kernel runs much faster on channels-last input than on the default layout (about 2x
    forward and backward together at the quick profile's sizes, ``benchmarks/RESULTS.md``).
    """

    def __init__(self, scale_factor: int):
        super().__init__()
        self.scale_factor = scale_factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.is_contiguous(memory_format=torch.channels_last):
            return F.interpolate(x, scale_factor=self.scale_factor, mode="nearest")
        x = x.contiguous(memory_format=torch.channels_last)
        return F.interpolate(x, scale_factor=self.scale_factor, mode="nearest").contiguous()

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}"


class ConvBlock(nn.Sequential):
    """conv or transposed conv, then optional norm and activation: one row of an architecture figure."""

    def __init__(self, cin: int, cout: int, k: int, s: int = 1, p: int = 0, transposed: bool = False,
                 norm: str | None = None, act: str | None = None, output_padding: int = 0,
                 padding_mode: str = "zeros", resize: bool = False):
        if transposed and resize:  # the same up-sampling by s as nearest-neighbour resizing, then a k x k conv:
            # every output pixel gets the same number of taps, so no checkerboard (Odena et al., 2016)
            layers = [NearestUpsample(s),
                      nn.Conv2d(cin, cout, k, 1, k // 2, bias=norm is None, padding_mode="reflect")]
        elif transposed:
            layers = [nn.ConvTranspose2d(cin, cout, k, s, p, output_padding=output_padding, bias=norm is None)]
        else:
            layers = [nn.Conv2d(cin, cout, k, s, p, bias=norm is None, padding_mode=padding_mode)]
        if norm:
            layers.append(NORMS[norm](cout))
        if act:
            layers.append(ACTS[act]())
        super().__init__(*layers)
        self.kind = ("Resize+Conv" if resize else "ConvT") if transposed else "Conv"
        self.k, self.s = k, s
        self.post = ", ".join(SHORT[x] for x in (norm, act) if x)


# BT.601 rows for RGB: the luma, and the colour-difference channels Cb and Cr (on [-1, 1] images: no offset)
LUMA_RGB = (0.299, 0.587, 0.114)
CHROMA_RGB = ((-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))


def luma(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> (N, 1, H, W): the brightness (BT.601 luma)."""
    return (images * images.new_tensor(LUMA_RGB).view(1, 3, 1, 1)).sum(1, keepdim=True)


def chroma(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> (N, 2, H, W): the colour-difference channels Cb and Cr (no luma)."""
    weight = torch.tensor(CHROMA_RGB, dtype=images.dtype, device=images.device)
    return torch.einsum("kc,nchw->nkhw", weight, images)


def rgb_from_ycbcr() -> torch.Tensor:
    """(3, 3) float64, columns Y, Cb, Cr: a change of luma or colour written as a change of R, G and B."""
    return torch.linalg.inv(torch.tensor((LUMA_RGB, *CHROMA_RGB), dtype=torch.float64))


class ChromaBlur(nn.Module):
    """A fixed low-pass on the colour of an RGB image, its brightness untouched: Cb and Cr are filtered by the
    separable kernel ``[a, 1 - 2a, a]`` in each direction (reflected at the borders), the luma passes as it is.

    Colour is blurred the way JPEG subsamples it: the eye reads detail from brightness, and a generator's colour
    speckle is finer than any colour edge of a drawing. As the generator's last step, G learns through it (D sees
    its output), so it is part of the net, not a retouch of the samples. Being linear, it is one 3x3 depthwise
    blur of RGB mixed back through the projection onto the colour plane: ``x + P (blur(x) - x)``.
    """

    def __init__(self, a: float):
        super().__init__()
        if not 0 < a < 1 / 3:
            raise ValueError(f"chroma_blur={a!r} must be above 0 and below 1/3 (the centre tap stays the largest)")
        self.a = a
        taps = torch.tensor([a, 1 - 2 * a, a], dtype=torch.float64)
        projection = rgb_from_ycbcr()[:, 1:] @ torch.tensor(CHROMA_RGB, dtype=torch.float64)  # RGB -> its colour part
        self.register_buffer("kernel", torch.outer(taps, taps).float().expand(3, 1, 3, 3).clone(), persistent=False)
        self.register_buffer("projection", projection.float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.kernel.to(x.dtype), groups=3)
        return x + torch.einsum("kc,nchw->nkhw", self.projection.to(x.dtype), blurred - x)

    def extra_repr(self) -> str:
        return f"a={self.a}"


class ColourStep(nn.Module):
    """Base of the filters that change only the colour (Cb, Cr) of an RGB image: :meth:`recolour` writes a new
    colour back into the image, its brightness as it was."""

    def __init__(self):
        super().__init__()
        self.register_buffer("from_colour", rgb_from_ycbcr()[:, 1:].float(), persistent=False)

    def recolour(self, x: torch.Tensor, colour: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """``x`` (RGB) with its colour ``colour`` (``chroma(x)``) replaced by ``new``."""
        return x + torch.einsum("ck,nkhw->nchw", self.from_colour.to(x.dtype), new - colour)


class ChromaMedian(ColourStep):
    """A ``k`` x ``k`` median of the colour (Cb, Cr) of an RGB image, its brightness untouched (reflected at the
    borders).

    Where :class:`ChromaBlur` spreads a colour speck over its neighbours, a median removes it: a speck of colour
    covering less than half the window takes its surroundings' colour, while a colour edge stays where it is and as
    sharp as it was (a drawing's flat regions and outlines pass). As the generator's last step G learns through it;
    each output pixel's gradient goes to the pixel whose colour the median picked.
    """

    def __init__(self, k: int):
        super().__init__()
        if k < 3 or k % 2 == 0:
            raise ValueError(f"chroma_median={k!r} must be an odd window side of at least 3")
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        colour = chroma(x)
        padded = F.pad(colour, (self.k // 2,) * 4, mode="reflect")
        windows = padded.unfold(2, self.k, 1).unfold(3, self.k, 1)  # (N, 2, H, W, k, k)
        return self.recolour(x, colour, windows.flatten(-2).median(-1).values)

    def extra_repr(self) -> str:
        return f"k={self.k}"


def colour_filter(chroma_blur: float = 0.0, chroma_median: int = 0) -> nn.Module | None:
    """A generator's fixed last step on its output's colour (the levers ``chroma_blur``, then ``chroma_median``), or
    None when both are off."""
    steps = [ChromaBlur(chroma_blur)] if chroma_blur else []
    steps += [ChromaMedian(chroma_median)] if chroma_median else []
    return None if not steps else steps[0] if len(steps) == 1 else nn.Sequential(*steps)


class ResidualBlock(nn.Module):
    """x + conv-norm-relu-conv-norm(x), size and channels preserved (CycleGAN and CartoonGAN generators)."""

    def __init__(self, channels: int, norm: str = "instance"):
        super().__init__()
        self.body = nn.Sequential(
            ConvBlock(channels, channels, 3, 1, 1, norm=norm, act="relu", padding_mode="reflect"),
            ConvBlock(channels, channels, 3, 1, 1, norm=norm, padding_mode="reflect"),
        )
        self.kind, self.k, self.s, self.post = "ResBlock", 3, 1, "skip"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN's initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def layer_table(model: nn.Module, input_shape: tuple[int, ...]) -> list[dict[str, Any]]:
    """One row per ConvBlock / ResidualBlock, in forward order: kind, kernel k, stride s, output (C, H, W).

    Found by running the model on a zero input with forward hooks, so the figure cannot drift from the code.
    """
    rows: list[dict[str, Any]] = [{"name": "input", "kind": "Input", "k": None, "s": None,
                                   "out": tuple(input_shape[1:]), "post": ""}]
    hooks = []

    def hook(module, _inputs, output):
        rows.append({"name": module._table_name, "kind": module.kind, "k": module.k, "s": module.s,
                     "out": tuple(output.shape[1:]), "post": module.post})

    inside_block = set()
    for name, m in model.named_modules():
        if isinstance(m, ResidualBlock):
            inside_block.update(id(x) for x in m.modules() if x is not m)
        if isinstance(m, (ConvBlock, ResidualBlock)) and id(m) not in inside_block:
            m._table_name = name
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape, device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return rows


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, inputs) -> None:
    """Replace batch-norm running statistics by exact averages over ``inputs`` (an iterable of batches).

    The running averages lag behind the weights early in training (after a few steps they are still near their
    start, and an eval-mode generator then draws the same grey image for every z). Averaging the batch statistics
    of the current weights fixes that; training is unaffected, since it normalises with batch statistics.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m, m.momentum) for m in norms]
    was_training = net.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    net.train()
    for batch in inputs:
        net(batch)
    for m, momentum in saved:
        m.momentum = momentum
    net.train(was_training)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
