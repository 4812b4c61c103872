"""The measured comparison behind Table 2 and the conclusions (the report's empty section 5)."""

from __future__ import annotations

from typing import Any

import numpy as np

from animelib.metrics import evaluate_translation, paired_metrics


def translation_metrics(outputs: np.ndarray, data, regressor=None, feature=None,
                        device: str = "cpu") -> dict[str, Any]:
    """Metrics of one model's translations of ``data.test_a`` (or of A itself, for the identity baseline).

    Paired L1/PSNR/SSIM and landmark error against the synthetic truth (when there is one), FID/KID against held-out
    real anime (n/a without Inception weights), and SSIM against the input photo (how much of the input is kept).
    """
    from animelib.utils import select_device

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
