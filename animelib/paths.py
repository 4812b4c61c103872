"""Where animelib keeps its caches, finds its notebooks, and where a notebook reads and writes its runs.

A notebook's parameters default to ``None``: :func:`notebook_places` then picks the profile and folders that
``make figures`` (``animelib run``) last used, recorded in ``<repository>/runs/last-run.json``, so Run All in
JupyterLab after ``make figures`` redraws the trained runs. Paths are resolved from the package, never from the
folder the kernel happens to start in; a relative path given explicitly is taken relative to that folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from animelib.files import atomic_write

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
REPORT_TEXT_DIR = REPO_ROOT / "report"
RUNS_ROOT = REPO_ROOT / "runs"
LAST_RUN = "last-run.json"  # in the runs folder of `animelib run`: the profile and folders it used
PROFILE_ENV = "ANIMELIB_PROFILE"  # the profile notebooks use when none is given (the tests set smoke)


def cache_dir(*parts: str) -> Path:
    """The cache folder (``$ANIMELIB_CACHE``, else ``~/.cache/animelib``), created on demand."""
    root = Path(os.environ.get("ANIMELIB_CACHE") or Path.home() / ".cache" / "animelib")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class NotebookPlaces:
    """The profile, settings and folders a notebook works with, and why this profile."""

    profile: str
    seed: int
    seeds: int  # how many seeds (seed, seed + 1, ...) each model is trained with
    data_dir: str | None
    crop: str
    fig_dir: Path
    run_dir: Path
    why: str

    @property
    def settings(self) -> dict[str, Any]:
        """The config fields that come from here: ``Config.from_profile(places.profile, **places.settings)``."""
        return {"seed": self.seed, "data_dir": self.data_dir, "crop": self.crop}

    def __str__(self) -> str:
        data = self.data_dir or "synthetic avatars"
        seeds = f"seeds {self.seed}-{self.seed + self.seeds - 1}" if self.seeds > 1 else f"seed {self.seed}"
        return (f"profile {self.profile} ({self.why}), {seeds}, data: {data}; runs in {self.run_dir}, "
                f"figures in {self.fig_dir}")


def read_last_run(runs_dir: Path = RUNS_ROOT) -> dict[str, Any]:
    """What ``animelib run`` recorded in ``runs_dir``: ``{"last": profile, "profiles": {profile: {...}}}``."""
    try:
        record = json.loads((runs_dir / LAST_RUN).read_text())
    except (OSError, ValueError):
        return {"last": None, "profiles": {}}
    return record if isinstance(record, dict) and isinstance(record.get("profiles"), dict) else \
        {"last": None, "profiles": {}}


def record_last_run(runs_dir: Path, profile: str, fig_dir: Path, **settings: Any) -> None:
    """Remember (in ``runs_dir``) the folders and settings (seed, seeds, data_dir, crop) a run of the notebooks
    used for ``profile``."""
    runs_dir = Path(runs_dir).resolve()
    record = read_last_run(runs_dir)
    record["last"] = profile
    record["profiles"][profile] = {**settings, "fig_dir": str(Path(fig_dir).resolve()), "run_dir": str(runs_dir)}
    runs_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(runs_dir / LAST_RUN, json.dumps(record, indent=2))


def notebook_places(profile: str | None = None, seed: int | None = None, data_dir: str | None = None,
                    fig_dir: str | None = None, run_dir: str | None = None, seeds: int | None = None,
                    crop: str | None = None, runs_root: Path = RUNS_ROOT) -> NotebookPlaces:
    """Resolve a notebook's parameters; ``None`` means "as ``make figures`` last ran it".

    The profile: the one given, else ``$ANIMELIB_PROFILE``, else the one ``animelib run`` last used with the
    repository's runs folder, else ``smoke`` (nothing trained yet). Settings and folders not given come from
    that profile's record, else seed 0, one seed, the synthetic avatars, crop "auto", ``runs/<profile>`` and
    ``runs/<profile>/figures``. Relative paths given are taken from the current folder (the kernel's).
    """
    record = read_last_run(runs_root)
    if profile is not None:
        why = "given"
    elif os.environ.get(PROFILE_ENV):
        profile, why = os.environ[PROFILE_ENV], f"from ${PROFILE_ENV}"
    elif record["last"]:
        profile, why = record["last"], "the profile `make figures` last ran"
    else:
        profile, why = "smoke", "nothing trained yet"
    done = record["profiles"].get(profile, {})
    default_runs = Path(done.get("run_dir") or runs_root / profile)
    return NotebookPlaces(
        profile=profile,
        seed=seed if seed is not None else int(done.get("seed", 0)),
        seeds=seeds if seeds is not None else int(done.get("seeds", 1)),
        data_dir=str(Path(data_dir).expanduser().resolve()) if data_dir else done.get("data_dir"),
        crop=crop or done.get("crop") or "auto",
        fig_dir=Path(fig_dir).expanduser().resolve() if fig_dir else Path(done.get("fig_dir") or
                                                                         default_runs / "figures"),
        run_dir=Path(run_dir).expanduser().resolve() if run_dir else default_runs,
        why=why,
    )
