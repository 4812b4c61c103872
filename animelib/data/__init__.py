"""Datasets: the embedded synthetic avatars (default) and real image folders.

The report's three datasets (Table 1) map to three domains:

=========  ======================================  =====================  =========================
domain     report                                  synthetic default      real data
=========  ======================================  =====================  =========================
anime      Anime, 115,087 labelled anime avatars   ``anime`` style        ``DATA_DIR/anime``
thumbs     Thumbs, 3,666 real photos (A)           ``photo`` style        ``DATA_DIR/thumbs``
faces      Faces, 51,223 anime avatars (B)         ``anime`` style        ``DATA_DIR/faces`` (else anime)
=========  ======================================  =====================  =========================

Synthetic domains draw their faces from disjoint index ranges, so A and B show different people
(unpaired, like the report's data). Each domain has three splits: train, validation and test, each
from its own index range (a real folder's files are split by a seeded shuffle of their contents). The
held-out photos of both held-out splits are rendered in both styles: the anime rendering is the ground
truth for translating the photo. Training measures itself on the validation split; the figures, Table 2
and the verdicts use the test split. A tuning process sets ``ANIMELIB_HIDE_TEST=1``: reading the test
split then raises a DataError.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animelib.config import DOMAINS, REPORT_DATASETS, crop_policies
from animelib.data.folders import count_images, load_folder
from animelib.data.synthetic import render_set
from animelib.errors import DataError

# The style of each domain: what the synthetic set renders, and which face detector real folders get.
STYLE_OF = {"anime": "anime", "thumbs": "photo", "faces": "anime"}
INDEX_OFFSET = {"anime": 0, "thumbs": 1_000_000, "faces": 2_000_000, "val": 3_000_000, "test": 9_000_000,
                "floor": 9_800_000}
SPLITS = ("val", "test")  # the held-out splits; training never sees either
# where each domain's held-out synthetic faces start, per split: the photos' anime renderings are their ground truth
SPLIT_START = {split: {"thumbs": INDEX_OFFSET[split], "faces": INDEX_OFFSET[split] + 500_000,
                       "anime": INDEX_OFFSET[split] + 750_000} for split in SPLITS}
HELD_OUT_START = SPLIT_START["test"]
HIDE_TEST = "ANIMELIB_HIDE_TEST"  # set to 1 by a process that tunes a recipe: the test split is refused


def check_split(split: str) -> str:
    """``split`` when it is a held-out split this process may read; else a DataError."""
    if split not in SPLITS:
        raise DataError(f"split={split!r} is not one of {', '.join(SPLITS)}")
    if split == "test" and os.environ.get(HIDE_TEST) == "1":
        raise DataError(f"the test split is hidden from this process ({HIDE_TEST}=1: it tunes a recipe, which is "
                        "measured on the validation split, split='val')")
    return split


@dataclass
class ImageSet:
    """Images of one domain, as (N, H, W, 3) uint8, with where they came from."""

    domain: str
    images: np.ndarray  # (N, H, W, 3) uint8
    source: str
    landmarks: np.ndarray | None = None  # (N, 5, 2) float32 pixel (x, y), synthetic only
    notes: list[str] = field(default_factory=list)  # e.g. the folder's skip summary

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class TranslationData:
    """Train and held-out sets for A (photos) -> B (anime); ``test_b_true`` is A's paired ground truth."""

    train_a: ImageSet
    train_b: ImageSet
    test_a: ImageSet
    test_b: ImageSet
    test_b_true: np.ndarray | None  # (N, H, W, 3) uint8 anime rendering of test_a's faces, synthetic only
    test_landmarks: np.ndarray | None  # (N, 5, 2) landmarks of test_a (and test_b_true)
    test_a_true: np.ndarray | None = None  # (N, H, W, 3) uint8 photo rendering of test_b's faces, synthetic only

    @property
    def paired(self) -> bool:
        return self.test_b_true is not None


def load_domain(domain: str, size: int, n: int, data_dir: str | Path | None = None, data_seed: int = 0,
                dedupe: bool = False, num_test: int = 0, progress: bool = True,
                crop: str = "auto", split: str = "test") -> tuple[ImageSet, ImageSet]:
    """Up to ``n`` training images and ``num_test`` held-out images of ``domain`` at ``size`` pixels, the held-out
    ones from ``split`` ("test" or "val", each ``num_test`` images; the training images are the same either way).

    From a real folder only about ``n + 2 * num_test`` files are decoded, picked by ``data_seed`` (the same files
    every time), and split so that identical images never sit on two sides. ``crop``: the crop policy of
    real folders (see :func:`crop_policies`).
    """
    if domain not in DOMAINS:
        raise DataError(f"domain={domain!r} is not one of {', '.join(DOMAINS)}")
    check_split(split)
    policy = crop_policies(crop)[domain]
    if data_dir is None:
        style = STYLE_OF[domain]
        images, marks = render_set(style, n, size, seed=data_seed, start=INDEX_OFFSET[domain], progress=progress)
        source = f"synthetic {style}-style avatars (seed {data_seed})"
        train = ImageSet(domain, images, source, marks)
        start = SPLIT_START[split][domain]
        t_images, t_marks = render_set(style, num_test, size, seed=data_seed, start=start, progress=progress)
        return train, ImageSet(domain, t_images, f"{source}, held out ({split})", t_marks)
    folder = domain_folder(data_dir, domain)
    loaded = load_folder(folder, size, crop=policy, detector=STYLE_OF[domain], dedupe=dedupe,
                         max_images=n + 2 * num_test, seed=data_seed, progress=progress, name=domain)
    images = loaded.images
    num_test = min(num_test, len(images) // 5) if len(images) > 1 else 0
    train_idx, test_idx = split_by_content(images, num_test, data_seed)
    rest, val = split_by_content(images[train_idx], num_test, data_seed + 1)  # the validation split from the rest
    train_idx, held_idx = train_idx[rest][:n], (test_idx if split == "test" else train_idx[val])
    notes = [loaded.summary()]
    source = f"folder {folder}"
    return (ImageSet(domain, images[np.sort(train_idx)], source, None, notes),
            ImageSet(domain, images[np.sort(held_idx)], f"{source}, held out ({split})", None, notes))


def floor_set(domain: str, size: int, n: int, data_dir: str | Path | None = None,
              data_seed: int = 0) -> np.ndarray | None:
    """A second held-out real set of ``domain`` for the quality measures' real-vs-real floors: synthetic faces from
    their own index range; None for a real folder (the floors then split its held-out images in two)."""
    if data_dir is not None or n < 2:
        return None
    start = INDEX_OFFSET["floor"] + 100_000 * DOMAINS.index(domain)
    return render_set(STYLE_OF[domain], n, size, seed=data_seed, start=start, progress=False)[0]


def split_by_content(images: np.ndarray, num_test: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train and held-out indices (shuffled by ``seed``) such that identical images never sit on both sides.

    Duplicates are kept when ``dedupe`` is off, so the split groups images by a hash of their pixels and
    assigns whole groups; the held-out set gets about ``num_test`` images.
    """
    groups: dict[bytes, list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(hashlib.blake2b(image.tobytes(), digest_size=16).digest(), []).append(i)
    members = list(groups.values())
    order = np.random.default_rng(seed).permutation(len(members))
    test, train = [], []
    for g in order:
        (test if len(test) < num_test else train).extend(members[g])
    return np.array(train, dtype=np.int64), np.array(test, dtype=np.int64)


def check_data_dir(data_dir: str | Path) -> Path:
    """``data_dir`` as a path, or a clear error when it is missing or not a folder."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        problem = "is a file, not a folder" if data_dir.exists() else "does not exist"
        raise DataError(f"data folder {data_dir} {problem}. Leave DATA_DIR unset (None) to use the "
                        "embedded synthetic avatars, or point it at a folder holding anime/, thumbs/, faces/.")
    return data_dir


def domain_folder(data_dir: str | Path, domain: str) -> Path:
    """``DATA_DIR/<domain>``; ``faces`` falls back to ``anime`` when missing."""
    data_dir = check_data_dir(data_dir)
    folder = data_dir / domain
    if domain == "faces" and not folder.exists() and (data_dir / "anime").exists():
        folder = data_dir / "anime"
    if not folder.is_dir():
        raise DataError(f"{folder} does not exist: {domain} images are expected there "
                        f"(DATA_DIR/anime for DCGAN, DATA_DIR/thumbs and DATA_DIR/faces for translation)")
    return folder


def load_translation_data(cfg, progress: bool = True, split: str = "test") -> TranslationData:
    """A = thumbs (photos), B = faces (anime), with the held-out sets of ``split`` ("test" or "val") and, on
    synthetic data, their paired truth."""
    common = dict(size=cfg.image_size, data_dir=cfg.data_dir, data_seed=cfg.data_seed, dedupe=cfg.dedupe,
                  num_test=cfg.num_test, progress=progress, crop=cfg.crop, split=split)
    train_a, test_a = load_domain("thumbs", n=cfg.num_a, **common)
    train_b, test_b = load_domain("faces", n=cfg.num_b, **common)
    if cfg.data_dir is not None:
        return TranslationData(train_a, train_b, test_a, test_b, None, None)
    truth, marks = paired_truth(cfg.image_size, cfg.num_test, cfg.data_seed, progress=progress, split=split)
    # the held-out anime faces, as photos: G_B2A's ground truth
    truth_a, _ = render_set("photo", cfg.num_test, cfg.image_size, seed=cfg.data_seed,
                            start=SPLIT_START[split]["faces"], progress=progress)
    return TranslationData(train_a, train_b, test_a, test_b, truth, marks, truth_a)


def paired_truth(size: int, n: int, data_seed: int = 0, progress: bool = True,
                 split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """The anime renderings (and landmarks) of the held-out synthetic photos of ``split``: the translation's ground
    truth."""
    return render_set("anime", n, size, seed=data_seed, start=SPLIT_START[check_split(split)]["thumbs"],
                      progress=progress)


def dataset_table(dcgan_cfg, translation_cfg) -> tuple[list[str], list[list]]:
    """Table 1 as configured: each dataset's name, category, the report's count and the count used here.

    A real folder's files are counted, not decoded: "here" is what the profile asks for (training plus
    held-out images), or the folder's image files when it holds fewer.
    """
    columns = ["name", "category", "samples (report)", "samples (here)", "source here"]
    rows = []
    for domain, cfg, n in (("anime", dcgan_cfg, dcgan_cfg.num_train),
                           ("thumbs", translation_cfg, translation_cfg.num_a),
                           ("faces", translation_cfg, translation_cfg.num_b)):
        name, category, report_count = REPORT_DATASETS[domain]
        if cfg.data_dir is None:
            here, source = n + cfg.num_test, f"synthetic, {STYLE_OF[domain]} style"
        else:
            folder = domain_folder(cfg.data_dir, domain)
            files = count_images(folder)
            here, source = min(n + cfg.num_test, files), f"{folder} ({files:,} image files)"
        rows.append([name, category, report_count, here, source])
    return columns, rows


def example_images(cfg, n: int = 16, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """``n`` examples of Thumbs (A) and of Faces (B) at ``size`` pixels (Figure 1); from real folders only
    about ``n`` files each are decoded (the first of the seeded pick the training uses)."""
    common = dict(size=size, n=n, data_dir=cfg.data_dir, data_seed=cfg.data_seed, dedupe=cfg.dedupe,
                  progress=False, crop=getattr(cfg, "crop", "auto"))
    photos, _ = load_domain("thumbs", **common)
    anime, _ = load_domain("faces", **common)
    return photos.images[:n], anime.images[:n]


def landmark_figure_data(size: int = 128, n: int = 8, data_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Held-out photos then their anime truths, (2n, S, S, 3), with landmarks (2n, 5, 2)."""
    photos, marks = render_set("photo", n, size, seed=data_seed, start=INDEX_OFFSET["test"], progress=False)
    truth, _ = paired_truth(size, n, data_seed, progress=False)
    return np.concatenate([photos, truth]), np.concatenate([marks, marks])
