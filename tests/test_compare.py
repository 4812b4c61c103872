"""The verdicts on the report's claims follow the numbers (hand-made metric records)."""

from animelib.compare import against_baseline, detail_verdict, early_stage_verdict, identity_check, transfer_verdict

BASE = {"l1": 0.20, "psnr": 12.0, "ssim": 0.40, "landmark_error": 1.0, "input_ssim": 1.0}


def row(l1, ssim, landmark, input_ssim, psnr=12.0):
    return {"l1": l1, "psnr": psnr, "ssim": ssim, "landmark_error": landmark, "input_ssim": input_ssim}


def test_against_baseline_names_wins_and_losses():
    assert against_baseline(row(0.1, 0.5, 1, 0.3, psnr=14), BASE).startswith("wins on every paired metric")
    assert against_baseline(row(0.3, 0.3, 1, 0.3, psnr=10), BASE).startswith("loses on every paired metric")
    mixed = against_baseline(row(0.1, 0.3, 1, 0.3, psnr=14), BASE)
    assert mixed.startswith("wins on L1 0.100 vs 0.200, PSNR") and "loses on SSIM 0.300 vs 0.400" in mixed


def test_transfer_verdict_compares_models_not_the_baseline():
    rows = {"identity (A itself)": BASE, "CycleGAN": row(0.15, 0.35, 1.5, 0.3), "CartoonGAN": row(0.2, 0.3, 2, 0.6)}
    text = transfer_verdict(rows)
    assert text.startswith("supported among the models") and "CycleGAN wins on L1" in text
    rows["CartoonGAN"] = row(0.1, 0.5, 1.0, 0.6)
    assert transfer_verdict(rows).startswith("not supported")
    rows["CartoonGAN"] = row(0.1, 0.3, 2.0, 0.6)
    assert transfer_verdict(rows).startswith("partly supported: CycleGAN is best on ssim, landmark_error only")


def test_detail_verdict_needs_both_halves():
    cycle = row(0.15, 0.35, 1.5, 0.3)
    assert detail_verdict({"CycleGAN": cycle, "CartoonGAN": row(0.2, 0.3, 2, 0.6)}).startswith("supported")
    assert detail_verdict({"CycleGAN": cycle, "CartoonGAN": row(0.1, 0.4, 1, 0.6)}).startswith("half supported: "
                                                                                               "CartoonGAN keeps")
    assert detail_verdict({"CycleGAN": cycle, "CartoonGAN": row(0.1, 0.4, 1, 0.2)}).startswith("not supported")


def test_early_stage_verdict():
    history = [{"event": "metrics", "epoch": e, "fd_landmark": v, "fid": None}
               for e, v in zip(range(1, 11), [20, 5, 4, 3.5, 3, 3, 2.9, 2.8, 2.8, 2.7], strict=True)]
    assert early_stage_verdict(history).startswith("supported")  # 87% of the gain by epoch 2
    slow = [dict(r, fd_landmark=20 - 1.8 * i) for i, r in enumerate(history)]
    assert early_stage_verdict(slow).startswith("not supported")
    assert early_stage_verdict(history[:2]).startswith("not testable")


def test_identity_check_reads_the_last_metrics():
    m = {"event": "metrics", "epoch": 3, "A2B_l1": 0.15, "A2B_psnr": 13.0, "A2B_ssim": 0.30,
         "identity_l1": 0.2, "identity_psnr": 12.0, "identity_ssim": 0.4, "input_l1": 0.10, "input_ssim": 0.6}
    assert identity_check([m]).endswith("supported: by L1 and by SSIM the translation is closer to its input "
                                        "than to the anime truth.")
    far = dict(m, input_l1=0.3, input_ssim=0.2)
    assert "not supported here" in identity_check([m, far])
    assert "not testable" in identity_check([])
