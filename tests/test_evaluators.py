"""Evaluation-only networks (smoke budget), weights identity, bootstrap intervals and verdicts, per-image metrics."""

import os

import numpy as np
import pytest
import torch

from animelib import metrics, stats
from animelib.data import labels as lb
from animelib.data.synthetic.attributes import EYE_COLORS, NATURAL_HAIR, VIVID_HAIR, sample_attributes
from animelib.errors import ConfigError
from animelib.nets import evaluators as ev
from animelib.nets import frozen


def test_colour_classes_of_the_renderer_palettes():
    hair = [lb.HAIR_COLOURS[lb.hair_colour_class(c)] for c in NATURAL_HAIR + VIVID_HAIR]
    assert hair == ["dark", "dark", "brown", "brown", "blonde/orange", "pale", "brown", "pale",  # natural
                    "red/pink", "blue", "blue", "purple", "green", "red/pink", "pale", "blonde/orange", "blue",
                    "blonde/orange"]
    eyes = [lb.EYE_COLOURS[lb.eye_colour_class(c)] for c in EYE_COLORS]
    assert eyes == ["brown/amber", "brown/amber", "brown/amber", "green", "blue", "blue", "grey", "purple",
                    "red/pink", "red/pink", "brown/amber"]


def test_attribute_labels_cover_every_class():
    labels = lb.attribute_labels(sample_attributes(0, 7))
    assert set(labels) == set(lb.ATTRIBUTES) and all(isinstance(v, int) for v in labels.values())
    table = lb.attribute_table(600, 7_000_000)
    classes = lb.attribute_classes()
    for name in lb.ATTRIBUTES:
        assert table[name].shape == (600,)
        assert set(np.unique(table[name])) == set(range(len(classes[name]))), name


@pytest.fixture(scope="module")
def landmark_evaluator():
    return ev.load_landmark_evaluator("smoke", progress=False)


@pytest.fixture(scope="module")
def attribute_evaluator():
    return ev.load_attribute_evaluator("smoke", progress=False)


def test_landmark_evaluator_beats_the_mean_face(landmark_evaluator):
    images, marks, _ = frozen.anime_faces(64, ev.HELD_OUT_OFFSET + 1000, progress=False)
    pred = ev.predict_landmarks(landmark_evaluator, images.permute(0, 2, 3, 1).numpy())  # (64, 5, 2) at 64 px
    errors = metrics.per_image_landmark_error(pred, marks)
    _, train_marks, _ = frozen.anime_faces(400, ev.TRAIN_OFFSET, progress=False)
    mean_face = np.broadcast_to(train_marks.mean(0).numpy(), marks.shape)  # guessing the average face
    assert errors.mean() < 0.6 * metrics.per_image_landmark_error(mean_face, marks).mean()
    assert landmark_evaluator.held_out["landmark_error_anime_px"] < 1.5  # measured 0.9 px at 64 px (smoke)
    # the evaluator answers in pixels of its input, whatever the size (translations at 32, 64 or 128 px)
    small = torch.nn.functional.interpolate(images.float() / 127.5 - 1, size=32, mode="area")
    assert np.abs(landmark_evaluator(small).numpy() * 2 + 0.5 - pred).mean() < 0.05


def test_attribute_evaluator_is_clearly_above_chance(attribute_evaluator):
    held_out = attribute_evaluator.held_out
    assert held_out["accuracy"]["mean"] > held_out["chance"]["mean"] + 0.25  # measured 0.75 vs 0.32 (smoke)
    assert held_out["accuracy"]["hair_colour"] > held_out["chance"]["hair_colour"] + 0.3
    # preservation of ground truth equals the ceiling; shuffled labels (another face's) fall well below it
    images, _, labels = frozen.anime_faces(128, ev.HELD_OUT_OFFSET, progress=False)
    images = images.permute(0, 2, 3, 1).numpy()
    same = ev.attribute_preservation(images, labels, attribute_evaluator)
    assert same == pytest.approx(held_out["accuracy"], abs=0.01)  # the same 128 faces
    shuffled = {k: np.roll(v.numpy(), 1) for k, v in labels.items()}
    assert ev.attribute_preservation(images, shuffled, attribute_evaluator)["mean"] < same["mean"] - 0.1
    per_image = ev.attribute_correct(images, labels, attribute_evaluator)
    assert per_image["mean"].shape == (128,) and per_image["mean"].mean() == pytest.approx(same["mean"], abs=1e-4)


def test_evaluators_are_cached_and_reused(landmark_evaluator, monkeypatch):
    path = landmark_evaluator.weights_file
    assert os.path.dirname(path).endswith("evaluators")
    assert landmark_evaluator.weights_sha256 == frozen.file_sha256(path)
    mtime = os.stat(path).st_mtime_ns
    monkeypatch.setattr(ev, "train_landmark_evaluator", lambda *a, **k: pytest.fail("trained again"))
    again = ev.load_landmark_evaluator("smoke", progress=False)
    assert os.stat(path).st_mtime_ns == mtime and again.weights_sha256 == landmark_evaluator.weights_sha256
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(),
                                                  landmark_evaluator.state_dict().values(), strict=True))
    assert not any(p.requires_grad for p in again.parameters())


def test_check_independent_by_weights_file(landmark_evaluator, attribute_evaluator, tmp_path, monkeypatch):
    from animelib.nets import landmarks

    monkeypatch.setenv("ANIMELIB_CACHE", str(tmp_path))  # a throw-away regressor, not the session's
    monkeypatch.setattr(landmarks, "train_regressor", lambda *_, **__: (landmarks.LandmarkRegressor(), 9.9))
    regressor = landmarks.load_regressor(progress=False)
    assert regressor.weights_sha256 == frozen.file_sha256(regressor.weights_file)
    evaluators = {"landmark evaluator": landmark_evaluator, "attribute evaluator": attribute_evaluator}
    frozen.check_independent(evaluators, {"landmark loss regressor": regressor})  # independent: no error
    with pytest.raises(frozen.CircularEvaluationError, match="landmark regressor.*landmark loss"):
        frozen.check_independent({"landmark regressor": regressor}, {"landmark loss": regressor})
    copy = tmp_path / "copy.pt"  # the same weights under another name are caught by their hash
    copy.write_bytes(open(landmark_evaluator.weights_file, "rb").read())
    impostor = frozen.record_weights(torch.nn.Linear(1, 1), copy)
    with pytest.raises(frozen.CircularEvaluationError, match="share weights"):
        frozen.check_independent(evaluators, [impostor])
    with pytest.raises(frozen.CircularEvaluationError, match="records no weights file"):
        frozen.check_independent(evaluators, {"random net": torch.nn.Linear(1, 1)})


def test_paired_bootstrap_and_verdicts():
    rng = np.random.default_rng(1)
    base = rng.normal(0.5, 0.1, 64)
    better = base + 0.05 + rng.normal(0, 0.01, 64)  # a clear, consistent improvement
    d, low, high = stats.paired_bootstrap(better, base)
    assert 0 < low < d < high and d == pytest.approx((better - base).mean())
    assert stats.verdict(low, high) == "supported"
    assert stats.verdict(low, high, higher_is_better=False) == "not supported"
    assert stats.verdict(low, high, tolerance=0.1) == "not supported"  # reliably below the tolerance
    same = stats.paired_bootstrap(base, base)
    assert same == (0.0, 0.0, 0.0) and stats.verdict(same.low, same.high) == "inconclusive"
    noisy = base + rng.normal(0, 0.1, 64)  # no real difference, much noise
    i = stats.paired_bootstrap(noisy, base, seed=3)
    assert i.low < 0 < i.high and stats.verdict(i.low, i.high) == "inconclusive"
    assert stats.paired_bootstrap(noisy, base, seed=3) == i  # deterministic for a seed
    assert stats.paired_bootstrap(noisy, base, seed=4) != i
    narrow = stats.paired_bootstrap(noisy, base, ci=0.5)
    assert i.low < narrow.low < narrow.high < i.high
    assert stats.equivalence_verdict(-0.01, 0.02, 0.05) == "supported"
    assert stats.equivalence_verdict(0.06, 0.1, 0.05) == "not supported"
    assert stats.equivalence_verdict(0.01, 0.1, 0.05) == "inconclusive"
    with pytest.raises(ConfigError, match="same images"):
        stats.paired_bootstrap(base, base[:10])


def test_paired_bootstrap_over_seeds_then_images_holds_the_spread_between_seeds():
    """Three seeds that agree on every image give the one-seed interval's width; seeds that disagree (one gains,
    one loses) widen it past zero although each seed alone is clear-cut."""
    rng = np.random.default_rng(2)
    base = rng.normal(0.5, 0.1, 64)
    gain = base + 0.05 + rng.normal(0, 0.01, 64)
    one = stats.paired_bootstrap(gain, base)
    agree = stats.paired_bootstrap(np.stack([gain] * 3), base)  # one row of b pairs with every row of a
    assert agree.difference == pytest.approx(one.difference) and agree.low > 0
    split = np.stack([gain, base - 0.05 + rng.normal(0, 0.01, 64), gain])  # the second seed got worse
    i = stats.paired_bootstrap(split, np.stack([base] * 3))
    assert i.low < 0 < i.high and stats.verdict(i.low, i.high) == "inconclusive"
    assert stats.paired_bootstrap(split[0], base).low > 0  # seed 0 alone would have said "supported"
    with pytest.raises(ConfigError, match="same images and seeds"):
        stats.paired_bootstrap(split, np.stack([base] * 2))


def test_three_seeds_that_agree_in_sign_but_spread_widely_stay_inconclusive():
    """Three seeds gaining 0.01, 0.03 and 0.05 on every image: resampling the three seeds alone gives about their
    range, above zero, but three seeds say little about a fourth, and the t interval on the per-seed gains
    (0.03 +- 4.30 * 0.02 / sqrt(3)) reaches below zero."""
    assert stats.t_quantile(0.975, 2) == pytest.approx(4.303, abs=1e-3)
    assert stats.t_quantile(0.975, 1) == pytest.approx(12.706, abs=1e-3)
    assert stats.t_quantile(0.975, 30) == pytest.approx(2.042, abs=1e-3)
    base = np.random.default_rng(3).normal(0.5, 0.1, 64)
    spread = np.stack([base + gain for gain in (0.01, 0.03, 0.05)])
    i = stats.paired_bootstrap(spread, base)
    assert i.difference == pytest.approx(0.03)
    assert i.low < 0 and i.low == pytest.approx(0.03 - 4.303 * 0.02 / np.sqrt(3), abs=1e-3)
    assert stats.verdict(i.low, i.high) == "inconclusive"
    close = stats.paired_bootstrap(np.stack([base + gain for gain in (0.029, 0.03, 0.031)]), base)
    assert close.low > 0 and stats.verdict(close.low, close.high) == "supported"
    with pytest.raises(ConfigError, match="at least 2"):
        stats.seed_t_interval([0.1])


def test_stacked_seeds_feed_the_claims_with_every_seed():
    from types import SimpleNamespace

    from animelib import compare
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    truth = rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    data = SimpleNamespace(paired=True, test_a=SimpleNamespace(images=photo), test_b_true=truth,
                           test_b=SimpleNamespace(images=truth), test_landmarks=None)
    seeds = [compare.measure_translations("CycleGAN", x, data) for x in (photo.copy(), truth.copy(), photo.copy())]
    stacked = compare.stack_seeds(seeds)
    assert stacked.per_image["l1"].shape == (3, 8) and stacked.outputs is seeds[0].outputs
    assert compare.identity_map_finding(seeds[0], data).verdict == "supported"  # the first seed copies its input
    assert compare.identity_map_finding(stacked, data).verdict == "inconclusive"  # the second drew the truth
    assert compare.stack_seeds(seeds[:1]) is seeds[0]


def test_per_image_metrics_agree_with_the_aggregates():
    from animelib.metrics import paired_metrics

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    per = metrics.per_image_paired(a, b)
    agg = paired_metrics(a, b)
    assert all(v.shape == (6,) for v in per.values())
    assert per["l1"].mean() == pytest.approx(agg["l1"], rel=1e-5)
    assert per["ssim"].mean() == pytest.approx(agg["ssim"], rel=1e-4)
    assert metrics.per_image_paired(a, a)["psnr"].min() == pytest.approx(100.0)
    assert per["psnr"][0] == pytest.approx(paired_metrics(a[:1], b[:1])["psnr"], rel=1e-5)
    marks = rng.uniform(0, 32, (6, 5, 2))
    shifted = marks + np.array([3.0, 4.0])
    assert metrics.per_image_landmark_error(shifted, marks) == pytest.approx(np.full(6, 5.0))
