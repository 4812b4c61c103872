"""The scripts in benchmarks/: each answers --help at once (without importing torch) and names its main options;
a script added there without being listed here fails, so none can rot unnoticed; RESULTS.md names every script
and stays within its size limits."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

# Every script in benchmarks/, with words its --help must show (its main options).
SCRIPTS = {
    "matrix.py": ["--device", "--preset", "--models", "--parallel-render", "--budget-s"],
    "loop_overhead.py": ["--profile", "--batch-size", "--rounds", "--steps"],
    "bf16_check.py": ["--rounds", "--steps"],
    "folders.py": ["--scale", "--cores", "--detector"],
    "render_speed.py": ["--sizes", "--count", "--threads"],
    "fast_render.py": ["--size", "--no-check"],
    "gpu_epoch.py": ["--device", "--profile", "--images", "--out"],
    "gpu_resume.py": ["--device", "--epochs", "--out"],
    "gpu_summary.py": ["OUT", "CARD"],
    "lab_check.py": ["--out"],
    "levers.py": ["--set", "--seeds", "--profile", "--threads", "ANIMELIB_HIDE_TEST"],
    "gpu_check.sh": ["--dry-run", "--help", "GPU_CHECK_SECONDS"],
}
MAX_WORDS, MAX_IMAGE_BYTES = 6000, 3 * 2**20


def help_of(name: str) -> subprocess.CompletedProcess:
    if name.endswith(".sh"):
        command = ["bash", f"benchmarks/{name}", "--help"]
    else:  # -X importtime lists every module imported, on stderr
        command = [sys.executable, "-X", "importtime", f"benchmarks/{name}", "--help"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_every_script_in_benchmarks_is_listed_here():
    found = {p.name for p in BENCH.iterdir() if p.suffix in (".py", ".sh")}
    assert found == set(SCRIPTS), ("add new benchmark scripts to SCRIPTS (and RESULTS.md); remove deleted ones: "
                                   f"unlisted {sorted(found - set(SCRIPTS))}, missing {sorted(set(SCRIPTS) - found)}")


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_answers_help_without_torch(name):
    if name.endswith(".sh") and shutil.which("bash") is None:
        pytest.skip("needs bash")
    done = help_of(name)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    assert "usage:" in done.stdout
    missing = [word for word in SCRIPTS[name] if word not in done.stdout]
    assert not missing, f"{name} --help does not name {missing}:\n{done.stdout}"
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "torch" not in imported, f"{name} imports torch before parsing its arguments"


def test_gpu_check_runs_only_listed_scripts():
    text = (BENCH / "gpu_check.sh").read_text()
    used = set(re.findall(r"benchmarks/(\w+\.py)", text))
    assert {"matrix.py", "gpu_epoch.py", "gpu_resume.py", "gpu_summary.py"} <= used
    assert used <= set(SCRIPTS)


def test_gpu_check_refuses_an_unknown_argument():
    if shutil.which("bash") is None:
        pytest.skip("needs bash")
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--dryrun"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "usage:" in done.stderr


def test_results_name_every_script_and_stay_small():
    results = (BENCH / "RESULTS.md").read_text()
    unnamed = [name for name in SCRIPTS if name not in results]
    assert not unnamed, f"benchmarks/RESULTS.md does not name {unnamed}"
    words = sum(len(p.read_text().split()) for p in BENCH.glob("*.md"))
    assert words <= MAX_WORDS, f"benchmarks/*.md hold {words} words (at most {MAX_WORDS})"
    images = [p for p in BENCH.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
    assert sum(p.stat().st_size for p in images) <= MAX_IMAGE_BYTES
    for cited in re.findall(r"`([\w./-]+\.(?:png|jpg|json|md|jsonl))`", results):
        if "/" in cited and not cited.startswith(("docs/", "tests/", "notebooks/")):  # files of benchmarks/
            assert (BENCH / cited).exists(), f"RESULTS.md cites benchmarks/{cited}, which is missing"


def test_lever_screen_trains_and_measures_on_validation_with_the_test_split_hidden(tmp_path):
    """The tuning script end to end on the smoke profile: it reads only the validation split (the test split would
    raise under the ANIMELIB_HIDE_TEST=1 it sets) and prints each seed's measures and their mean."""
    done = subprocess.run([sys.executable, "benchmarks/levers.py", "dcgan", "--profile", "smoke", "--set", "ema=0",
                           "--seeds", "0", "--epochs", "1", "--runs-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].split("|")[2:5] == [" spectral ", " colour_spectral ", " diversity "]
    means = {line.split("|")[1].strip(): [float(x) for x in line.split("|")[2:5]] for line in rows if "mean" in line}
    assert set(means) == {"**profile mean**", "**variant mean**"}
    assert means["**profile mean**"] != means["**variant mean**"]
    assert "validation split" in done.stdout
    history = (tmp_path / "dcgan-smoke-synthetic-base-s0" / "history.jsonl").read_text()
    assert '"event": "metrics"' in history


def test_lever_screen_of_a_translation_model_adds_the_share_of_anime_faces_found(tmp_path):
    """For CycleGAN and CartoonGAN the screen also translates the validation photos with each run's generator and
    reports the share in which the anime-face detector finds a face, beside real anime's share."""
    done = subprocess.run([sys.executable, "benchmarks/levers.py", "cyclegan", "--profile", "smoke", "--set",
                           "lambda_identity=0", "--seeds", "0", "--epochs", "1", "--runs-dir", str(tmp_path),
                           "--threads", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[0][-2:] == ["anime_face", "anime_face_real"]
    for row in rows[2:]:
        found, real = float(row[-2]), float(row[-1])
        assert 0.0 <= found <= 1.0 and 0.5 < real <= 1.0  # the embedded avatars: animeface finds most real faces
