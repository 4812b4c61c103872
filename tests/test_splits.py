"""Held-out images never leak into training: disjoint synthetic ranges, content-aware real-folder splits."""

import numpy as np
from PIL import Image

from animelib.data import INDEX_OFFSET, load_domain, load_translation_data, split_by_content
from animelib.models.cyclegan import CycleGANConfig
from animelib.models.dcgan import DCGANConfig


def _rows(images):
    return {im.tobytes() for im in images}


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
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    for i in range(5):  # copies under other names
        (folder / f"copy{i}.png").write_bytes((folder / "00.png").read_bytes())
    train, test = load_domain("anime", 32, 100, data_dir=tmp_path, num_test=5, progress=False)
    assert len(train) + len(test) == 25
    assert not _rows(train.images) & _rows(test.images)
