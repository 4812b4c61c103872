"""Test settings: slow and gpu tests are opt-in, caches go to a temporary folder, nothing downloads."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")
    parser.addoption("--run-gpu", action="store_true", help="also run tests marked gpu (needs CUDA)")


def pytest_collection_modifyitems(config, items):
    run_slow = config.getoption("--run-slow") or os.environ.get("ANIMELIB_RUN_SLOW") == "1"
    run_gpu = config.getoption("--run-gpu")
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow: use --run-slow or ANIMELIB_RUN_SLOW=1"))
        if "gpu" in item.keywords:
            import torch

            if not (run_gpu and torch.cuda.is_available()):
                item.add_marker(pytest.mark.skip(reason="gpu: needs --run-gpu and a CUDA device"))


@pytest.fixture(scope="session", autouse=True)
def _offline_cache(tmp_path_factory):
    """A fresh cache per test session, no downloads (Hugging Face, torchvision weights), and notebooks that are
    given no profile use the smoke profile (not the runs `make figures` trained)."""
    cache = tmp_path_factory.mktemp("animelib-cache")
    saved = {k: os.environ.get(k) for k in ("ANIMELIB_CACHE", "ANIMELIB_OFFLINE", "HF_HUB_OFFLINE",
                                            "HF_DATASETS_OFFLINE", "TORCH_HOME", "ANIMELIB_PROFILE")}
    os.environ.update(ANIMELIB_CACHE=str(cache), ANIMELIB_OFFLINE="1", HF_HUB_OFFLINE="1",
                      HF_DATASETS_OFFLINE="1", TORCH_HOME=str(cache / "torch"), ANIMELIB_PROFILE="smoke")
    yield cache
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
