"""CUDA paths (run with --run-gpu on a machine with a CUDA device; skipped elsewhere)."""

import pytest

from animelib.models import load_generator, train
from animelib.models.cartoongan import CartoonGANConfig
from animelib.models.cyclegan import CycleGANConfig
from animelib.models.dcgan import DCGANConfig
from animelib.runs import read_history

pytestmark = pytest.mark.gpu

CONFIGS = [
    DCGANConfig.from_profile("smoke", device="cuda", epochs=2),
    CycleGANConfig.from_profile("smoke", device="cuda", epochs=2, gray_loss=True,
                                landmark_loss=True, color_loss=True),
    CartoonGANConfig.from_profile("smoke", device="cuda", epochs=2, pretrain_epochs=1),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.MODEL)
def test_train_resume_and_sample_on_cuda(cfg, tmp_path):
    import torch

    from animelib.models import spec

    first = spec(cfg.MODEL).trainer_class(cfg, tmp_path / "b", progress=False)
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


@pytest.mark.parametrize("model", ["dcgan", "cyclegan", "cartoongan"])
def test_gpu_path_keeps_data_on_the_device_and_times_with_every_switch(model, tmp_path):
    import torch

    from animelib.bench import bench
    from animelib.models import config_class, spec

    cfg = config_class(model).from_profile("smoke", device="cuda", amp=True, channels_last=True)
    trainer = spec(model).trainer_class(cfg, tmp_path / "t", progress=False)
    data = trainer.images if model == "dcgan" else trainer.images_a
    assert data.is_cuda and data.dtype == torch.uint8
    assert trainer.randn(2, 3).is_cuda and torch.backends.cudnn.benchmark
    r = bench(model, "smoke", "cuda", steps=3, warmup=2, amp=True, channels_last=True, compile=True)
    assert r["device"].startswith("cuda") and r["images_per_second"] > 0 and r["peak_memory_kind"] == "CUDA allocated"
