"""The command line: help for every verb, training on a real folder with broken files, clear errors."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from animelib.cli import main, parse_settings
from animelib.errors import ConfigError


@pytest.mark.parametrize("verb", ["run", "train", "report", "bench", "data"])
def test_help_for_every_verb(verb, capsys):
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage: animelib" in out and "example:\n  python -m animelib " in out  # one example command each
    assert "``" not in out and ":func:" not in out  # plain text, no markup


def test_set_values_parse_as_json_or_python_booleans():
    settings = ["lr=1e-4", "amp=true", "deterministic=False", "channels_last=True", "crop=face", "epochs=3"]
    assert parse_settings(settings) == {
        "lr": 1e-4, "amp": True, "deterministic": False, "channels_last": True, "crop": "face", "epochs": 3}
    with pytest.raises(ConfigError, match="expected NAME=VALUE"):
        parse_settings(["amp"])


def test_train_dcgan_on_a_folder_with_broken_files(tmp_path):
    anime = tmp_path / "data" / "anime"
    (anime / "sub").mkdir(parents=True)
    from animelib.data.synthetic import render_avatar

    for i in range(20):
        image, _ = render_avatar(0, i, "anime", 96)
        Image.fromarray(image).save(anime / ("sub" if i % 2 else ".") / f"{i:03d}.png")
    (anime / "zero.jpg").write_bytes(b"")
    (anime / "notes.txt").write_text("not an image")
    (anime / "corrupt.png").write_bytes(np.random.default_rng(0).bytes(500))
    good = (anime / "000.png").read_bytes()
    (anime / "cut.png").write_bytes(good[: len(good) // 2])
    run = subprocess.run([sys.executable, "-m", "animelib", "train", "dcgan", "--profile", "smoke",
                          "--data-dir", str(tmp_path / "data"), "--run-dir", str(tmp_path / "run"), "--epochs", "1"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "skipped 4 of 24 files" in run.stdout
    assert (tmp_path / "run" / "checkpoints" / "last.pt").exists()


def test_missing_data_folder_is_a_clear_error_without_traceback(tmp_path):
    run = subprocess.run([sys.executable, "-m", "animelib", "train", "cyclegan", "--profile", "smoke",
                          "--data-dir", str(tmp_path / "nowhere"), "--run-dir", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "animelib: error: data folder" in run.stderr and "does not exist" in run.stderr
    assert "Traceback" not in run.stderr


def test_empty_domain_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "thumbs").mkdir()
    (tmp_path / "faces").mkdir()
    (tmp_path / "thumbs" / "readme.txt").write_text("no photos yet")
    code = main(["train", "cyclegan", "--profile", "smoke", "--data-dir", str(tmp_path),
                 "--run-dir", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert "thumbs" in err and "no images" in err.lower()


def test_wrong_parameter_names_itself(capsys):
    assert main(["train", "dcgan", "--profile", "smoke", "--epochs", "0"]) == 2
    assert "epochs=0" in capsys.readouterr().err
    assert main(["run", "--only", "vae"]) == 2
    assert "no notebook matches 'vae'" in capsys.readouterr().err


@pytest.mark.slow  # the fast set trains DCGAN from the command line (above)
def test_train_cyclegan_smoke_from_the_command_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "animelib", "train", "cyclegan", "--profile", "smoke",
                          "--run-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "cyclegan: 3/3 epochs" in run.stdout
    history = (tmp_path / "run" / "history.jsonl").read_text()
    assert history.count('"event": "metrics"') == 4 and '"event": "resume"' not in history  # epochs 0-3, one session


def test_tiny_folder_trains_without_crashing_on_evaluation(tmp_path):
    from animelib.data.synthetic import render_avatar

    (tmp_path / "anime").mkdir()
    for i in range(7):  # one image held out: too few for Frechet distances, which are then skipped
        Image.fromarray(render_avatar(0, i, "anime", 64)[0]).save(tmp_path / "anime" / f"{i}.png")
    assert main(["train", "dcgan", "--profile", "smoke", "--epochs", "1", "--data-dir", str(tmp_path),
                 "--run-dir", str(tmp_path / "run")]) == 0
    from animelib.runs import read_history

    metrics = [r for r in read_history(tmp_path / "run") if r.get("event") == "metrics"]
    assert metrics and "too few" in metrics[-1]["note"] and "c2st" not in metrics[-1]
