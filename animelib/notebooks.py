"""Run the notebooks headless with papermill, injecting the profile, folders and device."""

from __future__ import annotations

import time
from pathlib import Path

from animelib.errors import AnimelibError
from animelib.paths import NOTEBOOKS_DIR

# What the runner injects into every notebook's ``parameters`` cell.
INJECTED = ("PROFILE", "SEED", "DATA_DIR", "FIG_DIR", "RUN_DIR", "DEVICE")


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


def run_notebooks(profile: str = "quick", only: list[str] | None = None, data_dir: str | None = None,
                  figures_dir: str | Path = "figures", runs_dir: str | Path = "runs", device: str = "auto",
                  seed: int = 0, progress: bool = True, log=print, folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Execute the notebooks in order; executed copies go to ``<runs_dir>/notebooks/``."""
    import papermill as pm
    from nbclient.exceptions import DeadKernelError

    figures_dir, runs_dir = Path(figures_dir).resolve(), Path(runs_dir).resolve()
    out_dir = runs_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"PROFILE": profile, "SEED": seed, "DATA_DIR": str(Path(data_dir).resolve()) if data_dir else None,
              "FIG_DIR": str(figures_dir), "RUN_DIR": str(runs_dir), "DEVICE": device}
    books = list_notebooks(only, folder)
    if not books:
        raise AnimelibError(f"no notebooks in {folder}: run from a clone of the repository (pip install -e .)")
    outputs = []
    for i, book in enumerate(books, 1):
        out = out_dir / book.name
        start = time.perf_counter()
        log(f"[animelib] notebook {i}/{len(books)}: {book.name} (profile {profile}) -> {out}")
        try:
            pm.execute_notebook(str(book), str(out), parameters=params, cwd=str(book.parent),
                                progress_bar=progress, kernel_name="python3", log_output=False)
        except DeadKernelError as e:
            raise NotebookFailed(f"{book.name}: the kernel died ({e}); out of memory? The executed notebook is "
                                 f"{out}") from None
        except pm.PapermillExecutionError as e:
            raise NotebookFailed(f"{book.name} failed in cell [{e.exec_count}] ({_first_line(out, e.exec_count)}) "
                                 f"with {e.ename}: {e.evalue}; the executed notebook is {out}") from None
        log(f"[animelib] {book.name} done in {time.perf_counter() - start:.0f} s")
        outputs.append(out)
    return outputs


def _first_line(executed: Path, exec_count: int) -> str:
    """The first line of the executed notebook's cell with that execution count, to name the failing cell."""
    import nbformat

    try:
        cells = nbformat.read(executed, as_version=4).cells
        source = next(c.source for c in cells if c.get("execution_count") == exec_count).strip()
    except (OSError, StopIteration, ValueError):
        return "?"
    line = source.splitlines()[0] if source else ""
    return line if len(line) <= 80 else line[:77] + "..."
