"""Train the runs the notebooks will open, several at a time, before the notebooks start.

On a CPU, two training processes of one thread each get through more work than one process of two threads: the
quick profile's small networks use a second thread poorly, and the frozen networks (the landmark regressor, the
content network, the evaluators) train on one thread anyway (:func:`animelib.nets.frozen.load_or_train`), which
leaves the other core idle while the notebooks run one after another. :func:`train_ahead` runs the training of
every notebook, as :func:`plan` lists it from the notebooks' own table (:func:`animelib.plan.plan_for`), in worker
processes; each notebook's ``train(...)`` then finds its run finished and only opens it, so the notebooks measure
and draw. The runs are the ones the notebooks would train (same configs, folders and interrupted-and-resumed
sessions); only the thread count differs, which changes the floating-point rounding, not the recipe. A job that
fails is reported in one line and left to its notebook, which trains it again and stops with its own error.

While the jobs train, each job's log (``runs/logs/<job>.log``) gets a line of its progress (epoch, step, rate, time
left) every :data:`~animelib.training.REPORT_EVERY` seconds and after each epoch, and the runner prints one status
line of the jobs running every :data:`STATUS_EVERY` seconds.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import torch

from animelib.ablation import fork_variant
from animelib.compare import load_evaluators
from animelib.config import Config
from animelib.formatting import format_duration
from animelib.kernels import die_with_parent
from animelib.models import MODELS, train
from animelib.paths import NotebookPlaces
from animelib.plan import ABLATION_NOTEBOOK, COMPARISON_NOTEBOOK, notebook_stem, plan_for
from animelib.training import Progress
from animelib.utils import select_device

STATUS_EVERY = 30.0  # seconds between the runner's status lines while jobs run


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
    """The training that the notebooks named in ``books`` (file stems; all when None) will ask for: the runs each
    one's :func:`~animelib.plan.plan_for` lists (a run two notebooks train, once), and the evaluators.

    The ablated models come first, their ablation variants next (they start once that run is done), so the
    longest chain starts at once; then the evaluators, then the other models, then the report-recipe runs (of each
    seed, after that seed's runs). A free worker takes the first job it
    may start, so the evaluators run while the ablated run is still training, not at the end with one worker idle.
    """
    books = books or [*(notebook_stem(s.notebook) for s in MODELS.values()), ABLATION_NOTEBOOK, COMPARISON_NOTEBOOK]
    plans = [plan_for(book, where, device) for book in books]
    runs = {}
    for r in (r for p in plans for r in p.runs):
        runs.setdefault(r.name, r)  # a run two notebooks train (the same config and sessions in both): once
    variants = [r for r in runs.values() if r.variant is not None]
    ablated = [m for m in MODELS if any(v.model == m for v in variants)]
    order = {m: i for i, m in enumerate(sorted(MODELS, key=lambda m: m not in ablated))}  # stable: registry order
    models = sorted((r for r in runs.values() if r.variant is None),
                    key=lambda r: (r.seed, r.report_recipe, order[r.model]))  # the report's recipe: after its seed
    jobs = [Job(r.name, "train", r.config, r.run_dir, interrupt_at=r.interrupt_at) for r in models]
    ahead = [Job(v.name, "ablation", v.config, v.run_dir, after=(v.base_run_dir.name,), base_run_dir=v.base_run_dir)
             for v in sorted(variants, key=lambda v: order[v.model])]
    if any(p.evaluators for p in plans):
        ahead.append(Job("evaluators", "evaluators", profile=where.profile))
    first = len([r for r in models if r.seed == where.seed and r.model in ablated and not r.report_recipe])
    jobs[first:first] = ahead
    return jobs


def default_workers(device: str = "auto", profile: str = "quick") -> int:
    """Two workers on a CPU with at least two cores; one (no workers: the notebooks train) on a GPU, and for the
    smoke profile, whose runs take seconds (starting a worker, which imports torch, takes about as long)."""
    cpu = select_device(device).type == "cpu" and (os.cpu_count() or 1) >= 2
    return 2 if cpu and profile != "smoke" else 1


def train_ahead(jobs: list[Job], workers: int = 2, log_dir: str | Path | None = None,
                log: Callable[[str], object] = print, status_every: float = STATUS_EVERY) -> dict[str, str]:
    """Run ``jobs`` in ``workers`` processes of ``cpu_count // workers`` threads each, a job once the jobs it comes
    after are done, in list order. Each job's own output, its progress lines included, goes to
    ``<log_dir>/<job>.log``; here, one line per job as it ends and every ``status_every`` seconds a status line of
    the jobs running (:func:`status_line`).

    Returns each job's outcome: ``"done"``, ``"failed: <error>"`` or ``"skipped: ..."`` (a job it comes after
    failed). Nothing is raised for a failed job: its notebook trains it again and reports the error in context.
    """
    _check_jobs(jobs, workers)
    threads = max(1, (os.cpu_count() or 1) // workers)
    log_dir = Path(log_dir) if log_dir else None
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    outcome: dict[str, str] = {}
    pending = list(jobs)
    running: dict[Future, tuple[Job, float]] = {}
    start = last_status = time.perf_counter()
    context = get_context("spawn")
    reports = context.Queue()  # (job, Progress) from the workers
    latest: dict[str, tuple[Progress, float]] = {}  # job -> its last progress, and when it came
    log(f"[animelib] training ahead: {len(jobs)} jobs, {workers} at a time, {threads} thread(s) each "
        f"(logs in {log_dir})")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(threads, os.getpid(), reports)) as pool:
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
            done, _ = wait(running, timeout=min(1.0, status_every), return_when=FIRST_COMPLETED)
            _receive(reports, latest)
            for future in done:
                job, began = running.pop(future)
                latest.pop(job.name, None)
                outcome[job.name] = _outcome(future)
                log(f"[animelib]   {job.name}: {outcome[job.name]} in {time.perf_counter() - began:.0f} s "
                    f"({len(outcome)}/{len(jobs)}, {time.perf_counter() - start:.0f} s so far)")
            now = time.perf_counter()
            if running and now - last_status >= status_every:
                log(status_line({j.name: began for j, began in running.values()}, latest, now, len(outcome),
                                len(jobs), now - start))
                last_status = now
    reports.close()
    return outcome


def _check_jobs(jobs: list[Job], workers: int) -> None:
    if workers < 1:
        raise ValueError(f"workers={workers!r} must be at least 1")
    for i, job in enumerate(jobs):
        unknown = [a for a in job.after if a not in {j.name for j in jobs[:i]}]
        if unknown:
            raise ValueError(f"job {job.name} comes after {unknown[0]}, which is not an earlier job")


def _outcome(future: Future) -> str:
    """``"done"``, or ``"failed: <error>"`` for any failure of a job: its notebook tries again and reports it."""
    try:
        future.result()
    except Exception as e:
        return f"failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return "done"


def status_line(running: dict[str, float], latest: dict[str, tuple[Progress, float]], now: float, finished: int,
                total: int, elapsed: float) -> str:
    """One line of the jobs running: ``running`` maps each to when it started, ``latest`` to its last progress and
    when that came (a job without one, like the evaluators, shows how long it has run); times on ``now``'s clock.

    ``[animelib]   running: cyclegan-quick-s0 (epoch 3/10, 31%, 3 min 40 s left), evaluators (1 min 05 s in);
    2/7 done, 4 min 10 s so far``
    """
    parts = []
    for name, began in running.items():
        if name in latest:
            progress, seen = latest[name]
            parts.append(f"{name} ({progress.short(since=now - seen)})")
        else:
            parts.append(f"{name} ({format_duration(now - began)} in)")
    return (f"[animelib]   running: {', '.join(parts)}; {finished}/{total} done, {format_duration(elapsed)} "
            "so far")


def _receive(reports, latest: dict[str, tuple[Progress, float]]) -> None:
    """Keep the last progress each job reported (all that came since the last call)."""
    while True:
        try:
            name, progress = reports.get_nowait()
        except queue.Empty:
            return
        latest[name] = (progress, time.perf_counter())


_REPORTS = None  # in a worker: the runner's queue for the jobs' progress


def _init_worker(threads: int, runner: int, reports=None) -> None:
    global _REPORTS
    die_with_parent(runner)  # a killed runner takes its workers along (they would train on, holding run locks)
    torch.set_num_threads(threads)
    _REPORTS = reports


def report_progress(job: str, progress: Progress) -> None:
    """A job's progress: a line in its log (this process's output), and to the runner when in a worker."""
    print(f"[animelib] {time.strftime('%H:%M:%S')} {progress}", flush=True)
    if _REPORTS is not None:
        _REPORTS.put((job, progress))


def run_job(job: Job, logfile: Path | None = None) -> None:
    """Do one job in this process (a worker's entry point; also usable directly)."""
    with contextlib.ExitStack() as stack:
        if logfile is not None:
            out = stack.enter_context(open(logfile, "a", encoding="utf-8"))
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(out))
        report = functools.partial(report_progress, job.name)
        if job.kind == "evaluators":
            print(f"[animelib] {time.strftime('%H:%M:%S')} evaluators: loading them, or training them once for the "
                  f"{job.profile} profile's budget (cached)", flush=True)
            load_evaluators(job.profile, "cpu")
        elif job.kind == "ablation":
            fork_variant(job.base_run_dir, job.run_dir, job.config)
            train(job.config, job.run_dir, progress=False, report=report)
        elif job.kind == "train":
            train(job.config, job.run_dir, progress=False, interrupt_at=job.interrupt_at, report=report)
        else:
            raise ValueError(f"job kind {job.kind!r} is not one of train, ablation, evaluators")
