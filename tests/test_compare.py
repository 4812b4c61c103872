"""The verdicts on the report's claims follow the numbers and their intervals (hand-made per-image values)."""

from types import SimpleNamespace

import numpy as np
import pytest

from animelib import compare
from animelib.compare import Translations
from animelib.stats import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED

RNG = np.random.default_rng(0)
N = 64


def translations(name, ssim, input_ssim, l1=0.2, noise=0.02) -> Translations:
    """Per-image values around the given means, with a little noise (the same images for every model)."""
    jitter = lambda mean: mean + noise * RNG.standard_normal(N)  # noqa: E731
    return Translations(name, np.zeros((N, 8, 8, 3), np.uint8),
                        per_image={"ssim": jitter(ssim), "input_ssim": jitter(input_ssim), "l1": jitter(l1)})


def test_detail_claim_needs_both_halves_with_intervals():
    cycle = translations("CycleGAN", ssim=0.40, input_ssim=0.30)
    kept_and_worse = compare.detail_finding(cycle, translations("CartoonGAN", ssim=0.30, input_ssim=0.60))
    assert kept_and_worse.verdict == SUPPORTED and "[" in kept_and_worse.measured
    assert compare.detail_finding(cycle, translations("CartoonGAN", 0.50, 0.60)).verdict == NOT_SUPPORTED
    same = compare.detail_finding(cycle, translations("CartoonGAN", 0.40, 0.30, noise=0.2))
    assert same.verdict == INCONCLUSIVE  # the intervals include zero


def test_transfer_claim_reads_the_primary_metric():
    cycle = translations("CycleGAN", ssim=0.45, input_ssim=0.3)
    assert compare.transfer_finding(cycle, translations("CartoonGAN", 0.35, 0.6)).verdict == SUPPORTED
    assert compare.transfer_finding(cycle, translations("CartoonGAN", 0.55, 0.6)).verdict == NOT_SUPPORTED
    no_truth = Translations("CycleGAN", cycle.outputs, {"input_ssim": cycle.per_image["input_ssim"]})
    assert compare.transfer_finding(no_truth, no_truth).verdict == INCONCLUSIVE


def test_reconstruction_claim_against_its_tolerance():
    images = RNG.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)
    assert compare.reconstruction_finding(images, images.copy()).verdict == SUPPORTED
    noisy = np.clip(images + RNG.integers(-90, 91, images.shape), 0, 255).astype(np.uint8)
    assert compare.reconstruction_finding(images, noisy).verdict == NOT_SUPPORTED


def test_colourful_claim_pairs_each_translation_with_its_truth():
    grey = np.repeat(RNG.integers(60, 200, (N, 16, 16, 1), dtype=np.uint8), 3, axis=-1)  # textured, no colour
    vivid = grey.copy()
    vivid[:, ::2, :, 0] = 250  # red stripes: colourful
    data = SimpleNamespace(paired=True, test_b_true=grey, test_b=SimpleNamespace(images=grey))
    loud = compare.measure_translations("CycleGAN", vivid, SimpleNamespace(**vars(data), test_a=SimpleNamespace(
        images=grey), test_landmarks=None))
    assert compare.colourful_finding(loud, data).verdict == SUPPORTED
    quiet = compare.measure_translations("CycleGAN", grey, SimpleNamespace(**vars(data), test_a=SimpleNamespace(
        images=grey), test_landmarks=None))
    assert compare.colourful_finding(quiet, data).verdict == INCONCLUSIVE  # the same colourfulness: zero difference


def test_identity_claim_compares_the_distance_to_the_input_with_the_distance_to_the_truth():
    photo = RNG.integers(0, 256, (N, 16, 16, 3), dtype=np.uint8)
    truth = RNG.integers(0, 256, (N, 16, 16, 3), dtype=np.uint8)
    data = SimpleNamespace(paired=True, test_a=SimpleNamespace(images=photo), test_b_true=truth,
                           test_b=SimpleNamespace(images=truth), test_landmarks=None)
    copies = compare.measure_translations("CycleGAN", photo.copy(), data)  # G_A2B(A) = A, as sampled
    assert compare.identity_map_finding(copies, data).verdict == SUPPORTED
    drawn = compare.measure_translations("CycleGAN", truth.copy(), data)  # G_A2B(A) = the anime truth
    assert compare.identity_map_finding(drawn, data).verdict == NOT_SUPPORTED


def history_of(**series):
    n = len(next(iter(series.values())))
    return [{"step": i + 1, **{k: float(v[i]) for k, v in series.items()}} for i in range(n)]


def test_loss_claims_read_trends_and_levels_with_block_intervals():
    rng = np.random.default_rng(3)  # its own draws: the verdicts do not depend on which tests ran before
    steps = np.arange(500)
    rising = 0.2 + 0.002 * steps + 0.05 * rng.standard_normal(500)
    flat = 0.5 + 0.05 * rng.standard_normal(500)
    assert compare.gan_losses_finding(history_of(loss_gan_A2B=rising, loss_gan_B2A=rising)).verdict == SUPPORTED
    assert compare.gan_losses_finding(history_of(loss_gan_A2B=flat, loss_gan_B2A=flat)).verdict == INCONCLUSIVE
    tiny = np.abs(0.005 * rng.standard_normal(500))
    assert compare.discriminator_finding(history_of(loss_D_A=tiny, loss_D_B=tiny)).verdict == SUPPORTED
    assert compare.discriminator_finding(history_of(loss_D_A=flat, loss_D_B=flat)).verdict == NOT_SUPPORTED
    gets_upper_hand = history_of(loss_G=rising, loss_D=1.5 - 0.002 * steps)
    assert compare.loss_trend_finding(gets_upper_hand).verdict == SUPPORTED


def test_the_gan_loss_trend_leaves_out_an_identity_warm_up():
    rng = np.random.default_rng(4)
    # a warm-up epoch of 100 steps (D untrained: GAN losses high), then 400 flat adversarial steps
    gan = np.concatenate([np.full(100, 0.1), 0.5 + 0.05 * rng.standard_normal(400)])
    history = [{**r, "epoch": 1 if r["step"] <= 100 else 2} for r in history_of(loss_gan_A2B=gan, loss_gan_B2A=gan)]
    assert compare.gan_losses_finding(history).verdict == SUPPORTED  # the warm-up's low start reads as a rise
    assert compare.gan_losses_finding(history, warmup_epochs=1).verdict == INCONCLUSIVE


def test_ablation_table_says_better_worse_or_inconclusive():
    base = translations("CycleGAN", ssim=0.40, input_ssim=0.3)
    better = translations("CycleGAN", ssim=0.50, input_ssim=0.3)
    columns, rows, lines = compare.ablation_table({"CycleGAN": {"baseline": base, "+landmark": better}})
    assert columns[:3] == ["model", "variant", "SSIM to truth"] and rows[0][:2] == ["CycleGAN", "baseline"]
    assert rows[1][2].endswith("better") and "landmark error" not in lines[0]  # only the measures it has


def test_table2_cells_show_the_seed_spread_and_floors():
    columns, rows = compare.table2({"CycleGAN": [{"ssim": 0.5, "spectral": 0.08, "spectral_floor": 0.006},
                                                 {"ssim": 0.6, "spectral": 0.10, "spectral_floor": 0.006}]},
                                   {"CycleGAN": "640 G updates, 8 epochs"})
    cells = dict(zip(columns, rows[0], strict=True))
    assert cells["SSIM to truth"] == "0.550 ± 0.071" and cells["spectral dist."] == "0.090 ± 0.014 (floor 0.006)"
    assert cells["budget"] == "640 G updates, 8 epochs" and cells["FID"] == "n/a"


def test_two_recipes_side_by_side_with_the_measures_asked_for():
    from animelib import plots
    results = {"report's recipe": [{"spectral": 0.16, "spectral_floor": 0.006, "l1": 0.2}],
               "quick profile": [{"spectral": 0.065, "spectral_floor": 0.006, "l1": 0.1}]}
    columns, rows = compare.table2(results, {}, keys=("spectral",))
    assert columns == ["model", "budget", "spectral dist."]
    assert rows == [["report's recipe", "-", "0.160 (floor 0.006)"], ["quick profile", "-", "0.065 (floor 0.006)"]]
    images = {name: np.full((8, 16, 16, 3), 40 * i, np.uint8) for i, name in enumerate(results)}
    fig = plots.recipes_figure(images, 4, columns, rows, title="two recipes")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == list(results) and len(fig.axes) == 3  # one panel per recipe, then the table
    texts = {cell.get_text().get_text() for cell in fig.axes[2].tables[0].get_celld().values()}
    assert {"spectral dist.", "0.160 (floor 0.006)", "quick profile"} <= texts


@pytest.mark.parametrize(("verdicts", "combined"), [([SUPPORTED, SUPPORTED], SUPPORTED),
                                                    ([SUPPORTED, INCONCLUSIVE], INCONCLUSIVE),
                                                    ([SUPPORTED, NOT_SUPPORTED], NOT_SUPPORTED)])
def test_a_claim_of_two_parts_holds_only_when_both_do(verdicts, combined):
    assert compare.combine(verdicts) == combined


def test_interval_text_reads_floating_point_residue_as_zero():
    assert compare.interval_text(-8.67e-19, -0.0067, 0.0067) == "+0 [-0.0067, +0.0067]"
    assert compare.interval_text(0.0342, 0.0211, 0.0473) == "+0.0342 [+0.0211, +0.0473]"
    assert compare.interval_text(-3e-5, -4e-5, -2e-5) == "-3e-05 [-4e-05, -2e-05]"  # small, but not residue


def test_dcgan_claim_needs_samples_free_of_colour_confetti_too():
    from animelib.data.synthetic import render_set

    real, _ = render_set("anime", 192, 64, start=9_500_000, progress=False)
    samples, _ = render_set("anime", 192, 64, start=9_510_000, progress=False)
    clean = compare.dcgan_finding(samples, real, n_boot=50)
    assert clean.verdict == SUPPORTED and "colour spectral distance" in clean.measured
    # per-pixel noise along Cb and Cr only: the brightness spectrum stays put, the colour spectrum does not
    noise = np.random.default_rng(1).normal(0, 12, samples.shape[:3] + (2,))
    confetti = noise[..., :1] * [0, -0.344136, 1.772] + noise[..., 1:] * [1.402, -0.714136, 0]
    noisy = np.clip(samples + confetti, 0, 255).round().astype(np.uint8)
    assert compare.dcgan_finding(noisy, real, n_boot=50).verdict == NOT_SUPPORTED
