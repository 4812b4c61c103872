"""Offline quality measures (C2ST, diversity, spectral distance of luma and colour) move the right way on made-up
cases.

Every case is built from synthetic avatars: a real set, a second real set (the floor), and corrupted copies of a
third set (never of the reference set itself, which a classifier could match image by image).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from animelib.data.synthetic import render_set
from animelib.metrics import (
    c2st_accuracy,
    diversity_ratio,
    format_with_floor,
    quality_measures,
    radial_power_spectrum,
    spectral_distance,
)

N = 400


@pytest.fixture(scope="module")
def sets() -> dict[str, np.ndarray]:
    real, _ = render_set("anime", N, 64, start=9_400_000, progress=False)  # (N, 64, 64, 3)
    other, _ = render_set("anime", N, 64, start=9_410_000, progress=False)
    base, _ = render_set("anime", N, 64, start=9_420_000, progress=False)
    rng = np.random.default_rng(0)
    face = base[0].astype(np.float32)
    gains, offsets = rng.uniform(0.5, 1.5, (N, 1, 1, 3)), rng.uniform(-40, 40, (N, 1, 1, 3))
    # the uneven overlap of a stride-2 transposed convolution: every other pixel of every other row is brighter
    y, x = np.indices((64, 64))
    checker = ((y % 2) * (x % 2) * 2 - 0.5)[None, :, :, None] * 16  # (1, 64, 64, 1): -8 or +24 levels
    # colour confetti: per-pixel noise along the Cb and Cr axes (RGB directions that leave the BT.601 luma alone)
    noise = rng.normal(0, 12, base.shape[:3] + (2,))
    confetti = noise[..., :1] * [0, -0.344136, 1.772] + noise[..., 1:] * [1.402, -0.714136, 0]
    return {
        "real": real, "other": other, "base": base,
        "collapsed": np.clip(face[None] * gains + offsets, 0, 255).astype(np.uint8),  # one face, many colours
        "blurred": np.stack([cv2.GaussianBlur(x, (0, 0), 1.0) for x in base]),
        "checkered": np.clip(base.astype(np.int16) + checker, 0, 255).astype(np.uint8),
        "speckled": np.clip(base.astype(np.int16) + rng.integers(-40, 41, base.shape), 0, 255).astype(np.uint8),
        "confetti": np.clip(base + confetti, 0, 255).round().astype(np.uint8),
    }


def test_real_against_real_sits_at_the_floor(sets):
    c2st = c2st_accuracy(sets["real"], sets["other"])
    assert abs(c2st["accuracy"] - 0.5) < 0.1
    assert c2st["n_test"] == 2 * N  # every image tested once (cross-validated)
    assert abs(diversity_ratio(sets["other"], sets["real"]) - 1) < 0.05
    assert spectral_distance(sets["other"], sets["real"]) < 0.05


def test_collapse_lowers_the_diversity_ratio_even_in_many_colours(sets):
    # the same face under random per-channel gains and offsets: raw pixels differ, structure does not
    assert diversity_ratio(sets["collapsed"], sets["real"]) < 0.3
    assert diversity_ratio(sets["base"], sets["real"]) > 0.9


def test_blur_raises_the_spectral_distance_and_is_told_apart(sets):
    floor = spectral_distance(sets["base"], sets["real"])
    blurred = spectral_distance(sets["blurred"], sets["real"])
    assert blurred > 10 * floor and blurred > 0.5
    spectrum_real, spectrum_blurred = radial_power_spectrum(sets["real"]), radial_power_spectrum(sets["blurred"])
    assert (spectrum_blurred[-10:] < spectrum_real[-10:]).all()  # blur takes power from the high rings
    assert c2st_accuracy(sets["real"], sets["blurred"])["accuracy"] > 0.9


@pytest.mark.parametrize("kind", ["checkered", "speckled"])
def test_checkerboard_and_speckle_raise_the_high_rings(sets, kind):
    floor = spectral_distance(sets["base"], sets["real"])
    assert spectral_distance(sets[kind], sets["real"]) > 3 * floor  # a checkerboard lives in the Nyquist ring only
    spectrum_real, spectrum = radial_power_spectrum(sets["real"]), radial_power_spectrum(sets[kind])
    assert spectrum[-1] > 1.5 * spectrum_real[-1]  # the corner ring: the (32, 32) checkerboard frequency


def test_colour_confetti_raises_the_colour_spectral_distance_and_not_the_luma_one(sets):
    floor = spectral_distance(sets["base"], sets["real"], "chroma")
    assert floor < 0.1
    assert spectral_distance(sets["confetti"], sets["real"], "chroma") > 5 * floor
    assert spectral_distance(sets["confetti"], sets["real"]) < 2 * spectral_distance(sets["base"], sets["real"]) + 0.02
    high = slice(20, 32)  # rings of 21-32 cycles per image: where pixel-sized noise puts its power
    confetti, real = radial_power_spectrum(sets["confetti"], "chroma"), radial_power_spectrum(sets["real"], "chroma")
    assert (confetti[high] > 2 * real[high]).all()
    with pytest.raises(ValueError, match="channels='hue' is not"):
        spectral_distance(sets["base"], sets["real"], "hue")


def test_c2st_is_seeded_and_leaves_the_global_rng_alone(sets):
    state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    first = c2st_accuracy(sets["real"][:100], sets["other"][:100], seed=3)
    assert torch.equal(state, torch.get_rng_state()) and (np_state == np.random.get_state()[1]).all()
    assert first == c2st_accuracy(sets["real"][:100], sets["other"][:100], seed=3)
    assert first != c2st_accuracy(sets["real"][:100], sets["other"][:100], seed=4)  # another pick of folds


def test_c2st_tells_photos_from_anime_and_a_copied_photo_or_pasted_noise_from_anime():
    """The identity row of a translation (the photos themselves) and two made-up translations: each is told from real
    anime almost always, while a second real anime set sits near 0.5."""
    anime, _ = render_set("anime", 128, 64, start=9_430_000, progress=False)
    other, _ = render_set("anime", 128, 64, start=9_440_000, progress=False)
    photos, _ = render_set("photo", 128, 64, start=9_450_000, progress=False)
    noise = np.random.default_rng(0).integers(0, 256, photos.shape, dtype=np.uint8)
    pasted = photos.copy()
    pasted[:, 16:48, 16:48] = noise[:, 16:48, 16:48]  # a square of noise pasted on each photo
    for fake in (photos, noise, pasted):
        assert c2st_accuracy(anime, fake)["accuracy"] >= 0.95
    assert abs(c2st_accuracy(anime, other)["accuracy"] - 0.5) < 0.12
    at_128 = np.stack([cv2.resize(x, (128, 128), interpolation=cv2.INTER_CUBIC) for x in photos])
    assert c2st_accuracy(anime, at_128)["accuracy"] >= 0.95  # larger images are read at 64 px


def test_quality_measures_report_each_measure_with_its_floor(sets):
    measures = quality_measures(sets["collapsed"], sets["real"], floor_real=sets["other"])
    assert measures["diversity"] < 0.3 < 0.9 < measures["diversity_floor"]
    assert measures["spectral"] > 3 * measures["spectral_floor"]
    assert measures["colour_spectral_floor"] < 0.1 and "colour_spectral" in measures
    assert measures["c2st"] > 0.9 and abs(measures["c2st_floor"] - 0.5) < 0.1
    assert format_with_floor(measures, "spectral").startswith(f"{measures['spectral']:.3f} (floor ")
    halves = quality_measures(sets["collapsed"], sets["real"])  # floor from the two halves of real
    assert halves["n_real"] == N and abs(halves["diversity_floor"] - 1) < 0.05


@pytest.mark.parametrize("bad", [np.zeros((4, 64, 64), np.uint8), np.zeros((4, 64, 64, 3), np.float32),
                                 np.zeros((1, 64, 64, 3), np.uint8)])
def test_bad_input_is_a_clear_error(sets, bad):
    with pytest.raises(ValueError, match="uint8 images|at least 2"):
        quality_measures(bad, sets["real"])


def test_spectral_distance_needs_images_of_one_size(sets):
    with pytest.raises(ValueError, match="differ in size"):
        spectral_distance(sets["real"][:, :32, :32], sets["real"])


def test_face_found_sees_drawn_faces_and_not_photos_or_noise():
    """animeface as an external judge: drawn faces found, none in the photos (the identity row) or in noise; the
    photo detector the other way round."""
    from animelib.metrics import face_found
    anime, _ = render_set("anime", 24, 64, start=9_460_000, progress=False)
    photos, _ = render_set("photo", 24, 64, start=9_460_000, progress=False)
    noise = np.random.default_rng(0).integers(0, 256, photos.shape, dtype=np.uint8)
    assert face_found(anime).mean() >= 0.9
    assert face_found(photos).mean() <= 0.05 and face_found(noise).sum() == 0
    assert face_found(photos, "photo").mean() >= 0.6 > face_found(noise, "photo").mean()
