"""The model registry: one module per model, each with its config, networks, trainer and ``SPEC``.

``MODELS`` maps a model name to its :class:`~animelib.training.ModelSpec`. The command line, :func:`train`,
``animelib bench`` and the notebooks find a model's config class, trainer and generators here, so adding a
fourth model is one module with a ``SPEC`` and one line below. From a trained run folder back to a network:
:func:`load_generator` (it only reads the folder, so a run shared read-only works).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from animelib.config import Config
from animelib.errors import AnimelibError, ConfigError
from animelib.models import cartoongan, cyclegan, dcgan
from animelib.runs import Run, RunLockedError, wait_while_locked
from animelib.training import FinishedRun, ModelSpec, Progress, Trainer, open_finished
from animelib.utils import select_device

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (dcgan.SPEC, cyclegan.SPEC, cartoongan.SPEC)}


def spec(model: str) -> ModelSpec:
    """The registry entry of ``model`` (a clear error naming the known ones otherwise)."""
    try:
        return MODELS[model]
    except KeyError:
        raise ConfigError(f"model={model!r} is not one of {', '.join(MODELS)}") from None


def config_class(model: str) -> type[Config]:
    return spec(model).config_class


def train(config: Config, run_dir: str | Path, progress: bool = True, interrupt_at: tuple[int, ...] = (),
          wait: bool = True, report: Callable[[Progress], object] | None = None) -> Trainer | FinishedRun:
    """Train (or resume) the config's model in ``run_dir``; a finished run is only opened.

    A run whose last checkpoint has reached ``config.epochs`` builds no trainer and writes nothing (no lock, config
    or notes): the :class:`~animelib.training.FinishedRun` returned has its config, epoch, step and notes, so a run
    folder shared read-only works. Otherwise the trainer that trained it is returned.

    Each epoch in ``interrupt_at`` ends a training session there: the trainer is thrown away and a new one
    resumes from the checkpoint on disk, as the report's CycleGAN run was (Figure 7). While another process
    trains the same run folder (two notebooks side by side), ``wait`` waits for it with a message and then
    continues from what it saved; ``wait=False`` raises :class:`~animelib.runs.RunLockedError` at once (unless
    the run is finished). ``report``: called with the training's :class:`~animelib.training.Progress` as each
    session starts, every few seconds and after each epoch (a training worker's log lines).
    """
    if any(e < 1 for e in interrupt_at):
        raise ConfigError(f"interrupt_at={interrupt_at!r}: epochs to interrupt after must be positive")
    if wait:
        wait_while_locked(run_dir)  # a run another process trains: finished, or not, once that process is done
    finished = open_finished(config, run_dir)
    if finished is not None:
        return finished
    cls = spec(config.MODEL).trainer_class
    new_session = functools.partial(cls, config, run_dir, progress=progress, report=report)
    session = _when_free(new_session, run_dir, wait)
    for epoch in sorted(interrupt_at):
        if session.epoch < epoch < config.epochs:
            _when_free(functools.partial(session.fit, stop_at_epoch=epoch), run_dir, wait)
            session = _when_free(new_session, run_dir, wait)  # a new session resumes from the checkpoint on disk
    return _when_free(session.fit, run_dir, wait)


def _when_free(action: Callable[[], Trainer], run_dir: str | Path, wait: bool) -> Trainer:
    """``action()``, which takes the run folder's lock; with ``wait``, first wait while another process holds it."""
    while True:
        if wait:
            wait_while_locked(run_dir)
        try:
            return action()
        except RunLockedError:
            if not wait:
                raise  # else: taken again between the wait and the action; wait once more


def open_trained(run_dir: str | Path, device: str = "auto") -> tuple[Config, dict[str, Any], torch.device]:
    """A trained run folder's config and last checkpoint, mapped to ``device`` (the folder is only read)."""
    run = Run.open(run_dir)
    run.defaults = config_class(run.model).default_settings()  # fields a run of another version lacks: defaults
    cfg = config_class(run.model).from_dict(run.settings)
    dev = select_device(device)
    state = run.load_checkpoint(map_location=dev)
    if state is None:
        raise AnimelibError(f"{run_dir} has no checkpoint yet: train it first")
    return cfg, state, dev


def load_generator(run_dir: str | Path, name: str | None = None, device: str = "auto", ema: bool = True) -> nn.Module:
    """A trained generator of any model's run folder, in eval mode: the model's first by default (``G``, or
    ``G_A2B`` for CycleGAN), another by its checkpoint name (``G_B2A``). With ``ema`` (and a run trained with
    ``cfg.ema``), the moving average of its weights, which the run's own samples are drawn from."""
    cfg, state, dev = open_trained(run_dir, device)
    entry = spec(cfg.MODEL)
    name = name or entry.generators[0]
    if name not in entry.generators:
        raise ConfigError(f"{entry.label} has no generator {name!r}; it has {', '.join(entry.generators)}")
    key = f"{name}_ema" if ema and f"{name}_ema" in state["nets"] else name
    net = entry.build_generator(cfg, name)
    net.load_state_dict(state["nets"][key])
    return net.to(dev).eval()
