"""The training loop every model shares: state, resume, epochs, history and checkpoints.

A model's trainer subclasses :class:`Trainer` and fills in ``build`` (data, nets, optimizers; returns notes
for the run folder), ``steps_per_epoch``, ``batches`` (one epoch) and ``train_step`` (one batch, returns the
losses as 0-d tensors), and optionally ``end_epoch`` (samples, metrics) and ``extra_state`` /
``load_extra_state`` (anything else a resume needs, like an image pool). Everything random in training draws
from ``self.rng`` (a CPU ``torch.Generator`` saved in the checkpoint), ``self.device_rng`` (its CUDA twin) or
the global RNGs (also saved), so a resumed run continues exactly.

The hot loop does not wait for the device: losses stay tensors and are read back, checked to be finite and
written to the history every ``cfg.log_every`` steps and at the end of each epoch (:class:`LossLog`).
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from tqdm.auto import tqdm

from animelib import faults
from animelib.config import Config
from animelib.errors import AnimelibError
from animelib.formatting import format_duration
from animelib.recipes import EMA
from animelib.runs import CHECKPOINT_FILE, CONFIG_FILE, Run
from animelib.speed import adam, amp_note, apply_speed_switches, autocast
from animelib.utils import rng_state, say_once, seed_everything, select_device, set_rng_state


class TrainingDiverged(AnimelibError):
    """A loss became NaN or infinite; the run stops and its last good checkpoint is kept."""


class Trainer:
    """Base trainer: ``Trainer(config, run_dir).fit()`` trains, resuming from the run's last checkpoint."""

    loss_names: ClassVar[tuple[str, ...]] = ()  # what train_step returns, in plotting order
    generators: ClassVar[tuple[str, ...]] = ()  # nets sampled from a moving average of their weights when cfg.ema

    def __init__(self, config: Config, run_dir: str | Path, progress: bool = True,
                 report: Callable[[Progress], object] | None = None):
        # report: called with a Progress as each session of fit() starts, every REPORT_EVERY seconds and after
        # each epoch (the lines of a training worker's log); progress: the progress bar
        self.cfg, self.progress, self.report = config, progress, report
        self._progress_lines: ProgressLines | None = None
        self.device = select_device(config.device)
        Run.check_settings(run_dir, config)  # a run folder with other settings fails before any work
        seed_everything(config.seed)
        self.rng = torch.Generator().manual_seed(config.seed)  # data order and training noise
        # on a GPU the noise is drawn there (a CPU draw and copy each step would wait on the device)
        self.device_rng = torch.Generator(self.device).manual_seed(config.seed) if self.device.type == "cuda" else None
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}
        self.epoch = self.step = 0  # epochs and optimisation steps completed
        self.notes = self.build()  # data errors surface here, before a run folder is made
        # moving averages of the generators' weights, kept as nets "<name>_ema" (saved and loaded with the others)
        self.emas = {name: EMA(self.nets[name], config.ema, ramp=True) for name in self.generators if config.ema}
        self.nets.update({f"{name}_ema": ema.shadow for name, ema in self.emas.items()})
        self.epoch_means: dict[str, float] = {}  # mean of each loss over the last epoch
        self.run = Run.create(run_dir, config)
        if note := amp_note(config.amp, self.device):  # float32 instead, many times faster on such a CPU
            say_once(f"[animelib] {note}")
            self.notes["amp.txt"] = note
        for name, text in self.notes.items():
            self.run.write_note(name, text)
        apply_speed_switches(config, self.device, self.nets)
        with self.run.lock():
            self.resumed = self._resume()

    # --- to be filled in by each model ----------------------------------------------------------
    def build(self) -> dict[str, str]:
        """Data, nets, optimizers; returns notes for the run folder (file name -> text, e.g. the data summary)."""
        raise NotImplementedError

    def steps_per_epoch(self) -> int:
        raise NotImplementedError

    def batches(self) -> Iterator[Any]:
        """The batches of one epoch (drawn with ``self.rng``)."""
        raise NotImplementedError

    def train_step(self, batch: Any) -> dict[str, torch.Tensor | str]:
        raise NotImplementedError

    def end_epoch(self) -> None:
        """After each epoch, before the checkpoint, and once before the first (epoch 0): samples, metrics."""

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # --- state ------------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.epoch >= self.cfg.epochs

    def state_dict(self) -> dict[str, Any]:
        groups = {"nets": self.nets, "optimizers": self.optimizers, "schedulers": self.schedulers}
        return {**{g: {k: v.state_dict() for k, v in objects.items()} for g, objects in groups.items()},
                "epoch": self.epoch, "step": self.step, "rng": rng_state(), "gen": self.rng.get_state(),
                "device_gen": self.device_rng.get_state() if self.device_rng is not None else None,
                "ema_updates": {k: v.num_updates for k, v in self.emas.items()}, "extra": self.extra_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for group, objects in (("nets", self.nets), ("optimizers", self.optimizers),
                               ("schedulers", self.schedulers)):
            for name, obj in objects.items():
                obj.load_state_dict(state[group][name])
        self.epoch, self.step = state["epoch"], state["step"]
        set_rng_state(state["rng"])
        self.rng.set_state(state["gen"])
        if self.device_rng is not None and state.get("device_gen") is not None:
            self.device_rng.set_state(state["device_gen"])
        for name, ema in self.emas.items():
            ema.num_updates = state["ema_updates"][name]
        self.load_extra_state(state["extra"])

    def _resume(self) -> bool:
        # on the CPU: RNG states must stay CPU tensors; load_state_dict moves weights and optimizer state over
        state = self.run.load_checkpoint(map_location="cpu")
        self._checkpoint_seen = self._checkpoint_stamp()
        self.run.truncate_history(state["history_size"] if state else 0)  # cut steps logged after the checkpoint
        if state is not None:
            self.load_state_dict(state)
        return state is not None

    def _checkpoint_stamp(self) -> tuple[int, int] | None:
        path = self.run.checkpoint_file
        return (path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else None

    # --- the loop ---------------------------------------------------------------------------------
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
            if self.report is not None:
                self._progress_lines = ProgressLines(self, self.report)
            if self.step == 0:  # the untrained nets' samples and metrics: the reference the epochs improve on
                self._end_epoch()
            with tqdm(total=self.cfg.epochs * self.steps_per_epoch(), initial=self.step, disable=not self.progress,
                      desc=f"{self.cfg.MODEL} ({self.cfg.profile})", unit="step") as bar:
                while self.epoch < end:
                    self._train_epoch(bar)
            self._checkpoint_seen = self._checkpoint_stamp()
            self._progress_lines = None
        return self

    def _train_epoch(self, bar) -> None:
        for net in self.nets.values():
            net.train()
        start, first_step = time.perf_counter(), self.step + 1
        log = LossLog(self)
        last = self.train_steps(self.batches(), bar, log)
        self.epoch_means = log.means()
        self.epoch += 1
        self.run.log({"event": "epoch", "epoch": self.epoch, "step": self.step,
                      "seconds": round(time.perf_counter() - start, 3), "steps": self.step - first_step + 1})
        if last:
            bar.set_postfix({k: f"{v:.3f}" for k, v in last.items() if k in self.loss_names[:3]})
        with warnings.catch_warnings():  # a net that waited this epoch (CycleGAN's D in the identity warm-up) never
            # stepped its optimizer; its epoch-indexed schedule is still right, so torch's order warning is noise
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            for scheduler in self.schedulers.values():
                scheduler.step()
        self._end_epoch()
        self.run.save_checkpoint(self.state_dict())
        if self._progress_lines is not None:
            self._progress_lines.tell(epoch_done=True)

    def _end_epoch(self) -> None:
        for net in self.nets.values():
            net.eval()
        with torch.no_grad():
            self.end_epoch()

    def train_steps(self, batches: Iterable[Any], bar=None, log: LossLog | None = None) -> dict[str, Any] | None:
        """Train on ``batches``, logging the losses every ``cfg.log_every`` steps; returns the last step's record.

        This is the training loop itself: ``fit`` runs it on each epoch, ``animelib bench`` times it.
        """
        log = log or LossLog(self)
        for batch in batches:
            log.add(self.train_step(batch))
            for name, ema in self.emas.items():
                ema.update(self.nets[name])
            self.step += 1
            if bar is not None:
                bar.update()
            if self._progress_lines is not None:
                self._progress_lines.tick()
            faults.point("step", self.step)
            if len(log) == self.cfg.log_every:
                log.flush()
        log.flush()
        return log.last

    def endless_batches(self) -> Iterator[Any]:
        """The trainer's batches, epoch after epoch, without end (for timing)."""
        return itertools.chain.from_iterable(self.batches() for _ in itertools.count())

    # --- helpers for subclasses -------------------------------------------------------------------
    def sampler(self, name: str) -> nn.Module:
        """The net to sample generator ``name`` from: its moving average when ``cfg.ema`` is on, else itself."""
        return self.nets.get(f"{name}_ema", self.nets[name])

    def randn(self, *shape: int) -> torch.Tensor:
        """Normal noise from the run's generator, drawn on the training device (CPU and GPU numbers differ)."""
        if self.device_rng is not None:
            return torch.randn(*shape, generator=self.device_rng, device=self.device)
        return torch.randn(*shape, generator=self.rng).to(self.device)

    def autocast(self):
        """bf16 autocast for forward passes when ``cfg.amp`` is on, else nothing (see :mod:`animelib.speed`)."""
        return autocast(self.cfg.amp, self.device)

    def adam(self, params, lr: float | None = None) -> torch.optim.Adam:
        return adam(params, self.cfg, self.device, lr)


class LossLog:
    """The losses of the steps since the last read-back, read back in one transfer and checked to be finite."""

    def __init__(self, trainer: Trainer):
        self.trainer = trainer
        self.pending: list[dict[str, Any]] = []
        self.last: dict[str, Any] | None = None
        self.sums: dict[str, list[float]] = {}  # loss -> [sum, count] over every flushed step

    def __len__(self) -> int:
        return len(self.pending)

    def add(self, losses: dict[str, Any]) -> None:
        # detached: a loss no backward pass went through (CycleGAN's GAN and cycle terms in its identity warm-up)
        # would keep its whole graph, activations included, until the read-back (about 150 MB a step)
        self.pending.append({k: v.detach() if torch.is_tensor(v) else v for k, v in losses.items()})

    def flush(self) -> None:
        """Append the pending steps to the history; stop on a non-finite loss (the checkpoint stays the last good)."""
        if not self.pending:
            return
        t, run = self.trainer, self.trainer.run
        # the loss names only change between epochs (CartoonGAN's pre-training), and pending never spans two
        names = [k for k, v in self.pending[0].items() if torch.is_tensor(v)]
        table = torch.stack([torch.stack([p[k].detach().float() for k in names]) for p in self.pending]).cpu().tolist()
        first = t.step - len(self.pending) + 1
        records = [{"epoch": t.epoch + 1, "step": first + i, **{k: v for k, v in p.items() if not torch.is_tensor(v)},
                    **dict(zip(names, row, strict=True))} for i, (p, row) in enumerate(zip(self.pending, table,
                                                                                           strict=True))]
        self.pending = []
        for i, record in enumerate(records):
            bad = [k for k in names if not math.isfinite(record[k])]
            if bad:
                run.log_many(records[:i + 1])
                run.log({"event": "diverged", "epoch": t.epoch + 1, "step": record["step"], "losses": bad})
                raise TrainingDiverged(
                    f"{t.cfg.MODEL}: {bad[0]} = {record[bad[0]]} at step {record['step']} (epoch {t.epoch + 1}); "
                    f"training stopped. The last good checkpoint ({_checkpoint_label(run)}) in {run.path} is "
                    "kept; try a lower lr, or another seed, in a new run folder")
        run.log_many(records)
        self.last = records[-1]
        for record in records:
            for name in names:
                total = self.sums.setdefault(name, [0.0, 0])
                total[0] += record[name]
                total[1] += 1

    def means(self) -> dict[str, float]:
        """The mean of each loss over the steps flushed so far."""
        return {name: total / count for name, (total, count) in self.sums.items()}


def _checkpoint_label(run: Run) -> str:
    state = run.load_checkpoint() if run.has_checkpoint() else None
    return f"epoch {state['epoch']}, step {state['step']}" if state else "none yet: the run starts again"


REPORT_EVERY = 15.0  # seconds between a session's progress reports (and one after each epoch)


@dataclass(frozen=True)
class Progress:
    """How far a training session is: one line of a training worker's log, read by the runner's status line."""

    run: str  # the run folder's name
    epoch: int  # the epoch being trained, or with ``epoch_done`` the one just finished
    epochs: int
    step: int  # optimisation steps done
    steps: int  # steps of the whole run
    rate: float | None = None  # steps per second after the session's first step, end-of-epoch work included
    epoch_done: bool = False

    @property
    def fraction(self) -> float:
        return self.step / self.steps if self.steps else 1.0

    @property
    def seconds_left(self) -> float | None:
        """The rest of the run at this session's rate (None before a rate is known)."""
        return max(self.steps - self.step, 0) / self.rate if self.rate else None

    def short(self, since: float = 0.0) -> str:
        """``epoch 3/10, 31%, 3 min 41 s left``, the time left less ``since`` (seconds since this was reported)."""
        left = self.seconds_left
        return f"epoch {self.epoch}/{self.epochs}, {self.fraction:.0%}" + \
            (f", {format_duration(max(left - since, 0.0))} left" if left is not None else "")

    def __str__(self) -> str:
        """``dcgan-quick-s0: epoch 3/10, step 1,234/4,000 (31%), 12.5 steps/s, 3 min 41 s left``."""
        epoch = f"epoch {self.epoch}/{self.epochs}" + (" done" if self.epoch_done else "")
        text = f"{self.run}: {epoch}, step {self.step:,}/{self.steps:,} ({self.fraction:.0%})"
        left = self.seconds_left
        if self.rate is None or left is None:
            return text
        return f"{text}, {self.rate:.3g} steps/s, {format_duration(left)} left"


class ProgressLines:
    """A session's reports: one as it starts, one every ``every`` seconds of training, one after each epoch.

    The rate is timed from the end of the session's first step, which also pays one-time costs (warming up,
    the first batches) and would otherwise make the first estimates of the time left many times too long.
    It only reads the trainer's step and epoch counters and the clock, so training is the same with it or without.
    """

    def __init__(self, trainer: Trainer, report: Callable[[Progress], object], every: float | None = None):
        self.trainer, self.report = trainer, report
        self.every = REPORT_EVERY if every is None else every
        self.steps = trainer.cfg.epochs * trainer.steps_per_epoch()
        self.last = time.monotonic()
        self.timed_from: tuple[float, int] | None = None  # (clock, step) at the end of the session's first step
        self.tell()

    def tick(self) -> None:
        """After a step: a report when ``every`` seconds have passed since the last."""
        if self.timed_from is None:
            self.timed_from = (time.monotonic(), self.trainer.step)
        if time.monotonic() - self.last >= self.every:
            self.tell()

    def tell(self, epoch_done: bool = False) -> None:
        now = time.monotonic()
        t = self.trainer
        start, first = self.timed_from or (now, t.step)
        done, seconds = t.step - first, now - start
        self.last = now
        self.report(Progress(t.run.path.name, t.epoch if epoch_done else min(t.epoch + 1, t.cfg.epochs),
                             t.cfg.epochs, t.step, self.steps, done / seconds if done and seconds > 0 else None,
                             epoch_done))


@dataclass
class FinishedRun:
    """A run trained to its last epoch, as :func:`animelib.models.train` returns it: its config, folder (only read),
    counters and notes. No trainer is built for it (no data, nets or lock): the figures read the folder."""

    cfg: Config
    run: Run
    epoch: int
    step: int
    notes: dict[str, str]  # the notes its training wrote in the folder (data.txt, vgg.txt, ...), by file name
    finished: ClassVar[bool] = True


def open_finished(config: Config, run_dir: str | Path) -> FinishedRun | None:
    """The run in ``run_dir`` when its last checkpoint has reached ``config.epochs``; None when it still has epochs
    to train (or no checkpoint). Only reads the folder, so a run shared read-only opens.

    A folder with other settings, or a damaged or foreign checkpoint, is the same clear error a trainer gives; a
    history that does not end where the checkpoint does is left to a trainer, which cuts it back or refuses it.
    The global RNGs are set as the checkpoint saved them: where the training left them, as after training here.
    """
    path = Path(run_dir)
    if not (path / CONFIG_FILE).is_file() or not (path / CHECKPOINT_FILE).is_file():
        return None
    Run.check_settings(path, config)
    run = Run(path, config.to_dict(), type(config).default_settings())
    state = run.load_checkpoint(map_location="cpu")  # RNG states stay CPU tensors
    if state is None or state["epoch"] < config.epochs or run.history_size() != state["history_size"]:
        return None
    set_rng_state(state["rng"])
    notes = {p.name: p.read_text().rstrip("\n") for p in sorted(path.glob("*.txt")) if p.is_file()}
    return FinishedRun(config, run, state["epoch"], state["step"], notes)


@dataclass(frozen=True)
class ModelSpec:
    """What one model is, for the registry in :mod:`animelib.models`: its config, trainer and generators."""

    name: str  # "dcgan": the config's MODEL, the CLI's model argument
    label: str  # "DCGAN": in tables and verdicts
    config_class: type[Config]
    trainer_class: type[Trainer]
    build_generator: Callable[[Config, str], nn.Module]  # an untrained generator (by name) with the config's widths
    notebook: str  # the notebook that trains it and draws its figures
    # by profile: the epochs after which the notebook's run stops and a new session resumes it (Figure 7)
    interrupt_at: dict[str, tuple[int, ...]] = field(default_factory=dict)
    bench_settings: dict[str, Any] = field(default_factory=dict)  # what `animelib bench` changes to time it

    @property
    def generators(self) -> tuple[str, ...]:
        """Checkpoint names of its generators, the default first (the trainer's ``generators``)."""
        return self.trainer_class.generators
