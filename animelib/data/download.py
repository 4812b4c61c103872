"""Download public anime and selfie datasets from the Hugging Face hub into the DATA_DIR folder layout.

For users with internet: ``anime-faces`` fills ``DATA_DIR/anime`` (DCGAN), ``selfie2anime`` fills
``DATA_DIR/thumbs`` (photos, domain A) and ``DATA_DIR/faces`` (anime, domain B). Images are written as
numbered PNG files; files already there are kept, so an interrupted download resumes where it stopped.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from animelib.errors import DataError
from animelib.files import atomic_write


@dataclass(frozen=True)
class HubDataset:
    """A dataset on the hub and where each of its image columns goes under DATA_DIR."""

    hub_id: str
    columns: dict[str, str]  # image column -> sub-folder of DATA_DIR
    about: str


DATASETS = {
    "anime-faces": HubDataset("huggan/anime-faces", {"image": "anime"}, "anime faces, for DCGAN"),
    "selfie2anime": HubDataset("huggan/selfie2anime", {"imageA": "thumbs", "imageB": "faces"},
                               "unpaired selfies (A) and anime faces (B), for CycleGAN and CartoonGAN"),
}
_NETWORK_ERRORS = {"ConnectionError", "ConnectError", "ConnectTimeout", "ConnectTimeoutError", "Timeout",
                   "ReadTimeout", "TimeoutException", "NetworkError", "ProxyError", "OfflineModeIsEnabled",
                   "LocalEntryNotFoundError", "gaierror", "NameResolutionError", "MaxRetryError"}


def _is_network_error(exc: BaseException) -> bool:
    """Whether exc (or what caused it) says the hub could not be reached."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return True
        if any(cls.__name__ in _NETWORK_ERRORS for cls in type(exc).__mro__):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _hub_offline() -> bool:
    """HF_HUB_OFFLINE / HF_DATASETS_OFFLINE, as the hub libraries read them."""
    import datasets
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE or datasets.config.HF_HUB_OFFLINE)


def _unreachable(hub_id: str, targets: str) -> DataError:
    return DataError(f"cannot download {hub_id}: the Hugging Face hub is unreachable (offline?). "
                     f"Download it elsewhere and copy its images to {targets}.")


def _probe(hub_id: str, targets: str) -> None:
    """One quick request, so that no network fails in a second instead of after load_dataset's retries."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        HfApi().dataset_info(hub_id, timeout=15)
    except RepositoryNotFoundError:
        raise DataError(f"cannot download {hub_id}: no such dataset on the Hugging Face hub "
                        "(or it is private or gated).") from None
    except Exception as e:
        if _is_network_error(e):
            raise _unreachable(hub_id, targets) from None
        raise DataError(f"cannot download {hub_id}: {type(e).__name__}: {e}") from e


def _open(hub_id: str, source: str | None, streaming: bool, targets: str):
    """The train split of a hub dataset, or of a local dataset folder or parquet/arrow file given as source."""
    import datasets

    local = Path(source).expanduser() if source is not None else None
    try:
        if local is not None and local.is_file():
            kind = {".parquet": "parquet", ".arrow": "arrow", ".csv": "csv", ".json": "json",
                    ".jsonl": "json"}.get(local.suffix.lower(), "parquet")
            return datasets.load_dataset(kind, data_files=str(local), split="train", streaming=streaming)
        if local is not None and local.is_dir():
            return datasets.load_dataset(str(local), split="train", streaming=streaming)
        if os.environ.get("ANIMELIB_OFFLINE") == "1":
            raise DataError(f"cannot download {hub_id}: downloads are switched off (ANIMELIB_OFFLINE=1). "
                            f"Unset it, or download it elsewhere and copy its images to {targets}.")
        if not _hub_offline():
            _probe(hub_id, targets)
        return datasets.load_dataset(hub_id, split="train", streaming=streaming)
    except DataError:
        raise
    except Exception as e:
        if _is_network_error(e):
            raise _unreachable(hub_id, targets) from None
        raise DataError(f"cannot load {hub_id}: {type(e).__name__}: {e}") from e


def _image_columns(ds, spec: HubDataset, hub_id: str) -> dict[str, str]:
    """spec's column -> folder map checked against ds; a lone image column stands for a missing one."""
    import datasets

    features = ds.features or {}
    images = [c for c, f in features.items() if isinstance(f, datasets.Image)]
    columns = {}
    for column, folder in spec.columns.items():
        if column in features:
            columns[column] = folder
        elif len(spec.columns) == 1 and images:
            columns[images[0]] = folder  # e.g. a mirror that names it "img"
        else:
            raise DataError(f"{hub_id} has no image column {column!r} (its columns: {', '.join(features)})")
    return columns


def _png_bytes(value) -> bytes | None:
    """A dataset cell (undecoded image: bytes or path) as PNG file bytes; None for an empty cell."""
    if value is None:
        return None
    data = value.get("bytes") if isinstance(value, dict) else None
    path = value.get("path") if isinstance(value, dict) else None
    if data is None and path:
        data = Path(path).read_bytes()
    if data is None:
        if isinstance(value, Image.Image):  # decoded after all (a dataset that ignores the cast)
            im = value
        else:
            return None
    else:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return data  # already PNG: copy as is, lossless and fast
        im = Image.open(io.BytesIO(data))
    if im.mode not in ("RGB", "RGBA", "L", "LA", "P", "I;16"):
        im = im.convert("RGB")
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    """Write atomically, so that an interrupted download never leaves a half file that resuming would keep."""
    atomic_write(path, data)


def download(name: str, to: str | Path, source: str | None = None, limit: int | None = None,
             progress: bool = True) -> dict[str, int]:
    """Write dataset ``name`` (a key of DATASETS) under ``to`` as numbered PNGs; returns files written per folder.

    ``source`` replaces the hub id: another hub id, or a local dataset folder or parquet file (tests, mirrors).
    ``limit`` keeps the first N rows (streamed, so only those are downloaded). Existing files are kept, so
    running it again resumes. Raises DataError when the hub cannot be reached.
    """
    import datasets

    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; accepted: {', '.join(DATASETS)}")
    if limit is not None and limit < 0:
        raise DataError(f"limit={limit!r} must be a positive number of images or None")
    spec = DATASETS[name]
    hub_id = source or spec.hub_id
    to = Path(to).expanduser()
    targets = " and ".join(str(to / folder) for folder in spec.columns.values())
    ds = _open(hub_id, source, streaming=limit is not None, targets=targets)
    columns = _image_columns(ds, spec, hub_id)
    for column in columns:  # undecoded: bytes are copied, and rows already written cost nothing
        ds = ds.cast_column(column, datasets.Image(decode=False))
    ds = ds.select_columns(list(columns))
    if limit is not None:
        ds = ds.take(limit)
    total = limit if limit is not None else len(ds)
    for folder in columns.values():
        (to / folder).mkdir(parents=True, exist_ok=True)

    written = {folder: 0 for folder in columns.values()}
    try:
        rows = tqdm(ds, total=total, desc=f"downloading {name}", unit="row", disable=not progress)
        for i, row in enumerate(rows):
            for column, folder in columns.items():
                path = to / folder / f"{i:05d}.png"
                if path.exists():
                    continue
                data = _png_bytes(row[column])
                if data is not None:
                    _write(path, data)
                    written[folder] += 1
    except DataError:
        raise
    except Exception as e:  # the connection dropped while streaming
        if _is_network_error(e):
            raise DataError(f"downloading {hub_id} stopped: the Hugging Face hub became unreachable. "
                            f"Run it again to resume ({sum(written.values()):,} files written).") from None
        raise
    return written
