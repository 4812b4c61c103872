"""The whole pipeline on small real-looking folders: JPEG and PNG files of other sizes, some needing a crop, so few
that the set-level measures cannot be taken; every notebook still runs and says why a measure is missing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animelib import compare
from animelib.data.synthetic import render_set
from animelib.stats import INCONCLUSIVE

ROOT = Path(__file__).resolve().parents[1]


def make_folders(root: Path, counts: tuple[int, int, int] = (12, 10, 10)) -> None:
    """DATA_DIR/{anime,thumbs,faces}: rendered avatars saved as PNG and JPEG, some resized, some pasted on a wider
    canvas of a flat colour (the auto crop policy has to find the face or centre-crop)."""
    rng = np.random.default_rng(0)
    for (domain, style, start), n in zip((("anime", "anime", 7_000_000), ("thumbs", "photo", 7_100_000),
                                          ("faces", "anime", 7_200_000)), counts, strict=True):
        folder = root / domain
        folder.mkdir(parents=True)
        for i, img in enumerate(render_set(style, n, 96, start=start, progress=False)[0]):
            pic = Image.fromarray(img)
            if i % 3 == 1:
                pic = pic.resize((72 + 8 * (i % 4),) * 2)
            if i % 3 == 2:
                canvas = Image.new("RGB", (160, 120), tuple(int(v) for v in rng.integers(0, 255, 3)))
                canvas.paste(pic, (40, 12))
                pic = canvas
            pic.save(folder / (f"{i:03d}.jpg" if i % 2 else f"{i:03d}.png"), quality=90)


def test_a_measure_with_too_few_held_out_images_says_so_instead_of_failing():
    real = render_set("anime", 2, 64, start=7_000_000, progress=False)[0]
    finding = compare.dcgan_finding(real.copy(), real)
    assert finding.verdict == INCONCLUSIVE and "at least 4 are needed" in finding.measured


@pytest.mark.slow
def test_smoke_pipeline_runs_end_to_end_on_small_real_folders(tmp_path):
    make_folders(tmp_path / "data")
    done = subprocess.run([sys.executable, "-m", "animelib", "run", "--profile", "smoke", "--data-dir",
                           str(tmp_path / "data"), "--figures-dir", str(tmp_path / "figures"), "--runs-dir",
                           str(tmp_path / "runs")], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    manifest = json.loads((tmp_path / "figures" / "manifest.json").read_text())
    ids = {figure["id"] for figure in manifest["figures"]}
    assert {"fig6a", "fig8a", "fig8b", "cartoongan_results", "table2", "verdicts"} <= ids
    assert all((tmp_path / "figures" / figure["file"]).stat().st_size > 0 for figure in manifest["figures"])
    assert "at least 4 are needed" in done.stdout + done.stderr  # the DCGAN finding on two held-out avatars
    assert "cropped to the face" in (tmp_path / "runs" / "notebooks" / "01_dcgan.ipynb").read_text()
