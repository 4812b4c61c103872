"""The training machinery every model shares: run folder, resume, epochs, history, checkpoints.

A model's trainer subclasses :class:`Trainer` and fills in ``build`` (data, nets, optimizers),
``train_step`` (one batch, returns the losses as 0-d tensors) and optionally ``end_epoch`` (samples,
metrics) and ``extra_state`` / ``load_extra_state`` (anything else a resume needs, like an image pool).
Everything random in training draws from ``self.gen`` (a CPU ``torch.Generator`` saved in the
checkpoint) or from the global RNGs (also saved), so a resumed run continues exactly.

The hot loop does not wait for the device: losses stay tensors and are read back, checked to be
finite and written to the history every ``cfg.log_every`` steps and at the end of each epoch.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from animelib import faults
from animelib.config import Config
from animelib.errors import AnimelibError
from animelib.runs import Run
from animelib.utils import rng_state, seed_everything, select_device, set_rng_state


class TrainingDiverged(AnimelibError):
    """A loss became NaN or infinite; the run stops and its last good checkpoint is kept."""


class Trainer:
    """Base trainer: ``Trainer(config, run_dir).fit()`` trains, resuming from the run's last checkpoint."""

    loss_names: ClassVar[tuple[str, ...]] = ()  # what train_step returns, in plotting order

    def __init__(self, config: Config, run_dir: str | Path, progress: bool = True):
        self.cfg = config
        self.device = select_device(config.device)
        Run.check_settings(run_dir, config)  # a run folder with other settings fails before any work
        self.progress = progress
        seed_everything(config.seed)
        self.gen = torch.Generator().manual_seed(config.seed)  # data order and training noise
        # on a GPU the noise is drawn there (a CPU draw and copy each step would wait on the device)
        self.device_gen = (torch.Generator(self.device).manual_seed(config.seed) if self.device.type == "cuda"
                           else None)
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}
        self.epoch = 0  # epochs completed
        self.step = 0  # optimisation steps completed
        self.run_files: dict[str, str] = {}  # notes build() leaves for the run folder (name -> text)
        self.build()  # data errors surface here, before a run folder is made
        self.run = Run(run_dir, config)
        for name, text in self.run_files.items():
            (self.run.path / name).write_text(text)
        self._speed_up()
        with self.run.lock():
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
            "device_gen": self.device_gen.get_state() if self.device_gen is not None else None,
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
        if self.device_gen is not None and state.get("device_gen") is not None:
            self.device_gen.set_state(state["device_gen"])
        self.load_extra_state(state["extra"])

    def _resume(self) -> bool:
        # on the CPU: RNG states must stay CPU tensors; load_state_dict moves weights and optimizer state over
        state = self.run.load_checkpoint(map_location="cpu")
        self._checkpoint_seen = self._checkpoint_stamp()
        if state is None:  # a fresh run: history from a run killed before its first checkpoint goes
            self.run.truncate_history(0)
            return False
        self.load_state_dict(state)
        self.run.truncate_history(state["history_size"])
        return True

    def _checkpoint_stamp(self) -> tuple[int, int] | None:
        path = self.run.checkpoint_file
        return (path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else None

    def fit(self, stop_at_epoch: int | None = None) -> Trainer:
        """Train up to ``cfg.epochs`` (or ``stop_at_epoch``); a finished run is not trained again.

        The run folder is locked meanwhile. A non-finite loss raises :class:`TrainingDiverged` naming the
        step and the loss; the checkpoint on disk is then still the last good one.
        """
        with self.run.lock():
            if self._checkpoint_stamp() != self._checkpoint_seen:  # another session trained this run meanwhile
                self.resumed = self._resume()
            end = self.cfg.epochs if stop_at_epoch is None else min(stop_at_epoch, self.cfg.epochs)
            if self.epoch >= end:
                return self
            if self.resumed:
                self.run.log({"event": "resume", "epoch": self.epoch, "step": self.step})
                self.resumed = False
            bar = _progress(total=self.cfg.epochs * self.steps_per_epoch(), initial=self.step,
                            disable=not self.progress, desc=f"{self.cfg.MODEL} ({self.cfg.profile})", unit="step")
            try:
                while self.epoch < end:
                    self._train_epoch(bar)
                self._checkpoint_seen = self._checkpoint_stamp()
            finally:
                bar.close()
        return self

    def _train_epoch(self, bar) -> None:
        for net in self.nets.values():
            net.train()
        start, first_step = time.perf_counter(), self.step + 1
        last = self.train_steps(self.batches(), bar)
        self.epoch += 1
        self.run.log({"event": "epoch", "epoch": self.epoch, "step": self.step,
                      "seconds": round(time.perf_counter() - start, 3), "steps": self.step - first_step + 1})
        if last:
            bar.set_postfix({k: f"{v:.3f}" for k, v in last.items() if k in self.loss_names[:3]})
        for scheduler in self.schedulers.values():
            scheduler.step()
        for net in self.nets.values():
            net.eval()
        with torch.no_grad():
            self.end_epoch()
        self.run.save_checkpoint(self.state_dict())

    def train_steps(self, batches: Iterable[Any], bar=None) -> dict[str, Any] | None:
        """Train on ``batches``, logging the losses every ``cfg.log_every`` steps; returns the last step's record.

        This is the training loop itself: ``fit`` runs it on each epoch, ``animelib bench`` times it.
        """
        pending: list[dict[str, Any]] = []
        last = None
        for batch in batches:
            pending.append(self.train_step(batch))
            self.step += 1
            if bar is not None:
                bar.update()
            faults.point("step", self.step)
            if len(pending) == self.cfg.log_every:
                last = self._log_steps(pending)
                pending = []
        return self._log_steps(pending) or last

    def _log_steps(self, pending: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Read the pending losses back in one transfer, stop on a non-finite one, append them to the history."""
        if not pending:
            return None
        # the loss names only change between epochs (CartoonGAN's pre-training), and pending never spans two
        names = [k for k, v in pending[0].items() if torch.is_tensor(v)]
        table = torch.stack([torch.stack([p[k].detach().float() for k in names]) for p in pending]).cpu().tolist()
        first = self.step - len(pending) + 1
        records = []
        for i, (p, row) in enumerate(zip(pending, table, strict=True)):
            record = {"epoch": self.epoch + 1, "step": first + i,
                      **{k: v for k, v in p.items() if not torch.is_tensor(v)}, **dict(zip(names, row, strict=True))}
            records.append(record)
            bad = [k for k in names if not math.isfinite(record[k])]
            if bad:
                self.run.log_many(records)
                self.run.log({"event": "diverged", "epoch": self.epoch + 1, "step": record["step"], "losses": bad})
                raise TrainingDiverged(
                    f"{self.cfg.MODEL}: {bad[0]} = {record[bad[0]]} at step {record['step']} (epoch {self.epoch + 1}); "
                    f"training stopped. The last good checkpoint ({self._checkpoint_label()}) in {self.run.path} is "
                    "kept; try a lower lr, or another seed, in a new run folder")
        self.run.log_many(records)
        return records[-1]

    def _checkpoint_label(self) -> str:
        state = self.run.load_checkpoint() if self.run.has_checkpoint() else None
        return f"epoch {state['epoch']}, step {state['step']}" if state else "none yet: the run starts again"

    def _speed_up(self) -> None:
        """The config's speed switches, and the CUDA defaults (no-ops where they do not apply)."""
        if self.device.type == "cuda":
            fast = not self.cfg.deterministic
            torch.backends.cudnn.benchmark = fast
            torch.backends.cudnn.deterministic = not fast
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = fast
        if self.cfg.channels_last:
            for net in self.nets.values():
                net.to(memory_format=torch.channels_last)
        if self.cfg.compile:
            for net in self.nets.values():
                net.compile()  # compiles forward in place; state_dict names stay the same

    def autocast(self):
        """bf16 autocast for forward passes when ``cfg.amp`` is on (CUDA or CPU), else nothing."""
        if self.cfg.amp and self.device.type in ("cuda", "cpu"):
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # --- helpers for subclasses ----------------------------------------------------------------------
    def randn(self, *shape: int) -> torch.Tensor:
        """Normal noise from the run's generator, drawn on the training device (CPU and GPU numbers differ)."""
        if self.device_gen is not None:
            return torch.randn(*shape, generator=self.device_gen, device=self.device)
        return torch.randn(*shape, generator=self.gen).to(self.device)

    def adam(self, params, lr: float | None = None) -> torch.optim.Adam:
        """Adam with the config's betas; the fused kernel on CUDA (one launch for all parameters)."""
        return torch.optim.Adam(params, lr=lr or self.cfg.lr, betas=(self.cfg.beta1, self.cfg.beta2),
                                fused=True if self.device.type == "cuda" else None)

    def data_tensor(self, images) -> torch.Tensor:
        """(N, H, W, 3) uint8 numpy to (N, 3, H, W) uint8, kept on the GPU when training on one.

        Batches are then sliced and normalised on the device: no loader workers, no per-step copies.
        """
        t = images_to_tensor(images)
        return t.to(self.device) if self.device.type == "cuda" else t

    def shuffled(self, data: torch.Tensor) -> torch.Tensor:
        """A permutation of ``len(data)`` from the run's generator, on the device of the data it indexes."""
        return torch.randperm(len(data), generator=self.gen).to(data.device)

    def to_device(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) uint8 to float in [-1, 1] on the training device (channels-last if asked)."""
        x = images_uint8.to(self.device, non_blocking=True).float().div_(127.5).sub_(1)
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x


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


def endless(trainer: Trainer) -> Iterator[Any]:
    """The trainer's batches, epoch after epoch, without end (for timing)."""
    return itertools.chain.from_iterable(trainer.batches() for _ in itertools.count())


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
