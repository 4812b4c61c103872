"""Downloaders, on small local datasets built here; the network is never used (offline mode, sockets blocked)."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from PIL import Image

from animelib.data import download as dl
from animelib.errors import DataError

datasets = pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """Hub offline mode and a private HF cache; any socket connection fails the test loudly."""
    import huggingface_hub.constants

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.delenv("ANIMELIB_OFFLINE", raising=False)  # tested on its own below
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    # The libraries read these once at import: patch their copies too.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_CACHE_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf" / "datasets")

    def no_network(*args, **kwargs):
        raise OSError(101, "Network is unreachable (blocked by the test)")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)


def picture(seed: int, size: int = 24, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), np.uint8)).convert(mode)


def selfie_parquet(folder, n: int = 5):
    """A selfie2anime-like dataset: imageA (photos), imageB (anime), as one parquet file in folder."""
    from datasets import Dataset, Features
    from datasets import Image as ImageFeature

    features = Features({"imageA": ImageFeature(), "imageB": ImageFeature()})
    ds = Dataset.from_dict({"imageA": [picture(i) for i in range(n)],
                            "imageB": [picture(100 + i, mode="L") for i in range(n)]}, features=features)
    folder.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(folder / "train.parquet"))
    return folder


def test_selfie2anime_from_a_local_dataset(tmp_path):
    source = selfie_parquet(tmp_path / "mirror")
    out = tmp_path / "data"
    written = dl.download("selfie2anime", out, source=str(source), progress=False)
    assert written == {"thumbs": 5, "faces": 5}
    assert sorted(p.name for p in (out / "thumbs").iterdir()) == [f"{i:05d}.png" for i in range(5)]
    # Pixels are kept exactly, in order: A to thumbs, B to faces.
    assert np.array_equal(np.asarray(Image.open(out / "thumbs" / "00003.png")), np.asarray(picture(3)))
    assert np.array_equal(np.asarray(Image.open(out / "faces" / "00004.png")),
                          np.asarray(picture(104, mode="L")))


def test_rerun_resumes_and_limit_streams(tmp_path):
    source = selfie_parquet(tmp_path / "mirror", n=6)
    out = tmp_path / "data"
    assert dl.download("selfie2anime", out, source=str(source / "train.parquet"), limit=2,
                       progress=False) == {"thumbs": 2, "faces": 2}
    assert len(list((out / "faces").iterdir())) == 2
    (out / "thumbs" / "00001.png").unlink()  # as if interrupted
    again = dl.download("selfie2anime", out, source=str(source), progress=False)
    assert again == {"thumbs": 5, "faces": 4}  # only the missing files
    assert len(list((out / "thumbs").glob("*.png"))) == 6
    assert dl.download("selfie2anime", out, source=str(source), progress=False) == {"thumbs": 0, "faces": 0}
    assert not list(out.rglob("*.tmp"))


def test_anime_faces_takes_the_image_column(tmp_path):
    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as ImageFeature

    features = Features({"image": ImageFeature(), "label": ClassLabel(names=["data"])})
    ds = Dataset.from_dict({"image": [picture(i) for i in range(3)], "label": [0, 0, 0]}, features=features)
    (tmp_path / "mirror").mkdir()
    ds.to_parquet(str(tmp_path / "mirror" / "train.parquet"))
    written = dl.download("anime-faces", tmp_path / "data", source=str(tmp_path / "mirror"), progress=False)
    assert written == {"anime": 3}
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["anime"]


def test_unknown_dataset_names_the_accepted_ones(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'danbooru'; accepted: anime-faces, selfie2anime"):
        dl.download("danbooru", tmp_path)


def test_offline_hub_gives_one_clear_line(tmp_path):
    with pytest.raises(DataError) as info:
        dl.download("selfie2anime", tmp_path / "data", progress=False)
    msg = str(info.value)
    assert msg == (f"cannot download huggan/selfie2anime: the Hugging Face hub is unreachable (offline?). "
                   f"Download it elsewhere and copy its images to {tmp_path / 'data' / 'thumbs'} and "
                   f"{tmp_path / 'data' / 'faces'}.")
    assert "\n" not in msg
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained traceback
    assert not (tmp_path / "data").exists()  # nothing half-made


def test_unreachable_network_without_offline_mode(tmp_path, monkeypatch):
    """With offline mode off, the blocked socket stands for a machine without network."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    with pytest.raises(DataError, match=r"^cannot download huggan/anime-faces: the Hugging Face hub is "
                                        r"unreachable \(offline\?\)\. .* to .*anime\.$"):
        dl.download("anime-faces", tmp_path / "data", limit=3, progress=False)


def test_animelib_offline_switch_refuses_hub_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMELIB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"^cannot download huggan/anime-faces: downloads are switched off "
                                        r"\(ANIMELIB_OFFLINE=1\)\. Unset it, or download it elsewhere"):
        dl.download("anime-faces", tmp_path / "data", progress=False)
    # A local source is no download: it still works.
    source = selfie_parquet(tmp_path / "mirror", n=2)
    assert dl.download("selfie2anime", tmp_path / "data", source=str(source), progress=False) == {
        "thumbs": 2, "faces": 2}


def test_network_errors_are_recognised():
    try:
        try:
            raise OSError(101, "unreachable")
        except OSError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as e:
        assert not dl._is_network_error(e)  # a plain OSError is not a network error
    assert dl._is_network_error(ConnectionError("Couldn't reach 'x' on the Hub (OfflineModeIsEnabled)"))
    err = ValueError("outer")
    err.__cause__ = TimeoutError("slow")
    assert dl._is_network_error(err)
    assert not dl._is_network_error(ValueError("bad column"))
