"""Training images kept as one uint8 tensor on the training device; batches are sliced and normalised there.

No loader workers and no per-step copies: on a GPU the whole set lives in its memory (a 64-px set of 100,000
images is 1.2 GB as uint8), on the CPU the batches are views of one array. Shuffling draws from the
trainer's own ``torch.Generator``, so a resumed run sees the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


def num_batches(n: int, batch_size: int) -> int:
    """How many batches :func:`index_batches` makes of ``n`` items."""
    return 1 if n <= batch_size else n // batch_size


def index_batches(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Split a permutation into full batches (the last partial one is dropped unless it is the only one)."""
    n = len(order)
    if n <= batch_size:
        return [order]
    return [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


class DeviceImages:
    """(N, 3, H, W) uint8 images on ``device`` (the GPU when training on one, else the CPU).

    ``images[idx]`` gives a float batch in [-1, 1] on the training device (channels-last if asked).
    """

    def __init__(self, images: np.ndarray, device: torch.device, channels_last: bool = False):
        # (N, H, W, 3) uint8 numpy -> (N, 3, H, W) uint8 torch, kept as uint8 until a batch is drawn
        tensor = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        self.data = tensor.to(device) if device.type == "cuda" else tensor
        self.device = device
        self.channels_last = channels_last

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
        """The images at ``idx`` as float in [-1, 1] on the training device: (B, 3, H, W)."""
        x = self.data[idx].to(self.device, non_blocking=True).float().div_(127.5).sub_(1)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def permutation(self, rng: torch.Generator) -> torch.Tensor:
        """A shuffled order of all images, drawn from ``rng``, on the device of the data it indexes."""
        return torch.randperm(len(self.data), generator=rng).to(self.data.device)

    def num_batches(self, batch_size: int) -> int:
        return num_batches(len(self.data), batch_size)

    def batch_indices(self, batch_size: int, rng: torch.Generator) -> list[torch.Tensor]:
        """One shuffled pass over the images, as index batches."""
        return index_batches(self.permutation(rng), batch_size)

    def batches(self, batch_size: int, rng: torch.Generator) -> Iterator[torch.Tensor]:
        """One shuffled pass over the images, as float batches on the training device."""
        for idx in self.batch_indices(batch_size, rng):
            yield self[idx]
