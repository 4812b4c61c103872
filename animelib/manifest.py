"""The figure manifest: every report figure under a stable id, with its file, notebook, caption and run.

``<figures-dir>/manifest.json`` = ``{"profile": ..., "figures": [{"id", "file", "notebook", "caption",
"run"}]}`` with ``file`` relative to the manifest. Saving a figure updates its entry, so notebooks can run
one at a time, in any order, and side by side: the manifest is changed under a file lock and replaced
atomically, and a figure's PNG is written to a temporary file and renamed, so a reader never sees half of
either (the temporary files a killed notebook left are removed by the next one that saves a figure there).
Notebooks save through a :class:`FigureBook`::

    book = FigureBook(FIG_DIR, cfg, "01_dcgan.ipynb")
    book.save("fig5", fig, "Figure 5: DCGAN losses per iteration")
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from animelib.errors import AnimelibError, ConfigError
from animelib.files import atomic_write, file_lock, remove_stale_temporaries
from animelib.paths import REPO_ROOT
from animelib.speed import amp_skipped_here
from animelib.utils import select_device

FIG_DPI = 120
MANIFEST = "manifest.json"

# Every figure and table of the report we regenerate, with the notebook that draws it.
FIGURES: dict[str, tuple[str, str]] = {
    "table1": ("00_datasets.ipynb", "Table 1: the datasets"),
    "fig1a": ("00_datasets.ipynb", "Figure 1a: examples from Thumbs (photos)"),
    "fig1b": ("00_datasets.ipynb", "Figure 1b: examples from Faces (anime)"),
    "edge_promotion": ("00_datasets.ipynb", "Edge promotion: B beside E"),
    "fig2a": ("01_dcgan.ipynb", "Figure 2a: DCGAN generator architecture"),
    "fig2b": ("01_dcgan.ipynb", "Figure 2b: DCGAN discriminator architecture"),
    "fig5": ("01_dcgan.ipynb", "Figure 5: DCGAN training losses"),
    "fig6a": ("01_dcgan.ipynb", "Figure 6a: avatars from random noise"),
    "fig6b": ("01_dcgan.ipynb", "Figure 6b: avatars from continuous noise"),
    "fig6c": ("01_dcgan.ipynb", "Figure 6c: the same noise at different epochs"),
    "fig3": ("02_cyclegan.ipynb", "Figure 3: CycleGAN architecture"),
    "fig7": ("02_cyclegan.ipynb", "Figure 7: CycleGAN training losses"),
    "fig8a": ("02_cyclegan.ipynb", "Figure 8a: A, G_A2B(A), G_B2A(G_A2B(A))"),
    "fig8b": ("02_cyclegan.ipynb", "Figure 8b: B, G_B2A(B), G_A2B(G_B2A(B))"),
    "fig4": ("03_cartoongan.ipynb", "Figure 4: CartoonGAN architecture"),
    "cartoongan_losses": ("03_cartoongan.ipynb", "CartoonGAN training losses"),
    "cartoongan_results": ("03_cartoongan.ipynb", "CartoonGAN results beside CycleGAN"),
    "ablation": ("03_cartoongan.ipynb", "Extra losses: ablation"),
    "table2": ("04_comparison.ipynb", "Table 2: the three models compared"),
}


def git_commit() -> str | None:
    """The project's commit (with ``-dirty`` when the work tree has changes), or None outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def run_info(config, device: Any = None, **extra: Any) -> dict[str, Any]:
    """Where a figure came from: profile, seed, data, epochs, device (the one actually used) and git commit."""
    if device is None:
        device = select_device(config.device)
    info = {
        "model": config.MODEL,
        "profile": config.profile,
        "seed": config.seed,
        "data": config.data_label,
        "epochs": config.epochs,
        "device": str(device),
        "commit": git_commit(),
    }
    info.update(extra)
    return info


# A figure id becomes a file name in the figures folder: a plain stem, so it can never name a path elsewhere.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")
# Keys of a manifest entry that ``extra`` keyword arguments may not replace.
_ENTRY_KEYS = ("id", "file", "notebook", "caption", "run")


def check_name(name: Any, what: str = "figure id") -> str:
    """``name`` if it is a plain file name (letters, digits, ``_``, ``-``, ``.`` not leading, no ``..``).

    Anything else (a path, ``..``, an empty or hidden name) is a :class:`ConfigError` naming it.
    """
    if not isinstance(name, str) or not _PLAIN_NAME.fullmatch(name) or ".." in name:
        raise ConfigError(f"{what} {name!r} is not accepted: use a plain file name of up to 100 letters, digits, "
                          "'_', '-' and '.' (not first, no '..', no '/' or '\\'), e.g. 'fig6a'")
    return name


def read_manifest(fig_dir: str | Path, missing_ok: bool = False) -> dict[str, Any]:
    """The manifest of a figures folder (``missing_ok``: an empty one when there is none yet).

    A missing folder or file, or one that is not a manifest, is an :class:`AnimelibError` saying how to make one.
    """
    fig_dir = Path(fig_dir)
    path = fig_dir / MANIFEST
    if not path.exists():
        if missing_ok:
            return {"profile": None, "figures": []}
        if not fig_dir.is_dir():
            raise AnimelibError(f"figures folder {fig_dir} does not exist: run `make figures` (or "
                                "`python -m animelib run`) first, or pass --figures-dir")
        raise AnimelibError(f"{path} is missing: {fig_dir} holds no figures made by the notebooks. "
                            "Run `make figures` first, or pass the folder they went to with --figures-dir")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise AnimelibError(f"{path} cannot be read as JSON ({e}); run `make figures` to write it again") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("figures", []), list):
        raise AnimelibError(f"{path} is not a figure manifest (expected {{'profile', 'figures': [...]}})")
    manifest.setdefault("figures", [])
    return manifest


def register(fig_dir: str | Path, fig_id: str, file: str, caption: str, notebook: str | None = None,
             run: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Add or replace the entry ``fig_id`` in the manifest; ``file`` is a name inside ``fig_dir``.

    The read-change-write is done under the folder's lock and the file replaced atomically, so two notebooks
    saving at once lose no entry and a reader never sees a half-written manifest.
    """
    check_name(fig_id)
    check_name(file, "figure file")
    reserved = sorted(set(extra) & set(_ENTRY_KEYS))
    if reserved:
        raise ConfigError(f"figure {fig_id!r}: extra field {reserved[0]!r} would replace the entry's own; "
                          "use another name")
    fig_dir = Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    entry = {"id": fig_id, "file": file, "notebook": notebook or FIGURES.get(fig_id, (None,))[0],
             "caption": caption, "run": run or {}, **extra}
    order = list(FIGURES)
    # The lock is taken on the figures folder itself: it outlives every rename of the manifest (a lock on
    # manifest.json would stay on the replaced file) and leaves no lock file behind. Writers wait for each
    # other; each holds it for milliseconds.
    with file_lock(fig_dir, create=False):
        manifest = read_manifest(fig_dir, missing_ok=True)
        figures = [f for f in manifest["figures"] if f["id"] != fig_id] + [entry]
        figures.sort(key=lambda f: (order.index(f["id"]) if f["id"] in order else len(order), f["id"]))
        manifest["figures"] = figures
        if run and run.get("profile"):
            manifest["profile"] = run["profile"]
        atomic_write(fig_dir / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        remove_stale_temporaries(fig_dir)  # figures and manifests that killed writers left half-written
    return entry


def save_figure(fig, fig_id: str, fig_dir: str | Path, caption: str, run: dict[str, Any] | None = None,
                notebook: str | None = None, dpi: int = FIG_DPI, **extra: Any) -> Path:
    """Save a matplotlib figure as ``<fig_dir>/<fig_id>.png`` (atomically) and record it in the manifest.

    ``fig_id`` must be a plain file stem (see :func:`check_name`): the figure is never written outside ``fig_dir``.
    """
    check_name(fig_id)
    fig_dir = Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    path = fig_dir / f"{fig_id}.png"
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight", facecolor="white"))
    register(fig_dir, fig_id, path.name, caption, notebook=notebook, run=run, **extra)
    return path


def _levers(config) -> list[str]:
    return config.levers({"amp": "skipped on this CPU: no native bf16"} if amp_skipped_here(config) else None)


def caption(text: str, config, epochs: int | None = None, note: str | None = None,
            models: dict[str, Any] | None = None) -> str:
    """A figure caption ending in where it came from: profile, data, epochs (and a warning note, if any), and the
    levers beyond the report's recipe: ``config``'s, or, for a figure of several models, those of each config in
    ``models`` (label -> config)."""
    done = config.epochs if epochs is None else epochs
    source = f"{config.profile} profile, {config.data_label}, {done} epochs, seed {config.seed}"
    if models:
        parts = [f"{label}: {'; '.join(_levers(c)) or 'none'}" for label, c in models.items()]
        recipe = f" Beyond the report's recipe, {' | '.join(parts)}."
    else:
        levers = _levers(config)
        recipe = f" Beyond the report's recipe: {'; '.join(levers)}." if levers else ""
    return f"{text} ({source}).{recipe}" + (f" {note}" if note else "")


class FigureBook:
    """Where one notebook saves its figures: each with its caption, the run it came from and the notebook.

    ``epochs`` overrides the config's in captions and run info (0 for figures drawn before any training);
    ``run_extra`` adds fields to the run info (``model="datasets"``).
    """

    def __init__(self, fig_dir: str | Path, config, notebook: str, epochs: int | None = None, **run_extra: Any):
        self.fig_dir, self.config, self.notebook, self.epochs = Path(fig_dir), config, notebook, epochs
        extra = {**run_extra, **({"epochs": epochs} if epochs is not None else {})}
        self.run = run_info(config, **extra)

    def save(self, fig_id: str, fig, title: str, note: str | None = None, config=None,
             models: dict[str, Any] | None = None, **extra: Any) -> Path:
        """Save ``fig`` as ``fig_id`` with the caption ``title (where it came from). note``.

        ``config`` names another run than the book's (a comparison table); ``models``: label -> config of every
        model a figure shows, whose levers the caption names model by model; ``extra`` goes into the manifest entry
        (``table=``, ``text=``: the measured conclusion the report page shows).
        """
        cfg = config or self.config
        run = self.run if config is None else run_info(config)
        return save_figure(fig, fig_id, self.fig_dir, caption(title, cfg, self.epochs, note, models), run=run,
                           notebook=self.notebook, **extra)
