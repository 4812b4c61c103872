"""Train the runs the notebooks will open, several at a time, before the notebooks start.

On a CPU, two training processes of one thread each get through more work than one process of two threads: the
quick profile's small networks use a second thread poorly, and the frozen networks (the landmark regressor, the
content network, the evaluators) train on one thread anyway (:func:`animelib.nets.frozen.load_or_train`), which
leaves the other core idle while the notebooks run one after another. :func:`train_ahead` runs the training of
every notebook, as :func:`plan` lists it, in worker processes; each notebook's ``train(...)`` then finds its run
finished and only reopens it, so the notebooks measure and draw. The runs are the ones the notebooks would train
(same configs, folders and interrupted-and-resumed sessions); only the thread count differs, which changes the
floating-point rounding, not the recipe. A job that fails is reported in one line and left to its notebook, which
trains it again and stops with its own error.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import torch

from animelib.ablation import PLANS, VARIANTS, fork_variant, variant_config, variant_folder
from animelib.compare import load_evaluators
from animelib.config import Config
from animelib.kernels import die_with_parent
from animelib.models import MODELS, train
from animelib.paths import NotebookPlaces
from animelib.utils import select_device

# the notebooks that train beyond their own model: the ablation forks CycleGAN's run, the comparison trains the
# further seeds of every model; the evaluators measure in every notebook but the DCGAN's (synthetic data only)
ABLATION_NOTEBOOK, COMPARISON_NOTEBOOK, DCGAN_NOTEBOOK = "03_cartoongan", "04_comparison", "01_dcgan"


@dataclass(frozen=True)
class Job:
    """One unit of work for a worker: train a run, fork and train an ablation variant, or build the evaluators."""

    name: str  # the run folder's name, or "evaluators"
    kind: str  # "train", "ablation" or "evaluators"
    config: Config | None = None
    run_dir: Path | None = None
    after: tuple[str, ...] = ()  # jobs that must finish first (an ablation forks its base run's last checkpoint)
    interrupt_at: tuple[int, ...] = ()  # kind "train": as the model's notebook trains its run
    base_run_dir: Path | None = None  # kind "ablation": the run the variant forks
    profile: str = "quick"  # kind "evaluators": whose budget


def plan(where: NotebookPlaces, device: str = "auto", books: list[str] | None = None) -> list[Job]:
    """The training that the notebooks named in ``books`` (file stems; all when None) will ask for.

    The ablated models come first, their ablation variants next (they start once that run is done), so the
    longest chain starts at once; then the evaluators, then the other models. A free worker takes the first job it
    may start, so the evaluators run while the ablated run is still training, not at the end with one worker idle.
    """
    stems = set(books) if books else {Path(s.notebook).stem for s in MODELS.values()} | {ABLATION_NOTEBOOK,
                                                                                          COMPARISON_NOTEBOOK}
    epochs, ablated = PLANS[where.profile]
    ablated = [m for m, s in MODELS.items() if s.label in ablated] if ABLATION_NOTEBOOK in stems else []
    seeds = range(where.seed, where.seed + (where.seeds if COMPARISON_NOTEBOOK in stems else 1))
    models = [m for m, s in MODELS.items() if m in ablated or COMPARISON_NOTEBOOK in stems
              or Path(s.notebook).stem in stems]
    jobs, variants = [], []
    for seed in seeds:
        for model in sorted(models, key=lambda m: m not in ablated):  # stable: otherwise the registry's order
            entry = MODELS[model]
            cfg = entry.config_class.from_profile(where.profile, device=device, **{**where.settings, "seed": seed})
            first = seed == where.seed
            jobs.append(Job(cfg.run_name, "train", cfg, where.run_dir / cfg.run_name,
                            interrupt_at=entry.interrupt_at.get(where.profile, ()) if first else ()))
            if first and model in ablated:
                for v in VARIANTS:
                    folder = variant_folder(cfg, where.run_dir, v)
                    variants.append(Job(folder.name, "ablation", variant_config(cfg, v, epochs), folder,
                                        after=(cfg.run_name,), base_run_dir=where.run_dir / cfg.run_name))
    if where.data_dir is None and stems - {DCGAN_NOTEBOOK, "00_datasets"}:
        variants.append(Job("evaluators", "evaluators", profile=where.profile))
    jobs[len(ablated):len(ablated)] = variants
    return jobs


def default_workers(device: str = "auto", profile: str = "quick") -> int:
    """Two workers on a CPU with at least two cores; one (no workers: the notebooks train) on a GPU, and for the
    smoke profile, whose runs take seconds (starting a worker, which imports torch, takes about as long)."""
    cpu = select_device(device).type == "cpu" and (os.cpu_count() or 1) >= 2
    return 2 if cpu and profile != "smoke" else 1


def train_ahead(jobs: list[Job], workers: int = 2, log_dir: str | Path | None = None,
                log: Callable[[str], object] = print) -> dict[str, str]:
    """Run ``jobs`` in ``workers`` processes of ``cpu_count // workers`` threads each, a job once the jobs it comes
    after are done, in list order. Each job's own output goes to ``<log_dir>/<job>.log``; one line per job here.

    Returns each job's outcome: ``"done"``, ``"failed: <error>"`` or ``"skipped: ..."`` (a job it comes after
    failed). Nothing is raised for a failed job: its notebook trains it again and reports the error in context.
    """
    if workers < 1:
        raise ValueError(f"workers={workers!r} must be at least 1")
    for i, job in enumerate(jobs):
        unknown = [a for a in job.after if a not in {j.name for j in jobs[:i]}]
        if unknown:
            raise ValueError(f"job {job.name} comes after {unknown[0]}, which is not an earlier job")
    threads = max(1, (os.cpu_count() or 1) // workers)
    log_dir = Path(log_dir) if log_dir else None
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    outcome: dict[str, str] = {}
    pending = list(jobs)
    running: dict[Future, tuple[Job, float]] = {}
    start = time.perf_counter()
    log(f"[animelib] training ahead: {len(jobs)} jobs, {workers} at a time, {threads} thread(s) each "
        f"(logs in {log_dir})")
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(threads, os.getpid())) as pool:
        while pending or running:
            for job in list(pending):
                if len(running) >= workers:
                    break
                failed = [a for a in job.after if a in outcome and outcome[a] != "done"]
                if failed:
                    pending.remove(job)
                    outcome[job.name] = f"skipped: {failed[0]} did not finish"
                    log(f"[animelib]   {job.name}: {outcome[job.name]}")
                elif all(a in outcome for a in job.after):
                    pending.remove(job)
                    logfile = log_dir / f"{job.name}.log" if log_dir else None
                    running[pool.submit(run_job, job, logfile)] = (job, time.perf_counter())
            if not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job, began = running.pop(future)
                try:
                    future.result()
                    outcome[job.name] = "done"
                except Exception as e:  # any failure of a job: its notebook tries again and reports it
                    outcome[job.name] = f"failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                log(f"[animelib]   {job.name}: {outcome[job.name]} in {time.perf_counter() - began:.0f} s "
                    f"({len(outcome)}/{len(jobs)}, {time.perf_counter() - start:.0f} s so far)")
    return outcome


def _init_worker(threads: int, runner: int) -> None:
    die_with_parent(runner)  # a killed runner takes its workers along (they would train on, holding run locks)
    torch.set_num_threads(threads)


def run_job(job: Job, logfile: Path | None = None) -> None:
    """Do one job in this process (a worker's entry point; also usable directly)."""
    with contextlib.ExitStack() as stack:
        if logfile is not None:
            out = stack.enter_context(open(logfile, "a", encoding="utf-8"))
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(out))
        if job.kind == "evaluators":
            load_evaluators(job.profile, "cpu")
        elif job.kind == "ablation":
            fork_variant(job.base_run_dir, job.run_dir, job.config)
            train(job.config, job.run_dir, progress=False)
        elif job.kind == "train":
            train(job.config, job.run_dir, progress=False, interrupt_at=job.interrupt_at)
        else:
            raise ValueError(f"job kind {job.kind!r} is not one of train, ablation, evaluators")
