"""Real folders at scale: face boxes found once, crop policies, the process pool, seeded partial decodes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animelib.config import crop_policies
from animelib.data import dataset_table, decode, example_images, faces, folders, load_domain
from animelib.data.folders import load_folder
from animelib.data.synthetic import render_set
from animelib.errors import ConfigError
from animelib.models.cyclegan import CycleGANConfig
from animelib.models.dcgan import DCGANConfig
from animelib.paths import notebook_places


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMELIB_CACHE", str(tmp_path / "cache"))


def anime_renders(n: int, size: int = 128) -> np.ndarray:
    return render_set("anime", n, size, start=8_000_000, progress=False)[0]  # (n, size, size, 3) uint8


def on_background(img: np.ndarray, side: int, top: int, left: int) -> np.ndarray:
    """img pasted on a flat grey square of ``side``: (side, side, 3) uint8."""
    canvas = np.full((side, side, 3), 128, np.uint8)
    canvas[top:top + img.shape[0], left:left + img.shape[1]] = img
    return canvas


def write(folder: Path, name: str, img: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(folder / name)


def random_folder(folder: Path, n: int, side: int = 24, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        write(folder, f"{i:03d}.png", rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


def count_calls(monkeypatch, module, name: str) -> list:
    calls = []
    real = getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def test_faces_found_once_and_reused_for_another_size(tmp_path, monkeypatch):
    root = tmp_path / "faces"
    renders = anime_renders(3, 160)
    for i, img in enumerate(renders):
        write(root, f"loose{i}.png", on_background(img, 320, 40 * i, 150))
    write(root, "blank.png", np.full((100, 100, 3), 200, np.uint8))
    calls = count_calls(monkeypatch, faces, "detect")
    first = load_folder(root, 32, crop="face", detector="anime", progress=False, workers=1)
    assert len(calls) == 4 and first.crops == {"face": 3, "center": 1}
    calls.clear()
    second = load_folder(root, 48, crop="face", detector="anime", progress=False, workers=1)
    assert calls == []  # the boxes came from the cache
    assert second.crops == first.crops and second.images.shape == (4, 48, 48, 3)
    # the same squares, only sized differently
    again = np.stack([np.asarray(Image.fromarray(im).resize((32, 32), Image.BILINEAR)) for im in second.images])
    assert np.abs(again.astype(int) - first.images.astype(int)).mean() < 12
    # a touched file is looked at again, the others are not
    (root / "loose0.png").write_bytes((root / "loose0.png").read_bytes())
    load_folder(root, 40, crop="face", detector="anime", progress=False, workers=1)
    assert len(calls) == 1


def test_auto_keeps_face_crops_whole_and_crops_a_face_in_a_large_picture(tmp_path):
    root = tmp_path / "faces"
    crop, loose = anime_renders(2)
    write(root, "a_crop.png", crop)  # an avatar that is already a face crop
    write(root, "b_loose.png", on_background(loose, 480, 300, 40))  # the same kind of face, small, bottom left
    got = load_folder(root, 64, crop="auto", detector="anime", progress=False, workers=1)
    assert got.crops == {"whole": 1, "face": 1}
    assert "1 cropped to the face, 1 kept whole" in got.summary()
    whole = np.asarray(Image.fromarray(crop).resize((64, 64), Image.BILINEAR)).astype(int)
    assert np.abs(got.images[0].astype(int) - whole).mean() < 6  # kept whole, only resized
    face = got.images[1]
    assert (face == 128).all(axis=2).mean() < 0.25  # the face fills the square, not the grey background


def test_other_policies_frame_as_they_say(tmp_path):
    root = tmp_path / "thumbs"
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, :20] = (255, 0, 0)  # red left quarter, blue right quarter: what a crop keeps shows
    img[:, 60:] = (0, 0, 255)
    write(root, "wide.png", img)
    center = load_folder(root, 40, crop="center", detector="photo", progress=False).images[0]
    assert center[:, :, 0].max() < 50 and center[:, :, 2].max() < 50  # the middle square: no red, no blue
    none = load_folder(root, 80, crop="none", detector="photo", progress=False)
    assert none.crops == {"whole": 1} and none.summary().endswith("; crop none: 1 kept whole")
    whole = none.images[0]
    assert whole[40, 2, 0] > 200 and whole[40, -3, 2] > 200  # both ends kept
    assert (whole[:15] == whole[20]).all()  # the short side padded by repeating the border rows


def test_a_folder_of_face_crops_is_kept_whole_without_more_detection(tmp_path, monkeypatch):
    root = tmp_path / "anime"
    for i, img in enumerate(anime_renders(12, 96)):
        write(root, f"{i:02d}.png", img)
    calls = count_calls(monkeypatch, faces, "detect")
    got = load_folder(root, 32, crop="auto", detector="anime", progress=False, workers=1)
    assert got.crops == {"whole": 12}
    assert "a folder of face crops" in got.summary()
    assert len(calls) == 12  # the sample (here the whole folder); the decode itself detected nothing more


def test_parallel_decode_equals_serial(tmp_path, monkeypatch):
    root = tmp_path / "faces"
    renders = anime_renders(6, 96)
    for i, img in enumerate(renders):
        write(root, f"crop{i}.png", img)
        write(root, f"loose{i}.png", on_background(img, 300, 20 * i, 10 * i))
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    serial = load_folder(root, 32, crop="auto", detector="anime", progress=False, workers=1, cache=False)
    monkeypatch.setattr(folders, "MIN_PARALLEL", {"decode": 1, "detect": 1})
    pools = count_calls(monkeypatch, decode, "ProcessPoolExecutor")
    parallel = load_folder(root, 32, crop="auto", detector="anime", progress=False, workers=2, cache=False)
    assert pools, "no process pool was used"
    assert np.array_equal(parallel.images, serial.images)
    assert parallel.files == serial.files and parallel.skipped == serial.skipped == {"corrupt": ["broken.png"]}
    assert parallel.crops == serial.crops and parallel.crops.get("face")


def test_seeded_partial_decode_is_deterministic(tmp_path, monkeypatch):
    root = tmp_path / "anime"
    random_folder(root, 40)
    (root / "zz_empty.png").write_bytes(b"")
    decoded = count_calls(monkeypatch, decode, "_decode")
    first = load_folder(root, 8, max_images=10, seed=3, progress=False, cache=False)
    assert len(first) == 10 and first.limited and len(decoded) <= 11  # about N files, not 41
    assert first.files != sorted(first.files)  # the seed's order, not the names'
    again = load_folder(root, 8, max_images=10, seed=3, progress=False, cache=False)
    assert again.files == first.files and np.array_equal(again.images, first.images)
    other = load_folder(root, 8, max_images=10, seed=4, progress=False, cache=False)
    assert other.files != first.files
    # a new file leaves the others' places in the pick: the pick changes by at most that file
    random_folder(root / "new", 1, seed=9)
    grown = load_folder(root, 8, max_images=10, seed=3, progress=False, cache=False)
    assert len(set(grown.files) - set(first.files)) <= 1


def test_load_domain_decodes_about_n_plus_held_out(tmp_path, monkeypatch):
    folder = tmp_path / "anime"
    random_folder(folder, 40, side=32)
    for i in range(10):  # copies under other names: never on both sides of the split
        (folder / f"copy{i}.png").write_bytes((folder / f"{i % 2:03d}.png").read_bytes())
    decoded = count_calls(monkeypatch, decode, "_decode")
    train, test = load_domain("anime", 16, 12, data_dir=tmp_path, num_test=3, progress=False, crop="center")
    assert len(decoded) == 18 and len(train) + 2 * len(test) == 18  # training, validation and test images
    assert not {im.tobytes() for im in train.images} & {im.tobytes() for im in test.images}
    train2, test2 = load_domain("anime", 16, 12, data_dir=tmp_path, num_test=3, progress=False, crop="center")
    assert np.array_equal(train2.images, train.images) and np.array_equal(test2.images, test.images)
    assert "a pick by seed 0" in train.notes[0]


def test_auto_looks_at_a_sample_then_decodes_about_n(tmp_path, monkeypatch):
    random_folder(tmp_path / "anime", 150, side=32)
    decoded = count_calls(monkeypatch, decode, "_decode")
    monkeypatch.setattr(decode, "_can_spawn", lambda: False)  # one process: every decode is counted here
    train, test = load_domain("anime", 16, 10, data_dir=tmp_path, num_test=2, progress=False)
    assert len(train) + 2 * len(test) == 14  # training, validation and test images
    assert len(decoded) == folders.PROBE + 14  # the sample for crop="auto", then the pick


def _data_dir(root: Path, n: int) -> Path:
    for domain in ("anime", "thumbs", "faces"):
        random_folder(root / domain, n, seed=len(domain))
    (root / "thumbs" / "readme.txt").write_text("not counted")
    return root


def test_table_counts_files_and_figure_decodes_only_its_examples(tmp_path, monkeypatch):
    data = _data_dir(tmp_path / "data", 30)
    dc = DCGANConfig.from_profile("smoke", data_dir=str(data))
    cg = CycleGANConfig.from_profile("smoke", data_dir=str(data), crop="center")

    def boom(*args, **kwargs):
        raise AssertionError("decoded for Table 1")

    monkeypatch.setattr(decode, "_decode", boom)
    columns, rows = dataset_table(dc, cg)
    here = {row[0]: row[3] for row in rows}
    assert here == {"Anime": 30, "Thumbs": min(30, cg.num_a + cg.num_test), "Faces": min(30, cg.num_b + cg.num_test)}
    assert "(30 image files)" in rows[1][4]
    monkeypatch.undo()
    monkeypatch.setenv("ANIMELIB_CACHE", str(tmp_path / "cache"))
    decoded = count_calls(monkeypatch, decode, "_decode")
    photos, anime = example_images(cg, n=4, size=32)
    assert photos.shape == anime.shape == (4, 32, 32, 3)
    assert len(decoded) == 8  # four files per folder, not the whole folders


def test_crop_setting_per_folder_and_in_the_config():
    assert crop_policies("face") == {"anime": "face", "thumbs": "face", "faces": "face"}
    assert crop_policies("thumbs=center, anime=none") == {"anime": "none", "thumbs": "center", "faces": "auto"}
    for bad in ("middle", "thumbs=middle", "cats=face", ""):
        with pytest.raises(ConfigError, match=r"^crop=.* is not accepted; use one of auto, face, center, none"):
            crop_policies(bad)
    assert CycleGANConfig.from_profile("smoke").crop == "auto"
    assert CycleGANConfig.from_profile("smoke", crop="faces=face").crop == "faces=face"
    with pytest.raises(ConfigError, match="^crop='zoom' is not accepted"):
        DCGANConfig.from_profile("smoke", crop="zoom")
    assert json.loads(json.dumps(DCGANConfig.from_profile("smoke", crop="center").to_dict()))["crop"] == "center"
    # `animelib run --crop center` injects it into every notebook, which passes it to the configs
    places = notebook_places(crop="center", runs_root=Path("/nonexistent"))
    assert DCGANConfig.from_profile(places.profile, **places.settings).crop == "center"
