"""The evaluation harness: FID/KID with an injected feature net, the offline path, memorisation, translation."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch
from torch import nn

from animelib.formatting import format_value
from animelib.metrics import (
    NA,
    evaluate_translation,
    fid_kid,
    inception,
    inception_available,
    nearest_neighbour_distance,
    nearest_neighbours,
)


def images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """Smooth random colour blobs (not white noise), (n, size, size, 3) uint8."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, 4, 4, 3)).astype(np.float32)
    big = torch.nn.functional.interpolate(torch.from_numpy(small).permute(0, 3, 1, 2), size=size, mode="bilinear")
    return big.permute(0, 2, 3, 1).round().clamp(0, 255).byte().numpy()


@pytest.fixture
def feature() -> nn.Module:
    """A small random but fixed feature network: (N, 3, H, W) in [0, 1] -> (N, 16)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 4, 4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()


@pytest.fixture
def fresh_memo():
    inception_available.cache_clear()
    yield
    inception_available.cache_clear()


def test_fid_kid_identical_sets_are_zero_and_shifted_sets_positive(feature):
    real = images(48)
    same = fid_kid(real, real.copy(), feature=feature)
    assert set(same) == {"fid", "kid_mean", "kid_std"}
    assert abs(same["fid"]) < 1e-6 and abs(same["kid_mean"]) < 1e-3
    brighter = np.clip(real.astype(int) + 50, 0, 255).astype(np.uint8)
    shifted = fid_kid(real, brighter, feature=feature)
    assert shifted["fid"] > 1e-3 > abs(same["fid"]) * 1000
    assert shifted["kid_mean"] > 10 * max(abs(same["kid_mean"]), 1e-6)
    assert fid_kid(real, brighter, feature=feature) == shifted  # fixed seed for KID's random subsets


def test_fid_equals_torchmetrics_compute():
    """Our symmetric-eigensolver FID reads torchmetrics' statistics and must agree with its own compute()."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    torch.manual_seed(0)
    for d, n in ((8, 40), (64, 30)):  # n < d: singular covariances too
        fid = FrechetInceptionDistance(feature=inception._Features(d))
        fid.update(torch.randn(n, d), real=True)
        fid.update(torch.randn(n, d) * 1.3 + 0.2, real=False)
        assert inception._fid(fid) == pytest.approx(float(fid.compute()), rel=1e-5)


def test_kid_subset_size_adapts_to_small_sets(feature):
    real, fake = images(10, seed=1), images(12, seed=2)
    result = fid_kid(real, fake, feature=feature)  # default subset size 1000 > 10 images: must shrink
    assert all(np.isfinite(result[k]) for k in ("fid", "kid_mean", "kid_std"))
    assert fid_kid(real, fake, feature=feature, subset_size=500)["kid_mean"] == pytest.approx(result["kid_mean"])
    with pytest.raises(ValueError, match="at least 2"):
        fid_kid(real[:1], fake, feature=feature)


def test_images_of_other_sizes_pass_to_the_injected_net_as_they_are(feature):
    result = fid_kid(images(8, size=64), images(8, size=64, seed=3), feature=feature)
    assert result["fid"] > 0


def test_offline_reports_na_and_says_so_once(fresh_memo, monkeypatch, capsys):
    monkeypatch.setenv("ANIMELIB_OFFLINE", "1")
    monkeypatch.setattr(inception, "_cached_inception", lambda: None)

    def no_network():
        raise AssertionError("offline: no download may be tried")

    monkeypatch.setattr(inception, "_download_inception", no_network)
    ok, why = inception_available()
    assert not ok and "offline" in why
    for _ in range(3):
        result = fid_kid(images(4), images(4, seed=1))
        assert result == {"fid": None, "kid_mean": None, "kid_std": None, "note": NA}
    said = [line for line in capsys.readouterr().err.splitlines() if NA in line]
    assert len(said) == 1, said
    assert format_value(result["fid"], na=NA) == "n/a (no Inception weights)"


def test_failed_download_is_caught(fresh_memo, monkeypatch, capsys):
    monkeypatch.setenv("ANIMELIB_OFFLINE", "0")
    monkeypatch.setattr(inception, "_cached_inception", lambda: None)

    def refused():
        raise urllib.error.URLError("connection refused")

    monkeypatch.setattr(inception, "_download_inception", refused)
    ok, why = inception_available()
    assert not ok and "could not be downloaded" in why and "connection refused" in why
    assert "n/a" in capsys.readouterr().err


def test_weights_in_the_cache_count_as_available(fresh_memo, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "weights-inception-2015-12-05-6726825d.pth").write_bytes(b"stand-in")
    ok, why = inception_available()
    assert ok and "cache" in why


def test_one_number_format_for_figures_and_report():
    assert format_value(None) == "n/a" and format_value(None, na=NA) == NA
    assert format_value(1.23456, 2) == "1.23" and format_value(1.23456) == "1.235"
    assert format_value(123.4) == "123" and format_value(12345) == "12,345" and format_value(True) == "True"
    assert format_value("-") == "-"


def test_nearest_neighbour_distance_tells_copies_from_new_images():
    train = images(60, size=16)
    held_out = images(20, size=16, seed=7)
    copies = nearest_neighbour_distance(train[:20], train, reference=held_out)
    new = nearest_neighbour_distance(images(20, size=16, seed=8), train, reference=held_out)
    assert copies["mean"] < 1e-6 and copies["min"] < 1e-6
    assert new["mean"] > 0.02 and new["median"] > 0.02
    assert copies["reference"]["mean"] > 0.02
    assert copies["ratio"] < 0.01 and 0.5 < new["ratio"] < 2
    assert nearest_neighbour_distance(train[:5], train)["reference"] is None


def test_nearest_neighbours_match_brute_force_across_chunks():
    train, samples = images(50, size=8, seed=1), images(9, size=8, seed=2)
    distances, index = nearest_neighbours(samples, train, batch=7)  # chunks that do not divide 50
    s = samples.reshape(9, -1).astype(np.float64) / 255
    t = train.reshape(50, -1).astype(np.float64) / 255
    full = np.sqrt(((s[:, None] - t[None]) ** 2).mean(-1))  # (9, 50)
    assert (index == full.argmin(1)).all()
    np.testing.assert_allclose(distances, full.min(1), atol=1e-5)
    # a tensor in [-1, 1] (N, 3, H, W) gives the same answer as the uint8 array
    tensor = torch.from_numpy(samples).permute(0, 3, 1, 2).float() / 127.5 - 1
    np.testing.assert_allclose(nearest_neighbours(tensor, train)[0], distances, atol=1e-5)


class FixedLandmarks(nn.Module):
    """A stand-in regressor that puts every landmark at (10, 10)."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.full((x.shape[0], 5, 2), 10.0) + 0 * self.dummy


def test_evaluate_translation_identity(feature):
    test_a = images(6)
    truth_marks = np.full((6, 5, 2), 10.0, dtype=np.float32)
    truth_marks[..., 0] += 3.0  # 3 pixels off in x from what the stand-in regressor says
    result = evaluate_translation(lambda x: x.copy(), test_a, truth=test_a, landmarks=truth_marks,
                                  regressor=FixedLandmarks(), real_b=test_a, feature=feature, batch_size=4)
    assert result["n"] == 6 and result["size"] == 32
    assert result["l1"] == 0 and result["ssim"] == pytest.approx(1.0) and result["psnr"] > 60
    assert result["identity_l1"] == 0
    assert result["landmark_error"] == pytest.approx(3.0) and result["landmark_error_truth"] == pytest.approx(3.0)
    assert abs(result["fid"]) < 1e-6


def test_evaluate_translation_scores_a_wrong_translation_worse(feature):
    test_a, truth = images(6), images(6, seed=5)
    inverted = evaluate_translation(lambda x: 255 - x, test_a, truth=truth)
    exact = evaluate_translation(lambda x: truth[: len(x)] if len(x) == 6 else x, test_a, truth=truth)
    assert exact["l1"] == 0 and inverted["l1"] > 0.1 and inverted["ssim"] < exact["ssim"]
    assert "fid" not in inverted and "landmark_error" not in inverted


def test_evaluate_translation_offline_fid_is_na(fresh_memo, monkeypatch):
    monkeypatch.setenv("ANIMELIB_OFFLINE", "1")
    monkeypatch.setattr(inception, "_cached_inception", lambda: None)
    result = evaluate_translation(lambda x: x, images(4), real_b=images(4, seed=1))
    assert result["fid"] is None and result["note"] == NA


def test_evaluate_translation_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match="same shape"):
        evaluate_translation(lambda x: x[:, :16], images(3), truth=images(3))


def test_evaluate_translation_takes_ready_outputs():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
    m = evaluate_translation(None, a, truth=a, outputs=a.copy())
    assert m["l1"] == 0 and m["ssim"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        evaluate_translation(None, a, truth=a, outputs=a[:3])
