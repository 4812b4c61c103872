"""CUDA paths (run with --run-gpu on a machine with a CUDA device; skipped elsewhere)."""

import pytest

from animelib.config import CartoonGANConfig, CycleGANConfig, DCGANConfig
from animelib.runs import read_history
from animelib.training import load_generator, train

pytestmark = pytest.mark.gpu

CONFIGS = [
    DCGANConfig.from_profile("smoke", device="cuda", epochs=2),
    CycleGANConfig.from_profile("smoke", device="cuda", epochs=2, interrupt_at=(1,), gray_loss=True,
                                landmark_loss=True, color_loss=True),
    CartoonGANConfig.from_profile("smoke", device="cuda", epochs=2, pretrain_epochs=1),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.MODEL)
def test_train_resume_and_sample_on_cuda(cfg, tmp_path):
    import torch

    from animelib.training import trainer_class

    first = trainer_class(cfg.MODEL)(cfg, tmp_path / "b", progress=False)
    assert first.device.type == "cuda"
    first.fit(stop_at_epoch=1)
    del first
    trainer = train(cfg, tmp_path / "b", progress=False)  # resumed from the checkpoint on disk, on the GPU
    assert trainer.epoch == cfg.epochs
    steps = [r for r in read_history(tmp_path / "b") if "event" not in r]
    assert steps and all(torch.isfinite(torch.tensor([v for k, v in r.items() if k.startswith("loss")])).all()
                         for r in steps)
    net = load_generator(tmp_path / "b", device="cuda")
    assert next(net.parameters()).is_cuda
