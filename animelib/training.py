"""The training machinery every model shares: run folder, resume, epochs, history, checkpoints.

A model's trainer subclasses :class:`Trainer` and fills in ``build`` (data, nets, optimizers),
``train_step`` (one batch, returns the losses as floats) and optionally ``end_epoch`` (samples,
metrics) and ``extra_state`` / ``load_extra_state`` (anything else a resume needs, like an image pool).
Everything random in training draws from ``self.gen`` (a CPU ``torch.Generator`` saved in the
checkpoint) or from the global RNGs (also saved), so a resumed run continues exactly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from animelib.config import Config
from animelib.runs import Run
from animelib.utils import rng_state, seed_everything, select_device, set_rng_state


class Trainer:
    """Base trainer: ``Trainer(config, run_dir).fit()`` trains, resuming from the run's last checkpoint."""

    loss_names: ClassVar[tuple[str, ...]] = ()  # what train_step returns, in plotting order

    def __init__(self, config: Config, run_dir: str | Path, progress: bool = True):
        self.cfg = config
        self.device = select_device(config.device)
        self.run = Run(run_dir, config)
        self.progress = progress
        seed_everything(config.seed)
        self.gen = torch.Generator().manual_seed(config.seed)  # data order and training noise
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}
        self.epoch = 0  # epochs completed
        self.step = 0  # optimisation steps completed
        self.build()
        self.resumed = self._resume()

    # --- to be filled in by each model -------------------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def steps_per_epoch(self) -> int:
        raise NotImplementedError

    def batches(self) -> Iterator[Any]:
        """The batches of one epoch (drawn with ``self.gen``)."""
        raise NotImplementedError

    def train_step(self, batch: Any) -> dict[str, float]:
        raise NotImplementedError

    def end_epoch(self) -> None:
        """After each epoch, before the checkpoint: samples, metrics (``self.epoch`` is already counted)."""

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # --- shared --------------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.epoch >= self.cfg.epochs

    def state_dict(self) -> dict[str, Any]:
        return {
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "epoch": self.epoch,
            "step": self.step,
            "rng": rng_state(),
            "gen": self.gen.get_state(),
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for group, objects in (("nets", self.nets), ("optimizers", self.optimizers),
                               ("schedulers", self.schedulers)):
            for name, obj in objects.items():
                obj.load_state_dict(state[group][name])
        self.epoch, self.step = state["epoch"], state["step"]
        set_rng_state(state["rng"])
        self.gen.set_state(state["gen"])
        self.load_extra_state(state["extra"])

    def _resume(self) -> bool:
        # on the CPU: RNG states must stay CPU tensors; load_state_dict moves weights and optimizer state over
        state = self.run.load_checkpoint(map_location="cpu")
        if state is None:  # a fresh run: history from a run killed before its first checkpoint goes
            self.run.truncate_history(0)
            return False
        self.load_state_dict(state)
        self.run.truncate_history(state["history_size"])
        return True

    def fit(self, stop_at_epoch: int | None = None) -> Trainer:
        """Train up to ``cfg.epochs`` (or ``stop_at_epoch``); a finished run is not trained again."""
        end = self.cfg.epochs if stop_at_epoch is None else min(stop_at_epoch, self.cfg.epochs)
        if self.epoch >= end:
            return self
        if self.resumed:
            self.run.log({"event": "resume", "epoch": self.epoch, "step": self.step})
            self.resumed = False
        steps = self.steps_per_epoch()
        bar = _progress(total=self.cfg.epochs * steps, initial=self.step, disable=not self.progress,
                        desc=f"{self.cfg.MODEL} ({self.cfg.profile})", unit="step")
        try:
            while self.epoch < end:
                for net in self.nets.values():
                    net.train()
                start, records = time.perf_counter(), []
                for batch in self.batches():
                    losses = self.train_step(batch)
                    self.step += 1
                    records.append({"epoch": self.epoch + 1, "step": self.step, **losses})
                    bar.update()
                self.epoch += 1
                seconds = time.perf_counter() - start
                self.run.log_many(records)
                self.run.log({"event": "epoch", "epoch": self.epoch, "step": self.step,
                              "seconds": round(seconds, 3), "steps": len(records)})
                bar.set_postfix({k: f"{v:.3f}" for k, v in records[-1].items() if k in self.loss_names[:3]})
                for scheduler in self.schedulers.values():
                    scheduler.step()
                for net in self.nets.values():
                    net.eval()
                with torch.no_grad():
                    self.end_epoch()
                self.run.save_checkpoint(self.state_dict())
        finally:
            bar.close()
        return self

    # --- helpers for subclasses ----------------------------------------------------------------------
    def permutation(self, n: int) -> torch.Tensor:
        return torch.randperm(n, generator=self.gen)

    def randn(self, *shape: int) -> torch.Tensor:
        """Normal noise from the run's generator, on the training device (same numbers on every device)."""
        return torch.randn(*shape, generator=self.gen).to(self.device)

    def adam(self, params, lr: float | None = None) -> torch.optim.Adam:
        return torch.optim.Adam(params, lr=lr or self.cfg.lr, betas=(self.cfg.beta1, self.cfg.beta2))

    def to_device(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) uint8 to float in [-1, 1] on the training device."""
        return images_uint8.to(self.device, non_blocking=True).float().div_(127.5).sub_(1)


def num_batches(n: int, batch_size: int) -> int:
    """How many batches ``index_batches`` makes of ``n`` items."""
    return 1 if n <= batch_size else n // batch_size


def index_batches(n: int, batch_size: int, order: torch.Tensor) -> list[torch.Tensor]:
    """Split a permutation into full batches (the last partial one is dropped unless it is the only one)."""
    if n <= batch_size:
        return [order]
    return [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def _progress(**kwargs):
    from tqdm.auto import tqdm

    return tqdm(**kwargs)


def images_to_tensor(images) -> torch.Tensor:
    """(N, H, W, 3) uint8 numpy to (N, 3, H, W) uint8 torch, kept as uint8 until a batch is drawn."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


TRAINERS = {
    "dcgan": ("animelib.models.dcgan", "DCGANTrainer"),
    "cyclegan": ("animelib.models.cyclegan", "CycleGANTrainer"),
    "cartoongan": ("animelib.models.cartoongan", "CartoonGANTrainer"),
}


def trainer_class(model: str) -> type[Trainer]:
    import importlib

    module, name = TRAINERS[model]
    return getattr(importlib.import_module(module), name)


def train(config: Config, run_dir: str | Path, progress: bool = True) -> Trainer:
    """Train (or resume, or just reopen a finished run) the config's model in ``run_dir``.

    Epochs listed in ``config.interrupt_at`` end a training session there: the trainer is thrown away
    and a new one resumes from the checkpoint on disk, as the report's CycleGAN run was (Figure 7).
    """
    cls = trainer_class(config.MODEL)
    session = cls(config, run_dir, progress=progress)
    for epoch in sorted(getattr(config, "interrupt_at", ())):
        if session.epoch < epoch < config.epochs:
            session.fit(stop_at_epoch=epoch)
            session = cls(config, run_dir, progress=progress)  # a new session resumes from the checkpoint on disk
    return session.fit()


def load_trained(run_dir: str | Path, device: str = "auto") -> tuple[Config, dict[str, Any], torch.device]:
    """A run folder's config and last checkpoint, mapped to ``device``."""
    import json

    from animelib.config import config_class
    from animelib.errors import AnimelibError

    config_file = Path(run_dir) / "config.json"
    if not config_file.exists():
        raise AnimelibError(f"{run_dir} is not a run folder (no config.json)")
    cfg = config_class(json.loads(config_file.read_text())["model"]).load(config_file)
    dev = select_device(device)
    state = Run(run_dir, cfg).load_checkpoint(map_location=dev)
    if state is None:
        raise AnimelibError(f"{run_dir} has no checkpoint yet: train it first")
    return cfg, state, dev


def load_generator(run_dir: str | Path, name: str | None = None, device: str = "auto") -> nn.Module:
    """A trained generator of any model's run folder (eval mode): ``G`` by default, ``G_A2B``/``G_B2A`` for CycleGAN."""
    import importlib

    cfg, state, dev = load_trained(run_dir, device)
    module = importlib.import_module(TRAINERS[cfg.MODEL][0])
    name = name or ("G_A2B" if cfg.MODEL == "cyclegan" else "G")
    return load_net(module.build_generator(cfg), state, name, dev)


def load_net(net: nn.Module, state: dict[str, Any], name: str, device: torch.device) -> nn.Module:
    """``net`` with the weights ``state["nets"][name]``, on ``device``, in eval mode."""
    net.load_state_dict(state["nets"][name])
    return net.to(device).eval()
