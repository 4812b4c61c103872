"""The report's claims put against measured numbers, each with an interval and a verdict.

Every claim becomes a :class:`Finding`: what the report said (in our words), what was measured on held-out
data, and a verdict by one rule (:func:`animelib.stats.verdict`): "supported" only when the 95 % interval of
the measured difference lies wholly on the claimed side of zero (or of a stated tolerance), "not supported"
when it lies wholly on the other side, else "inconclusive". Differences between models are paired: the same
held-out images, resampled together (paired bootstrap). Quality, landmark and attribute numbers come from the
evaluation-only networks (:mod:`animelib.nets.evaluators`), never from a network a loss uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from animelib.data import HELD_OUT_START
from animelib.data.labels import attribute_table
from animelib.metrics import (
    colourfulness,
    diversity_ratio,
    face_found,
    fid_kid,
    per_image_landmark_error,
    per_image_paired,
    quality_floors,
    quality_measures,
    radial_power_spectra,
    radial_power_spectrum,
    roll_degrees,
    spectrum_distance,
)
from animelib.models import load_generator
from animelib.nets.evaluators import (
    attribute_correct,
    load_attribute_evaluator,
    load_landmark_evaluator,
    predict_landmarks,
)
from animelib.nets.frozen import budget_for
from animelib.nets.vgg import SYNTHETIC_NOTE
from animelib.runs import Run
from animelib.stats import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    block_bootstrap_mean,
    bootstrap_measure,
    paired_bootstrap,
    trend,
    verdict,
)
from animelib.utils import translate_images

RECONSTRUCTION_SSIM = 0.9  # "look exactly the same": SSIM of the reconstruction to its input at least this
NEAR_ZERO_LOSS = 0.05  # "the discriminator loss is nearly zero": below this (least squares; guessing gives 0.25)
ARTEFACT_FREE = 0.10  # spectral distances to real images at most this: no speckle, checkerboard, blur or confetti
NO_COLLAPSE = 0.8  # structure diversity (of the real images') at least this
MIN_HELD_OUT = 4  # set-level measures (spectra, diversity, C2ST) need at least this many images on each side
EARLY_SHARE = 0.8  # "well trained at a very early stage": this share of the improvement made by 20 % of the epochs


@dataclass(frozen=True)
class Finding:
    """One claim of the report, what was measured, and the verdict."""

    claim: str
    measured: str
    verdict: str

    def __str__(self) -> str:
        return f"{self.claim}: {self.verdict} ({self.measured})"


def too_few(claim: str, n: int, what: str) -> Finding | None:
    """An inconclusive finding saying why, when ``n`` images of ``what`` are too few for set-level measures."""
    if n >= MIN_HELD_OUT:
        return None
    return Finding(claim, f"{n} {what}: at least {MIN_HELD_OUT} are needed to measure this (a profile holds out "
                          "about a fifth of a small folder; give it more images)", INCONCLUSIVE)


def interval_text(difference: float, low: float, high: float, digits: int = 3) -> str:
    """``+0.034 [+0.021, +0.047]``: a difference and its 95 % interval (``digits`` significant digits, so small
    differences keep theirs). Floating-point residue (below 1e-12, e.g. the mean of differences that cancel) reads
    as 0."""
    difference, low, high = (0.0 if abs(v) < 1e-12 else v for v in (difference, low, high))
    return f"{difference:+.{digits}g} [{low:+.{digits}g}, {high:+.{digits}g}]"


def combine(verdicts: list[str]) -> str:
    """All parts of a claim must hold: supported when each is, not supported when any is not, else inconclusive."""
    if any(v == NOT_SUPPORTED for v in verdicts):
        return NOT_SUPPORTED
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


# --- translations of the held-out photos, measured per image ---------------------------------------------------

@dataclass
class Translations:
    """One model's translations of the held-out photos A, and per-image measurements of them (of one training
    seed, or of several stacked by :func:`stack_seeds`)."""

    name: str
    outputs: np.ndarray  # (N, H, W, 3) uint8, the first seed's
    per_image: dict[str, np.ndarray] = field(default_factory=dict)  # (N,) values per measure, (S, N) for S seeds
    summary: dict[str, Any] = field(default_factory=dict)  # set-level numbers (means, quality measures)


def stack_seeds(runs: list[Translations]) -> Translations:
    """One model's translations measured at several training seeds (same held-out inputs) as one
    :class:`Translations` whose per-image values are (seeds, images): the verdicts' bootstrap then resamples
    seeds and then images. The outputs and the set-level summary are the first seed's."""
    if len(runs) == 1:
        return runs[0]
    keys = set.intersection(*(set(t.per_image) for t in runs))
    return Translations(runs[0].name, runs[0].outputs, {k: np.stack([t.per_image[k] for t in runs]) for k in keys},
                        runs[0].summary)


def measure_seeds(name: str, run_dirs: list[Path], data, evaluators: dict | None = None,
                  labels: dict[str, np.ndarray] | None = None, device: str = "auto") -> list[Translations]:
    """One model's translations of the held-out photos by its photo-to-anime generator, measured at each of its
    runs (one per seed, first seed first): the notebooks' findings stack them (:func:`stack_seeds`), Table 2 lists
    each one's summary."""
    return [measure_translations(name, translate_images(load_generator(d, device=device), data.test_a.images),
                                 data, evaluators, labels) for d in run_dirs]


def measure_translations(name: str, outputs: np.ndarray, data, evaluators: dict | None = None,
                         labels: dict[str, np.ndarray] | None = None, floors: dict | None = None) -> Translations:
    """Per-image L1/PSNR/SSIM against the synthetic truth (when there is one) and SSIM to the input, landmark error
    and attribute preservation read by the evaluators, colourfulness; set-level quality against held-out B."""
    t = Translations(name, outputs)
    to_input = per_image_paired(outputs, data.test_a.images)
    t.per_image["input_ssim"], t.per_image["input_l1"] = to_input["ssim"], to_input["l1"]
    t.per_image["colourfulness"] = colourfulness(outputs)
    if data.paired:
        t.per_image.update(per_image_paired(outputs, data.test_b_true))
    if evaluators and data.test_landmarks is not None:
        marks = predict_landmarks(evaluators["landmarks"], outputs)
        t.per_image["landmark_error"] = per_image_landmark_error(marks, data.test_landmarks)
    if evaluators and labels is not None:
        t.per_image["attributes"] = attribute_correct(outputs, labels, evaluators["attributes"])["mean"]
    t.per_image["anime_face"] = face_found(outputs, "anime")
    t.summary = {k: float(v.mean()) for k, v in t.per_image.items()}
    t.summary["anime_face_real"] = real_face_rate(data)
    if min(len(outputs), len(data.test_b.images)) >= MIN_HELD_OUT:
        t.summary.update(quality_measures(outputs, data.test_b.images, floors=floors))
    return t


def real_face_rate(data) -> float:
    """The share of the held-out real anime B in which animeface finds a face: the ceiling of the translations'
    (measured once per data set)."""
    if getattr(data, "anime_face_real", None) is None:
        data.anime_face_real = float(face_found(data.test_b.images, "anime").mean())
    return data.anime_face_real


def dcgan_summaries(samples: list[np.ndarray], real: np.ndarray, floor_real: np.ndarray | None = None,
                    device: str = "cpu", fid: bool = True) -> list[dict[str, Any]]:
    """Table 2's DCGAN rows, one per seed's (or recipe's) samples: against held-out real avatars (the test split),
    with the quality floors, FID where the Inception weights can be had (``fid``), and the share of samples in
    which animeface finds a face beside the real avatars' share. What depends on the real avatars alone is measured
    once."""
    if min(len(real), *(len(s) for s in samples)) < MIN_HELD_OUT:
        return [{} for _ in samples]
    floors = quality_floors(real, floor_real)
    real_face = float(face_found(real, "anime").mean())
    return [{**quality_measures(s, real, floors=floors), "fid": fid_kid(real, s, device=device)["fid"] if fid else None,
             "anime_face": float(face_found(s, "anime").mean()), "anime_face_real": real_face} for s in samples]


def paired_finding(a: np.ndarray, b: np.ndarray, higher_is_better: bool, tolerance: float = 0.0,
                   seed: int = 0) -> tuple[str, str]:
    """The verdict on "a is better than b" from per-image values, and the interval as text."""
    iv = paired_bootstrap(a, b, seed=seed)
    return verdict(iv.low, iv.high, tolerance, higher_is_better), interval_text(*iv)


# --- the translation claims ------------------------------------------------------------------------------------

def transfer_finding(cycle: Translations, cartoon: Translations) -> Finding:
    """'CycleGAN performs the best on image transferring': CycleGAN against CartoonGAN on the paired metrics."""
    claim = "CycleGAN performs the best on image transferring"
    if "ssim" not in cycle.per_image:
        return Finding(claim, "no ground truth on real data: only the quality measures of Table 2 compare them",
                       INCONCLUSIVE)
    parts, verdicts = [], []
    for key, label, higher in (("ssim", "SSIM to truth", True), ("l1", "L1 to truth", False),
                               ("landmark_error", "landmark error (px, evaluator)", False),
                               ("attributes", "attributes kept (evaluator)", True)):
        if key in cycle.per_image and key in cartoon.per_image:
            v, text = paired_finding(cycle.per_image[key], cartoon.per_image[key], higher)
            verdicts.append(v)
            parts.append(f"{label} CycleGAN - CartoonGAN {text}: {v}")
    return Finding(claim, "; ".join(parts), combine(verdicts[:1]) if verdicts else INCONCLUSIVE)


def detail_finding(cycle: Translations, cartoon: Translations) -> Finding:
    """'CartoonGAN tends to preserve image details, which results in a poorer performance': it keeps more of the
    input (SSIM to the photo) and scores worse against the truth (SSIM), both paired with CycleGAN."""
    claim = "CartoonGAN preserves image details, which results in a poorer performance"
    keeps, keeps_text = paired_finding(cartoon.per_image["input_ssim"], cycle.per_image["input_ssim"], True)
    measured = f"SSIM to the input photo, CartoonGAN - CycleGAN {keeps_text}"
    if "ssim" not in cartoon.per_image:
        return Finding(claim, measured + "; without ground truth the performance is not measured", INCONCLUSIVE)
    worse, worse_text = paired_finding(cartoon.per_image["ssim"], cycle.per_image["ssim"], False)
    return Finding(claim, f"{measured}; SSIM to the anime truth, CartoonGAN - CycleGAN {worse_text}",
                   combine([keeps, worse]))


def identity_map_finding(cycle: Translations, data) -> Finding:
    """'The generator behaves like an identity map': G_A2B(A) closer to its input than to the anime truth (L1)."""
    claim = "CycleGAN's generator behaves like an identity map"
    if "l1" not in cycle.per_image:
        return Finding(claim, "no ground truth on real data", INCONCLUSIVE)
    v, text = paired_finding(cycle.per_image["l1"], cycle.per_image["input_l1"], higher_is_better=True)
    return Finding(claim, f"L1 to the anime truth - L1 to the input photo {text} (positive: closer to the input)", v)


def reconstruction_finding(images: np.ndarray, reconstructed: np.ndarray) -> Finding:
    """'The origin images and the reconstructed ones look exactly the same': SSIM at least RECONSTRUCTION_SSIM."""
    ssim = per_image_paired(reconstructed, images)["ssim"]
    iv = paired_bootstrap(ssim, np.full_like(ssim, RECONSTRUCTION_SSIM))
    measured = (f"SSIM of G_B2A(G_A2B(A)) to A {ssim.mean():.3f}, minus {RECONSTRUCTION_SSIM} "
                f"{interval_text(*iv)}; L1 {per_image_paired(reconstructed, images)['l1'].mean():.3f}")
    return Finding("CycleGAN's reconstructions look exactly the same as the inputs", measured,
                   verdict(iv.low, iv.high, 0.0, True))


def colourful_finding(cycle: Translations, data) -> Finding:
    """'Translations of photos get a little cartoon style but too colourful': colourfulness above the truth's."""
    claim = "CycleGAN's translations of photos are too colourful"
    values, which = cycle.per_image["colourfulness"], "G_A2B(A)"
    real_b = colourfulness(data.test_b.images).mean()
    if not data.paired:
        return Finding(claim, f"colourfulness of {which} {values.mean():.1f} against real anime {real_b:.1f}; "
                              "no paired truth to compare image by image", INCONCLUSIVE)
    v, text = paired_finding(values, colourfulness(data.test_b_true), True)
    return Finding(claim, f"colourfulness (Hasler-Suesstrunk) of {which} - the anime truth {text}; "
                          f"G_A2B(A) {values.mean():.1f}, real anime B {real_b:.1f}", v)


def direction_finding(anime: np.ndarray, true_marks: np.ndarray, translated: np.ndarray, photo_truth: np.ndarray,
                      evaluator, tolerance: float = 1.0) -> Finding:
    """'The directions of the origin faces and the patched ones are not consistent' (anime -> photo): the head
    roll read from G_B2A(B) against B's exact roll, beyond what the evaluator reads from B's true photo rendering."""
    true_roll = roll_degrees(true_marks)
    off = np.abs(roll_degrees(predict_landmarks(evaluator, translated)) - true_roll)
    floor = np.abs(roll_degrees(predict_landmarks(evaluator, photo_truth)) - true_roll)
    v, text = paired_finding(off, floor, higher_is_better=True, tolerance=tolerance)
    return Finding("the face direction of G_B2A(B) does not match that of B",
                   f"roll error of G_B2A(B) {off.mean():.1f} deg - the evaluator's own on B's photo rendering "
                   f"{floor.mean():.1f} deg: {text} (tolerance {tolerance} deg)", v)


# --- claims read from the training histories -------------------------------------------------------------------

def _steps(history: list[dict], *keys: str, warmup_epochs: int = 0) -> np.ndarray:
    """(S,) the mean of ``keys`` at every training step that has them (pre-training steps have no GAN losses),
    leaving out the steps of the first ``warmup_epochs`` epochs (a warm-up, in which D is not trained)."""
    rows = [r for r in history if "event" not in r and r.get("epoch", warmup_epochs + 1) > warmup_epochs
            and all(r.get(k) is not None for k in keys)]
    return np.array([np.mean([r[k] for k in keys]) for r in rows], dtype=float)


def loss_trend_finding(history: list[dict]) -> Finding:
    """Figure 5: 'soon the discriminator gets the upper hand, leading to the increase of generator loss':
    loss_G rises and loss_D falls from the first fifth of the iterations to the last."""
    g, d = trend(_steps(history, "loss_G")), trend(_steps(history, "loss_D"))
    verdicts = [verdict(g.low, g.high, 0.0, True), verdict(d.low, d.high, 0.0, False)]
    return Finding("DCGAN's discriminator gets the upper hand and the generator loss rises",
                   f"last fifth of the iterations - first fifth: loss_G {interval_text(*g)}, "
                   f"loss_D {interval_text(*d)}", combine(verdicts))


def discriminator_finding(history: list[dict], warmup_epochs: int = 0) -> Finding:
    """Figure 7: 'the discriminator losses are nearly zero': their mean over the last fifth below NEAR_ZERO_LOSS
    (the steps of ``warmup_epochs`` left out)."""
    losses = _steps(history, "loss_D_A", "loss_D_B", warmup_epochs=warmup_epochs)
    last = block_bootstrap_mean(losses[-max(2, len(losses) // 5):])
    return Finding("CycleGAN's discriminator losses are nearly zero",
                   f"mean of loss_D_A and loss_D_B over the last fifth of the iterations {last.difference:.3f} "
                   f"[{last.low:.3f}, {last.high:.3f}] against {NEAR_ZERO_LOSS} (a guessing discriminator: 0.25)",
                   verdict(last.low - NEAR_ZERO_LOSS, last.high - NEAR_ZERO_LOSS, 0.0, False))


def gan_losses_finding(history: list[dict], warmup_epochs: int = 0) -> Finding:
    """Figure 7: 'the GAN losses increase': their mean rises from the first fifth of the iterations to the last
    (the steps of ``warmup_epochs`` left out: the first fifth starts when D starts)."""
    rise = trend(_steps(history, "loss_gan_A2B", "loss_gan_B2A", warmup_epochs=warmup_epochs))
    return Finding("CycleGAN's GAN losses increase during training",
                   f"mean of loss_gan_A2B and loss_gan_B2A, last fifth - first fifth {interval_text(*rise)}",
                   verdict(rise.low, rise.high, 0.0, True))


# --- DCGAN ----------------------------------------------------------------------------------------------------

def _spectral_draws(spectra: np.ndarray, real_spectrum: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Spectral distance of each resample (rows of ``draws``: image indices) of a set's per-image spectra."""
    return np.array([spectrum_distance(spectra[d].mean(0), real_spectrum) for d in draws])


def dcgan_finding(samples: np.ndarray, real: np.ndarray, n_boot: int = 200) -> Finding:
    """'DCGAN is generally a good choice to generate images from noise', measured as: its samples are free of
    artefacts (spectral distance to real at most ARTEFACT_FREE, in the brightness and in the colour: speckle,
    checkerboards and blur show in the first, colour confetti in the second) and do not collapse (structure
    diversity at least NO_COLLAPSE), each with an interval from resampling the samples."""
    claim = "DCGAN is a good choice to generate images from noise (varied samples free of artefacts)"
    if few := too_few(claim, min(len(samples), len(real)), "held-out real avatars or samples"):
        return few
    draws = np.random.default_rng(0).integers(0, len(samples), (n_boot, len(samples)))
    spectral, verdicts = {}, []
    for channels in ("gray", "chroma"):
        real_spectrum = radial_power_spectrum(real, channels)
        spectra = radial_power_spectra(samples, channels)
        low, high = np.quantile(_spectral_draws(spectra, real_spectrum, draws), [0.025, 0.975])
        spectral[channels] = (spectrum_distance(spectra.mean(0), real_spectrum), low, high)
        verdicts.append(verdict(low - ARTEFACT_FREE, high - ARTEFACT_FREE, 0.0, False))
    diversity = bootstrap_measure(samples[:512], lambda s: diversity_ratio(s, real, max_images=512), n_boot=50,
                                  distinct=True)
    verdicts.append(verdict(diversity.low - NO_COLLAPSE, diversity.high - NO_COLLAPSE, 0.0, True))
    (gray, low_s, high_s), (colour, low_c, high_c) = spectral["gray"], spectral["chroma"]
    return Finding(claim, f"{len(samples)} samples against {len(real)} held-out real avatars: spectral distance "
                   f"{gray:.3f} [{low_s:.3f}, {high_s:.3f}] and colour spectral distance {colour:.3f} "
                   f"[{low_c:.3f}, {high_c:.3f}] (each at most {ARTEFACT_FREE}); structure diversity "
                   f"{diversity.difference:.2f} [{diversity.low:.2f}, {diversity.high:.2f}] (at least {NO_COLLAPSE})",
                   combine(verdicts))


def early_finding(run_dir: str | Path, real: np.ndarray, epochs: list[int], n_boot: int = 500) -> Finding:
    """'The generator reaches a well-trained state at a very early stage': the share of the improvement in spectral
    distance (epoch 0 -> last epoch) made by 20 % of the epochs, over the same fixed noise at every epoch
    (resampled together), and the first epoch that is not reliably worse than the last."""
    run = Run.open(run_dir)
    real_spectrum = radial_power_spectrum(real)
    spectra = {e: radial_power_spectra(run.load_samples("fixed", e)) for e in epochs}  # the same z: paired
    n = len(spectra[epochs[0]])
    draws = np.random.default_rng(0).integers(0, n, (n_boot, n))
    values = {e: _spectral_draws(spectra[e], real_spectrum, draws) for e in epochs}  # (n_boot,) each
    point = {e: spectrum_distance(spectra[e].mean(0), real_spectrum) for e in epochs}
    cut = min(epochs[1:], key=lambda e: abs(e - max(1, round(0.2 * epochs[-1]))))
    first, last, early = values[epochs[0]], values[epochs[-1]], values[cut]
    share = (first - early) / np.where(np.abs(first - last) < 1e-9, np.nan, first - last)
    low, high = np.nanquantile(share, [0.025, 0.975])
    settled = next(e for e in epochs if np.quantile(values[e] - last, 0.025) <= 0)
    return Finding("DCGAN is well trained at a very early stage; later training has minor effects",
                   f"spectral distance of the {n} fixed samples: {point[epochs[0]]:.3f} untrained, {point[cut]:.3f} "
                   f"after epoch {cut} (20 % of the run), {point[epochs[-1]]:.3f} at the end; share of the improvement "
                   f"made by epoch {cut} {np.nanmedian(share):.0%} [{low:.0%}, {high:.0%}] (claim: at least "
                   f"{EARLY_SHARE:.0%}); no longer reliably worse than the end from epoch {settled}",
                   verdict(low - EARLY_SHARE, high - EARLY_SHARE, 0.0, True))


# --- captions -------------------------------------------------------------------------------------------------

def vgg_note(run_dir: str | Path) -> str | None:
    """The caption note naming the network behind CartoonGAN's content and style losses, when it is not VGG19."""
    text = Run.open(run_dir).read_note("vgg.txt")
    if text and text.strip() == SYNTHETIC_NOTE:
        return f"Content and style losses: {SYNTHETIC_NOTE}."
    return None


def load_evaluators(profile: str, device: str = "auto") -> dict[str, Any]:
    """The evaluation-only networks (trained apart from every loss; cached): ``landmarks`` and ``attributes``."""
    budget = budget_for(profile)
    return {"landmarks": load_landmark_evaluator(budget, device, progress=False),
            "attributes": load_attribute_evaluator(budget, device, progress=False)}


def held_out_labels(data, data_seed: int = 0) -> dict[str, np.ndarray] | None:
    """The renderer's attribute classes of the held-out synthetic photos (None for real data)."""
    return attribute_table(len(data.test_a), HELD_OUT_START["thumbs"], data_seed) if data.paired else None


def evaluator_note(evaluators: dict[str, Any]) -> str:
    """The evaluators' own accuracy, to print beside every number they measure."""
    marks, attrs = evaluators["landmarks"].held_out, evaluators["attributes"].held_out
    return (f"Evaluators: the landmark evaluator's own error on held-out renders is "
            f"{marks['landmark_error_anime_px']:.2f} px (anime), {marks['landmark_error_photo_px']:.2f} px (photo); "
            f"the attribute evaluator's own accuracy {attrs['accuracy']['mean']:.1%} (the ceiling of attributes kept; "
            f"chance {attrs['chance']['mean']:.1%}).")


ABLATION_MEASURES = (("ssim", "SSIM to truth", True), ("landmark_error", "landmark error", False),
                     ("attributes", "attributes kept", True))


def ablation_table(results: dict[str, dict[str, Translations]]) -> tuple[list[str], list[list], list[str]]:
    """The extra losses, each against its model's baseline on the same held-out photos (paired intervals).

    ``results``: model -> variant -> translations. Returns table columns, rows (the baseline's values; each
    variant's difference from its baseline with the interval and the verdict "better", "worse" or "inconclusive")
    and one line per model and variant for the notebook and the report.
    """
    columns = ["model", "variant", *(label for _, label, _ in ABLATION_MEASURES)]
    rows, lines = [], []
    words = {SUPPORTED: "better", NOT_SUPPORTED: "worse", INCONCLUSIVE: "inconclusive"}
    for model, variants in results.items():
        base = variants["baseline"]
        rows.append([model, "baseline", *(f"{base.summary[k]:.3f}" if k in base.summary else "n/a"
                                          for k, _, _ in ABLATION_MEASURES)])
        for name, t in variants.items():
            if name == "baseline":
                continue
            cells, parts = [], []
            for key, label, higher in ABLATION_MEASURES:
                if key not in t.per_image:
                    cells.append("n/a")
                    continue
                v, text = paired_finding(t.per_image[key], base.per_image[key], higher)
                cells.append(f"{text} {words[v]}")
                parts.append(f"{label} {text}: {words[v]}")
            rows.append([model, name, *cells])
            lines.append(f"{model} {name} against its baseline: " + ("; ".join(parts) or "no paired metrics"))
    return columns, rows, lines


# --- Table 2 --------------------------------------------------------------------------------------------------

TABLE2_COLUMNS = (  # key in a summary, column title, decimals
    ("l1", "L1 to truth", 3), ("psnr", "PSNR (dB)", 2), ("ssim", "SSIM to truth", 3),
    ("input_ssim", "SSIM to input", 3), ("landmark_error", "landmark err (px)", 2),
    ("attributes", "attributes kept", 3), ("spectral", "spectral dist.", 3),
    ("colour_spectral", "colour spectral", 3), ("diversity", "diversity", 2),
    ("c2st", "C2ST", 2), ("anime_face", "anime faces found", 2), ("fid", "FID", 1),
)


def _cell(values: list, digits: int, floor: float | None = None, label: str = "floor") -> str:
    """The mean over seeds (``± sd`` when there are several), and the measure's floor (or, for the face share,
    the real anime's: ``label`` "real") when it has one."""
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    text = f"{np.mean(values):.{digits}f}" + (f" ± {np.std(values, ddof=1):.{digits}f}" if len(values) > 1 else "")
    return text + (f" ({label} {floor:.{digits}f})" if floor is not None else "")


def table2(results: dict[str, list[dict[str, Any]]], budgets: dict[str, str],
           keys: Sequence[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """Table 2: one row per model (name -> one summary per seed), its training budget, and every measure (those of
    ``keys`` only, when given)."""
    measures = [m for m in TABLE2_COLUMNS if keys is None or m[0] in keys]
    columns = ["model", "budget", *(title for _, title, _ in measures)]
    rows = []
    for name, summaries in results.items():
        cells = [name, budgets.get(name, "-")]
        for key, _, digits in measures:
            label = "real" if f"{key}_real" in summaries[0] else "floor"
            cells.append(_cell([s.get(key) for s in summaries], digits, summaries[0].get(f"{key}_{label}"), label))
        rows.append(cells)
    return columns, rows


def budget(history: list[dict], pretrain: int = 0) -> str:
    """A run's training budget from its history: generator updates and epochs (content-only pre-training noted)."""
    epochs = [r for r in history if r.get("event") == "epoch"]
    if not epochs:
        return "not trained"
    text = f"{epochs[-1]['step']:,} G updates, {epochs[-1]['epoch']} epochs"
    return text + (f" ({pretrain} of them content-only pre-training)" if pretrain else "")
