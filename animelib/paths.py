"""Where animelib keeps its caches and finds its notebooks."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
REPORT_TEXT_DIR = REPO_ROOT / "report"


def cache_dir(*parts: str) -> Path:
    """The cache folder (``$ANIMELIB_CACHE``, else ``~/.cache/animelib``), created on demand."""
    root = Path(os.environ.get("ANIMELIB_CACHE") or Path.home() / ".cache" / "animelib")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
