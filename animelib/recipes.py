"""Training levers a GAN engineer reaches for, as pieces any training loop can use.

- :class:`EMA`: an exponential moving average of a generator's weights, to sample from (as StyleGAN does);
  it changes no training step.
- :func:`r1_penalty`: the squared gradient norm of D at real images (Mescheder et al. 2018).
- :func:`init_upsampling_mix`: a checkerboard-free start for a generator's last transposed conv.
- :func:`linear_decay`: learning rates that fall linearly over the last epochs, so the live weights settle.

Nothing here knows about a trainer: each takes networks and tensors and returns tensors or modules.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from animelib.nets.blocks import recalibrate_batchnorm


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
