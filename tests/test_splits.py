"""Held-out images never leak into training: disjoint synthetic ranges, content-aware real-folder splits."""

import numpy as np
import pytest
from PIL import Image

from animelib.data import INDEX_OFFSET, load_domain, load_translation_data, split_by_content
from animelib.models.cyclegan import CycleGANConfig
from animelib.models.dcgan import DCGANConfig


def _rows(images):
    return {im.tobytes() for im in images}


def _random_folder(folder, n: int, seed: int) -> None:
    """``n`` random 32-px PNGs, ``00.png`` ...: a real folder of distinct images."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")


def test_synthetic_train_and_test_are_disjoint_and_unpaired():
    cfg = CycleGANConfig.from_profile("smoke")
    data = load_translation_data(cfg, progress=False)
    assert not _rows(data.train_a.images) & _rows(data.test_a.images)
    assert not _rows(data.train_b.images) & _rows(data.test_b.images)
    assert not _rows(data.train_b.images) & _rows(data.test_b_true)  # the truths are never trained on
    dc = DCGANConfig.from_profile("smoke")
    train, test = load_domain("anime", 64, dc.num_train, num_test=dc.num_test, progress=False)
    assert not _rows(train.images) & _rows(test.images)
    assert len(set(INDEX_OFFSET.values())) == len(INDEX_OFFSET)


def test_content_split_keeps_duplicates_on_one_side():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (30, 8, 8, 3), dtype=np.uint8)
    images[10:20] = images[0]  # eleven copies of one image
    train, test = split_by_content(images, num_test=6, seed=1)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(30))
    assert not _rows(images[train]) & _rows(images[test])


def test_real_folder_split_with_duplicate_files(tmp_path):
    folder = tmp_path / "anime"
    _random_folder(folder, 20, seed=0)
    for i in range(5):  # copies under other names
        (folder / f"copy{i}.png").write_bytes((folder / "00.png").read_bytes())
    train, test = load_domain("anime", 32, 100, data_dir=tmp_path, num_test=5, progress=False)
    val = load_domain("anime", 32, 100, data_dir=tmp_path, num_test=5, progress=False, split="val")[1]
    assert len(train) + len(test) + len(val) == 25  # the copies of 00.png travel together: one split is larger
    assert not _rows(train.images) & _rows(test.images)
    assert not _rows(train.images) & _rows(val.images) and not _rows(val.images) & _rows(test.images)


def test_synthetic_validation_and_test_splits_are_disjoint_and_each_has_its_truth():
    cfg = CycleGANConfig.from_profile("smoke")
    test = load_translation_data(cfg, progress=False)
    val = load_translation_data(cfg, progress=False, split="val")
    assert _rows(val.train_a.images) == _rows(test.train_a.images)  # training never depends on the split read
    for name in ("test_a", "test_b"):
        held_val, held_test = getattr(val, name).images, getattr(test, name).images
        assert len(held_val) == len(held_test) == cfg.num_test
        assert not _rows(held_val) & _rows(held_test)
        assert not _rows(held_val) & _rows(getattr(val, "train_" + name[-1]).images)
    assert not _rows(val.test_b_true) & _rows(test.test_b_true)
    assert not _rows(val.test_b_true) & _rows(val.train_b.images)
    dc = DCGANConfig.from_profile("smoke")
    train, held = load_domain("anime", 64, dc.num_train, num_test=dc.num_test, progress=False, split="val")
    assert not _rows(held.images) & _rows(train.images)
    assert not _rows(held.images) & _rows(load_domain("anime", 64, 0, num_test=dc.num_test, progress=False)[1].images)


def test_real_folder_has_three_disjoint_splits(tmp_path):
    _random_folder(tmp_path / "anime", 40, seed=1)
    train, test = load_domain("anime", 32, 100, data_dir=tmp_path, num_test=5, progress=False)
    train_v, val = load_domain("anime", 32, 100, data_dir=tmp_path, num_test=5, progress=False, split="val")
    assert _rows(train.images) == _rows(train_v.images) and len(test) == len(val) == 5
    assert len(train) == 30 and not _rows(val.images) & _rows(test.images)
    assert not (_rows(val.images) | _rows(test.images)) & _rows(train.images)


def test_a_tuning_process_cannot_read_the_test_split(monkeypatch):
    from animelib.data import HIDE_TEST, paired_truth
    from animelib.errors import DataError
    monkeypatch.setenv(HIDE_TEST, "1")
    cfg = CycleGANConfig.from_profile("smoke")
    with pytest.raises(DataError, match="test split is hidden"):
        load_translation_data(cfg, progress=False)
    with pytest.raises(DataError, match="test split is hidden"):
        load_domain("anime", 64, 4, num_test=4, progress=False)
    with pytest.raises(DataError, match="test split is hidden"):
        paired_truth(32, 4)
    assert len(load_translation_data(cfg, progress=False, split="val").test_a) == cfg.num_test
    with pytest.raises(DataError, match="split='train' is not one of val, test"):
        load_domain("anime", 64, 4, num_test=4, progress=False, split="train")


def test_every_synthetic_index_range_of_the_package_is_its_own():
    """The splits, the floors and the frozen networks' faces start apart: at least 10,000 faces (the largest
    held-out set is 2,048), and the training ranges 1,000,000 (the full profile trains on up to 115,087)."""
    from animelib.data import SPLIT_START
    from animelib.nets import evaluators, landmarks, vgg
    starts = sorted({*INDEX_OFFSET.values(), *(s for split in SPLIT_START.values() for s in split.values()),
                     evaluators.TRAIN_OFFSET, evaluators.HELD_OUT_OFFSET, landmarks.TRAIN_OFFSET,
                     landmarks.HELD_OUT_OFFSET, vgg.SYNTHETIC_TRAIN_OFFSET, vgg.SYNTHETIC_HELD_OUT_OFFSET,
                     *(INDEX_OFFSET["floor"] + 100_000 * i for i in range(3))})  # floor_set: one per domain
    assert len(starts) == 18  # 3 training ranges, 3 per held-out split, 3 floors, 6 of the frozen networks
    assert min(b - a for a, b in zip(starts[:-1], starts[1:], strict=True)) >= 10_000
    assert starts[:4] == [0, 1_000_000, 2_000_000, 3_000_000]  # the training ranges, then the validation split
