"""Run the notebooks headless with papermill, injecting the profile, folders and device."""

from __future__ import annotations

import difflib
import os
import shutil
import time
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm
from nbclient.exceptions import DeadKernelError

from animelib.config import PROFILES, crop_policies
from animelib.data import check_data_dir
from animelib.errors import AnimelibError, ConfigError
from animelib.kernels import RunnerKernelManager
from animelib.nbstream import register
from animelib.paths import NOTEBOOKS_DIR, notebook_places, record_last_run
from animelib.schedule import default_workers, plan, train_ahead
from animelib.utils import NOTES_DIR_ENV

# What the runner injects into every notebook's ``parameters`` cell, and the argument of run_notebooks (and the
# command-line option) that sets each.
_SET_BY = {"PROFILE": ("profile", "--profile"), "SEED": ("seed", "--seed"), "SEEDS": ("seeds", "--seeds"),
           "DATA_DIR": ("data_dir", "--data-dir"), "CROP": ("crop", "--crop"),
           "FIG_DIR": ("figures_dir", "--figures-dir"), "RUN_DIR": ("runs_dir", "--runs-dir"),
           "DEVICE": ("device", "--device")}
INJECTED = tuple(_SET_BY)


class NotebookFailed(AnimelibError):
    pass


def list_notebooks(only: list[str] | None = None, folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The notebooks in run order (by file name); ``only`` picks by name or number (``dcgan``, ``01``)."""
    books = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if only:
        picked = [p for p in books if any(o == p.stem or o in p.stem.split("_") for o in only)]
        missing = [o for o in only if not any(o == p.stem or o in p.stem.split("_") for p in books)]
        if missing:
            names = ", ".join(p.stem for p in books)
            raise AnimelibError(f"no notebook matches {', '.join(map(repr, missing))}; there are: {names}")
        books = picked
    return books


def notebook_parameters(book: Path) -> list[str]:
    """The names a notebook's ``parameters``-tagged cell defines (papermill's reading; nothing is executed)."""
    try:
        return list(pm.inspect_notebook(str(book)))
    except Exception as e:  # papermill raises several kinds for an unreadable notebook
        raise ConfigError(f"cannot read the parameters cell of {book}: {type(e).__name__}: {e}") from None


def check_parameters(parameters: dict[str, Any], books: list[Path]) -> None:
    """Refuse extra parameters that a notebook's parameters cell does not define, or that the runner injects.

    Raises a one-line :class:`ConfigError` naming the parameter, the notebook and the closest accepted name.
    """
    for name, value in parameters.items():
        if name in _SET_BY:
            arg, option = _SET_BY[name]
            raise ConfigError(f"parameter {name!r} is set by the runner: use {arg}= ({option} on the command line)")
        if not _is_literal(value):
            raise ConfigError(f"parameter {name}={value!r} is not accepted: use a number, string, bool, None, "
                              "or a list or dict of those")
    for book in books:
        accepted = notebook_parameters(book)
        for name in parameters:
            if name in accepted:
                continue
            by_upper = {a.upper(): a for a in accepted}
            close = difflib.get_close_matches(str(name).upper(), list(by_upper), n=1)
            hint = ""
            if close:
                match = by_upper[close[0]]
                hint = f" (did you mean {match!r}?" + (f" the runner sets it: use {_SET_BY[match][0]}= or "
                                                       f"{_SET_BY[match][1]})" if match in _SET_BY else ")")
            own = [a for a in accepted if a not in INJECTED]
            listed = ", ".join(own) if own else f"none beyond the injected {', '.join(INJECTED)}"
            raise ConfigError(f"unknown parameter {name!r} for {book.name}{hint}; its parameters cell accepts: "
                              f"{listed}")


def _is_literal(value: Any) -> bool:
    """Whether papermill writes ``value`` back as the same Python literal."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_literal(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_literal(v) for k, v in value.items())
    return False


def _notes_once(folder: Path) -> None:
    """The training workers and notebook kernels of this run say each note (the offline VGG19, ...) once between
    them: :func:`animelib.utils.say_once` marks what was said in ``folder``, emptied here."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[NOTES_DIR_ENV] = str(folder)


def run_notebooks(profile: str = "quick", only: list[str] | None = None, data_dir: str | None = None,
                  figures_dir: str | Path = "figures", runs_dir: str | Path = "runs", device: str = "auto",
                  seed: int = 0, progress: bool = True, log=print, folder: Path = NOTEBOOKS_DIR,
                  parameters: dict[str, Any] | None = None, stream: bool = True, crop: str = "auto",
                  seeds: int = 1, workers: int | None = None) -> list[Path]:
    """Execute the notebooks in order; executed copies go to ``<runs_dir>/notebooks/``.

    ``seeds``: how many seeds (``seed``, ``seed + 1``, ...) the notebooks train each model with, to measure the
    spread between runs. ``crop``: how real folders are framed (see :func:`animelib.config.crop_policies`).
    The profile, seed, data and folders are recorded in ``<runs_dir>/last-run.json``, so that notebooks
    opened later (JupyterLab) use the same runs.

    ``stream``: show what the notebooks print (their output, warnings and progress bars) in this process's
    stdout and stderr as it happens (:mod:`animelib.nbstream`); the executed notebooks are the same either way.

    ``workers``: before the notebooks start, train what they will train in this many processes at once
    (:mod:`animelib.schedule`; the default, :func:`~animelib.schedule.default_workers`, is two on a CPU, one on a
    GPU); 1 leaves the training to the notebooks, one after another.

    ``parameters``: extra values to inject into every notebook; each name must be one its ``parameters`` cell
    defines, other than the injected ones (:data:`INJECTED`). Everything is checked before a notebook starts.
    """
    workers = default_workers(device, profile) if workers is None else workers
    _check_arguments(profile, seed, seeds, workers, crop, data_dir)
    books = list_notebooks(only, folder)
    if not books:
        raise AnimelibError(f"no notebooks in {folder}: run from a clone of the repository (pip install -e .)")
    check_parameters(parameters or {}, books)
    figures_dir, runs_dir = Path(figures_dir).resolve(), Path(runs_dir).resolve()
    out_dir = runs_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    data_dir = str(Path(data_dir).expanduser().resolve()) if data_dir else None
    params = {**(parameters or {}), "PROFILE": profile, "SEED": seed, "SEEDS": seeds, "DATA_DIR": data_dir,
              "CROP": crop, "FIG_DIR": str(figures_dir), "RUN_DIR": str(runs_dir), "DEVICE": device}
    record_last_run(runs_dir, profile, figures_dir, seed=seed, seeds=seeds, data_dir=data_dir, crop=crop)
    _notes_once(runs_dir / "logs" / "notes")
    if workers > 1:
        where = notebook_places(profile, seed, data_dir, str(figures_dir), str(runs_dir), seeds, crop)
        train_ahead(plan(where, device, [b.stem for b in books]), workers, runs_dir / "logs", log)
    engine = register() if stream else None
    outputs = []
    for i, book in enumerate(books, 1):
        out = out_dir / book.name  # a notebook's own file name: the executed copy stays in out_dir
        start = time.perf_counter()
        log(f"[animelib] notebook {i}/{len(books)}: {book.name} (profile {profile}) -> {out}")
        try:
            pm.execute_notebook(str(book), str(out), parameters=params, cwd=str(book.parent), progress_bar=progress,
                                kernel_name="python3", log_output=False, engine_name=engine,
                                kernel_manager_class=RunnerKernelManager)  # kernels end with the runner
        except DeadKernelError as e:
            raise NotebookFailed(f"{book.name}: the kernel died ({e}); out of memory? The executed notebook is "
                                 f"{out}") from None
        except pm.PapermillExecutionError as e:
            raise NotebookFailed(f"{book.name} failed in cell [{e.exec_count}] ({_first_line(out, e.exec_count)}) "
                                 f"with {e.ename}: {e.evalue}; the executed notebook is {out}") from None
        log(f"[animelib] {book.name} done in {time.perf_counter() - start:.0f} s")
        outputs.append(out)
    return outputs


def _check_arguments(profile: str, seed: int, seeds: int, workers: int, crop: str, data_dir: str | None) -> None:
    """A one-line :class:`ConfigError` naming the first bad argument of :func:`run_notebooks`."""
    if profile not in PROFILES:
        raise ConfigError(f"profile={profile!r} is not one of {', '.join(PROFILES)}")
    for name, value, least in (("seed", seed, 0), ("seeds", seeds, 1), ("workers", workers, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ConfigError(f"{name}={value!r} must be an integer of at least {least}")
    crop_policies(crop)
    if data_dir is not None:
        check_data_dir(data_dir)


def _first_line(executed: Path, exec_count: int) -> str:
    """The first line of the executed notebook's cell with that execution count, to name the failing cell."""
    try:
        cells = nbformat.read(executed, as_version=4).cells
        source = next(c.source for c in cells if c.get("execution_count") == exec_count).strip()
    except (OSError, StopIteration, ValueError):
        return "?"
    line = source.splitlines()[0] if source else ""
    return line if len(line) <= 80 else line[:77] + "..."
