"""The report's claims put against measured numbers: the verdicts of notebooks 01-04 and Table 2.

Each function reads measured values (a run's history, or metrics of held-out translations) and returns the
sentence a notebook prints and the report page shows: what was measured and whether the claim holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from animelib.metrics import evaluate_translation, paired_metrics
from animelib.runs import Run
from animelib.utils import select_device


def translation_metrics(outputs: np.ndarray, data, regressor=None, feature=None,
                        device: str = "cpu") -> dict[str, Any]:
    """Metrics of one model's translations of ``data.test_a`` (or of A itself, for the identity baseline).

    Paired L1/PSNR/SSIM and landmark error against the synthetic truth (when there is one), FID/KID against held-out
    real anime (n/a without Inception weights), and SSIM against the input photo (how much of the input is kept).
    """
    device = select_device(device) if isinstance(device, str) else device
    m = evaluate_translation(None, data.test_a.images, truth=data.test_b_true, landmarks=data.test_landmarks,
                             regressor=regressor, real_b=data.test_b.images, feature=feature, device=device,
                             outputs=outputs)
    m["input_ssim"] = paired_metrics(outputs, data.test_a.images)["ssim"]
    return m


def _best(rows: dict[str, dict[str, Any]], key: str, lower: bool) -> str | None:
    have = {k: v[key] for k, v in rows.items() if v.get(key) is not None}
    if not have:
        return None
    return (min if lower else max)(have, key=have.get)


def transfer_verdict(rows: dict[str, dict[str, Any]], baseline: str = "identity (A itself)") -> str:
    """'CycleGAN performs the best on image transferring', checked on the paired metrics among the models.

    The do-nothing baseline is not a model, so it does not compete; the verdict says whether the winner beats it.
    """
    models = {k: v for k, v in rows.items() if k != baseline}
    if models["CycleGAN"].get("ssim") is None:
        return ("not testable here: real data has no ground truth, and FID/KID need Inception weights"
                if models["CycleGAN"].get("fid") is None else _fid_transfer(models))
    wins = {key: _best(models, key, lower) for key, lower in (("l1", True), ("ssim", False), ("landmark_error", True))
            if any(r.get(key) is not None for r in models.values())}
    cyc = [k for k, w in wins.items() if w == "CycleGAN"]
    text = ", ".join(f"best {k}: {w}" for k, w in wins.items())
    if baseline in rows:
        versus = against_baseline(models["CycleGAN"], rows[baseline])
        text += f"; against doing nothing (the untranslated photo), CycleGAN {versus}"
    if len(cyc) == len(wins):
        return f"supported among the models: CycleGAN is best on every paired metric ({text})"
    if cyc:
        return f"partly supported: CycleGAN is best on {', '.join(cyc)} only ({text})"
    return f"not supported: CycleGAN is best on none of the paired metrics ({text})"


def against_baseline(model: dict[str, Any], base: dict[str, Any]) -> str:
    """Which paired metrics a translation wins and loses against the do-nothing baseline, with the numbers."""
    wins, losses = [], []
    for key, label, lower in (("l1", "L1", True), ("psnr", "PSNR", False), ("ssim", "SSIM", False)):
        better = model[key] < base[key] if lower else model[key] > base[key]
        (wins if better else losses).append(f"{label} {model[key]:.3f} vs {base[key]:.3f}")
    if not losses:
        return f"wins on every paired metric ({', '.join(wins)})"
    if not wins:
        return f"loses on every paired metric ({', '.join(losses)})"
    return f"wins on {', '.join(wins)} but loses on {', '.join(losses)}"


def _fid_transfer(rows: dict[str, dict[str, Any]]) -> str:
    best = _best({k: v for k, v in rows.items() if k != "identity (A itself)"}, "fid", lower=True)
    return f"{'supported' if best == 'CycleGAN' else 'not supported'}: lowest FID to real anime is {best}"


def detail_verdict(rows: dict[str, dict[str, Any]]) -> str:
    """'CartoonGAN tends to preserve image details, which results in a poorer performance'."""
    cart, cyc = rows["CartoonGAN"], rows["CycleGAN"]
    keeps_more = cart["input_ssim"] > cyc["input_ssim"]
    detail = (f"SSIM to the input photo: CartoonGAN {cart['input_ssim']:.3f}, CycleGAN {cyc['input_ssim']:.3f}")
    if cart.get("ssim") is None:
        half = "keeps more of the input" if keeps_more else "keeps less of the input"
        return f"partly testable: CartoonGAN {half} ({detail}); without ground truth its performance is not measured"
    worse = cart["ssim"] < cyc["ssim"]
    perf = f"SSIM to the anime truth: CartoonGAN {cart['ssim']:.3f}, CycleGAN {cyc['ssim']:.3f}"
    if keeps_more and worse:
        return (f"supported: CartoonGAN keeps more of the input photo and scores worse against the truth "
                f"({detail}; {perf})")
    if keeps_more:
        return f"half supported: CartoonGAN keeps more of the input but does not score worse ({detail}; {perf})"
    if worse:
        return (f"half supported: CartoonGAN scores worse, but it does not keep more of the input ({detail}; {perf}), "
                "so detail preservation is not the explanation here")
    return f"not supported: CartoonGAN neither keeps more of the input nor scores worse ({detail}; {perf})"


def dcgan_verdict(quality: dict[str, Any]) -> str:
    """'DCGAN is generally a good choice to generate images from noise'."""
    nn_ratio = quality.get("nn_ratio")
    memo = ""
    if nn_ratio is not None:
        memo = (f"generated avatars are {nn_ratio:.2f}x as far from their nearest training image as held-out real "
                f"avatars are ({'no sign of memorisation' if nn_ratio > 0.8 else 'close copies: memorisation'})")
    if quality.get("fid") is None:
        return ("not testable as a comparison here: no other model generates from noise, and FID needs Inception "
                f"weights; {memo}").rstrip("; ")
    return f"FID {quality['fid']:.1f} against held-out real avatars; {memo}"


def early_stage_verdict(history: list[dict[str, Any]]) -> str:
    """'The generator reaches a well-trained state at a very early stage, and subsequent training only has minor
    effects': how much of the total improvement in FD (FID where available) was made by 20% of the epochs."""
    metrics = [m for m in history if m.get("event") == "metrics"]
    key = "fid" if metrics and all(m.get("fid") is not None for m in metrics) else "fd_landmark"
    if len(metrics) < 3:
        return "not testable: fewer than three evaluations in this run"
    values = [m[key] for m in metrics]
    if any(v is None for v in values):
        return "not testable: some evaluations had no value"
    first, last = values[0], values[-1]
    name = "FID" if key == "fid" else "FD (landmark features)"
    if last >= first:
        return f"not testable as stated: {name} did not improve over the run ({first:.1f} -> {last:.1f})"
    cut = max(1, round(0.2 * metrics[-1]["epoch"]))
    early = next(m[key] for m in metrics if m["epoch"] >= cut)
    share = min(max((first - early) / (first - last), 0.0), 1.5)
    text = (f"{name}: {first:.1f} after epoch {metrics[0]['epoch']}, {early:.1f} after epoch {cut} (20% of the run), "
            f"{last:.1f} at the end; {share:.0%} of the improvement was made by epoch {cut}")
    if share >= 0.8:
        return f"supported: {text}"
    if share >= 0.5:
        return f"partly supported: {text}"
    return f"not supported: {text}; later training still mattered"


def loss_trend(history: list[dict]) -> str:
    """The report's reading of Figure 5, checked on this run: does the discriminator get the upper hand?"""
    steps = [r for r in history if "event" not in r]
    tenth = max(1, len(steps) // 10)
    first = {k: float(np.mean([r[k] for r in steps[:tenth]])) for k in ("loss_G", "loss_D")}
    last = {k: float(np.mean([r[k] for r in steps[-tenth:]])) for k in ("loss_G", "loss_D")}
    upper_hand = last["loss_G"] > first["loss_G"] and last["loss_D"] < first["loss_D"]
    verdict = ("as in the report, the discriminator gets the upper hand (loss_D falls while loss_G rises)"
               if upper_hand else "unlike the report's run, the discriminator does not clearly get the upper hand")
    return (f"loss_G {first['loss_G']:.3f} (first tenth of the iterations) -> {last['loss_G']:.3f} (last tenth); "
            f"loss_D {first['loss_D']:.3f} -> {last['loss_D']:.3f}: {verdict}.")


def identity_check(history: list[dict]) -> str:
    """Test the report's reading of Figure 7 ("behaves like an identity map") on the last paired metrics.

    Two questions, each on L1 and SSIM: is G_A2B(A) closer to its input A than to the anime truth, and does it
    beat the do-nothing baseline (A itself) against that truth?
    """
    metrics = [r for r in history if r.get("event") == "metrics"]
    if not metrics:
        return "no paired metrics (real data has no ground truth): the identity-map claim is not testable here"
    m = metrics[-1]
    closer = {"L1": m["input_l1"] < m["A2B_l1"], "SSIM": m["input_ssim"] > m["A2B_ssim"]}
    model = {k: m[f"A2B_{k}"] for k in ("l1", "psnr", "ssim")}
    base = {k: m[f"identity_{k}"] for k in ("l1", "psnr", "ssim")}
    lines = [
        f"epoch {m['epoch']}: G_A2B(A) vs ground truth: L1 {m['A2B_l1']:.3f}, PSNR {m['A2B_psnr']:.2f} dB, "
        f"SSIM {m['A2B_ssim']:.3f}",
        f"identity baseline (A vs ground truth): L1 {m['identity_l1']:.3f}, PSNR {m['identity_psnr']:.2f} dB, "
        f"SSIM {m['identity_ssim']:.3f}",
        f"G_A2B(A) vs its input A: L1 {m['input_l1']:.3f}, SSIM {m['input_ssim']:.3f}",
        f"Against the baseline, G_A2B {against_baseline(model, base)}.",
    ]
    if all(closer.values()):
        verdict = "supported: by L1 and by SSIM the translation is closer to its input than to the anime truth"
    elif any(closer.values()):
        near = [k for k, v in closer.items() if v]
        verdict = (f"partly supported: the translation is closer to its input than to the anime truth by "
                   f"{', '.join(near)} only")
    else:
        verdict = "not supported here: by L1 and by SSIM the translation is closer to the anime truth than to its input"
    return "\n".join(lines + [f"The report's 'behaves like an identity map': {verdict}."])


def vgg_note(run_dir: str | Path) -> str | None:
    """The loud caption note when a run's VGG19 was the random substitute, else None."""
    text = Run.open(run_dir).read_note("vgg.txt")
    if text and "substitute" in text:
        return "WARNING: content and style losses used a random-weight VGG19 substitute (no ImageNet weights here)."
    return None
