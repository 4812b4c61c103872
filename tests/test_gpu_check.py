"""benchmarks/gpu_check.sh on the CPU (--dry-run): every part runs at a tiny size, so the GPU check cannot rot
before a GPU is lent to run it for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from animelib.nets.landmarks import load_regressor

ROOT = Path(__file__).resolve().parents[1]
RETURNED = 8  # gpu_check.sh keeps at most 8 files in $OUT, so a remote runner that returns few files gets them all


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
@pytest.mark.slow  # every part of the GPU check, on the CPU (minutes)
def test_the_gpu_check_runs_every_part_on_the_cpu_and_writes_its_summary(tmp_path, capsys):
    load_regressor(progress=False)  # the cached landmark net the smoke runs evaluate with (once per cache)
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable}
    start = time.monotonic()
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--dry-run"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1200)
    seconds = time.monotonic() - start
    with capsys.disabled():
        print(f"\ngpu_check.sh --dry-run: {seconds:.0f} s")
    parts_tsv = (out / "parts.tsv").read_text() if (out / "parts.tsv").exists() else ""
    assert done.returncode == 0, (parts_tsv, done.stdout[-3000:], done.stderr[-3000:])  # exit code 124: time limit
    parts = [line.split("\t") for line in parts_tsv.splitlines()]
    assert [(name[0], code) for name, code, _ in parts] == [("1", "0"), ("2", "0"), ("3", "0"), ("4", "0")]
    assert "skipped" in (out / "pytest.txt").read_text()  # no CUDA here: the GPU tests are collected, then skipped
    matrix = [json.loads(line) for line in (out / "matrix.jsonl").read_text().splitlines()]
    assert {r["model"] for r in matrix} == {"dcgan", "cyclegan", "cartoongan"}
    assert all(r["images_per_second"] > 0 for r in matrix)
    epoch = json.loads((out / "epoch.json").read_text())
    assert epoch["images"] == 128 and len(epoch["epoch_seconds"]) == 2 and epoch["images_per_second"] > 0
    resume = json.loads((out / "resume.json").read_text())
    assert resume["ok"] and resume["resumed"]["resumed after"] == [1]
    assert resume["resumed"]["max_relative_loss_difference"] < 1e-4  # on one CPU the resume is exact
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# GPU check: cpu (dry run") and "- resume on cpu: OK" in summary
    assert "full DCGAN epoch on 128 avatars" in summary and "| dcgan | smoke | 16 |" in summary
    assert len(list(out.iterdir())) <= RETURNED and not [p for p in out.iterdir() if p.is_dir()]
