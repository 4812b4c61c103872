"""Time the training steps of the three models on this machine (``python -m animelib bench``)."""

from __future__ import annotations

import itertools
import tempfile
import time

from animelib.config import CartoonGANConfig, CycleGANConfig, DCGANConfig


def bench(profile: str = "quick", device: str = "auto", steps: int = 5, log=print) -> dict[str, float]:
    """Images per second of one training step of each model at the profile's sizes (after one warm-up step)."""
    from animelib.training import trainer_class

    results = {}
    for cls in (DCGANConfig, CycleGANConfig, CartoonGANConfig):
        cfg = cls.from_profile(profile, device=device, epochs=1)
        if hasattr(cfg, "num_a"):  # enough images for the steps, without rendering the whole data set
            n = cfg.batch_size * (steps + 1)
            cfg = cfg.replace(num_a=n, num_b=n, num_test=2)
            if hasattr(cfg, "pretrain_epochs"):  # time the adversarial step, the expensive one
                cfg = cfg.replace(pretrain_epochs=0)
        else:
            cfg = cfg.replace(num_train=cfg.batch_size * (steps + 1), num_test=2)
        with tempfile.TemporaryDirectory() as run_dir:
            trainer = trainer_class(cfg.MODEL)(cfg, run_dir, progress=False)
            batches = list(itertools.islice(trainer.batches(), steps + 1))
            trainer.train_step(batches[0])  # warm-up
            start = time.perf_counter()
            for batch in batches[1:]:
                trainer.train_step(batch)
            if trainer.device.type == "cuda":
                import torch

                torch.cuda.synchronize()
            seconds = (time.perf_counter() - start) / max(1, len(batches) - 1)
        results[cfg.MODEL] = cfg.batch_size / seconds
        log(f"[animelib] {cfg.MODEL:<10} {profile} profile on {trainer.device}: batch {cfg.batch_size} at "
            f"{cfg.image_size} px, {seconds * 1000:.0f} ms/step, {results[cfg.MODEL]:.1f} images/s")
    return results
