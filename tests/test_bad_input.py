"""Bad input: wrong parameters give one clear line and a non-zero exit; uploads and names never escape their folder."""

import io
import struct
import subprocess
import sys
import zlib

import nbformat
import pytest
from PIL import Image

from animelib import widgets
from animelib.errors import ConfigError, DataError
from animelib.manifest import read_manifest, register, save_figure
from animelib.models import MODELS, config_class
from animelib.notebooks import check_parameters, list_notebooks, run_notebooks
from animelib.widgets import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS, photo_translator, read_image


def _cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "animelib", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def _files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --- the command line ---------------------------------------------------------------------------------------------
def test_unknown_profile():
    run = _cli("train", "dcgan", "--profile", "huge")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == ("animelib train: error: argument --profile: invalid choice: "
                                                   "'huge' (choose from 'smoke', 'quick', 'full')")


def test_negative_epochs_stop_before_training(tmp_path):
    run = _cli("train", "dcgan", "--profile", "smoke", "--epochs", "-1", "--run-dir", tmp_path / "run")
    assert run.returncode == 2
    assert run.stderr.strip() == "animelib: error: epochs=-1 must be at least 1"
    assert "training" not in run.stdout and not (tmp_path / "run").exists()  # nothing started, nothing written


@pytest.mark.parametrize("model", sorted(MODELS))
def test_negative_epochs_are_a_config_error(model):
    with pytest.raises(ConfigError, match=r"^epochs=-1 must be at least 1$"):
        config_class(model).from_profile("smoke", epochs=-1)


def test_missing_data_folder_for_training(tmp_path):
    missing = tmp_path / "nonexistent"
    run = _cli("train", "dcgan", "--profile", "smoke", "--data-dir", missing, "--run-dir", tmp_path / "run")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert lines[0].startswith(f"animelib: error: data folder {missing} does not exist.")
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()


def test_unknown_notebook_writes_nothing(tmp_path):
    run = _cli("run", "--profile", "smoke", "--only", "nosuch", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip() == ("animelib: error: no notebook matches 'nosuch'; there are: 00_datasets, 01_dcgan, "
                                  "02_cyclegan, 03_cartoongan, 04_comparison")
    assert list(tmp_path.iterdir()) == []  # no runs/notebooks folder left behind


def test_missing_data_folder_for_notebooks_is_caught_before_any_kernel(tmp_path):
    missing = tmp_path / "nonexistent"
    run = _cli("run", "--profile", "smoke", "--only", "dcgan", "--data-dir", missing, cwd=tmp_path)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"animelib: error: data folder {missing} does not exist.")
    assert list(tmp_path.iterdir()) == []  # no executed notebook, no figure, no run folder


# --- papermill parameters -----------------------------------------------------------------------------------------
def test_unknown_papermill_parameter_names_itself_the_notebook_and_a_close_name():
    books = list_notebooks(["dcgan"])
    with pytest.raises(ConfigError) as e:
        check_parameters({"SEDE": 3}, books)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("unknown parameter 'SEDE' for 01_dcgan.ipynb (did you mean 'SEED'?")
    assert "use seed= or --seed" in message  # SEED is the runner's: say how to set it
    with pytest.raises(ConfigError, match=r"unknown parameter 'EPOCHS' for 00_datasets.ipynb; its parameters cell "
                                          r"accepts: none beyond the injected PROFILE, SEED"):
        check_parameters({"EPOCHS": 3}, list_notebooks())


@pytest.mark.parametrize(("name", "option"), [("PROFILE", "--profile"), ("FIG_DIR", "--figures-dir"),
                                              ("RUN_DIR", "--runs-dir"), ("DATA_DIR", "--data-dir")])
def test_injected_names_cannot_be_passed_as_extra_parameters(name, option):
    with pytest.raises(ConfigError, match=rf"^parameter '{name}' is set by the runner: use \w+= \({option} "):
        check_parameters({name: "/tmp/elsewhere"}, list_notebooks())


def _book(folder, parameters_source: str, *cells: str):
    book = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(parameters_source, metadata={"tags": ["parameters"]}),
        *(nbformat.v4.new_code_cell(c) for c in cells),
    ])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(exist_ok=True)
    path = folder / "50_extra.ipynb"
    nbformat.write(book, path)
    return path


def test_a_parameter_the_cell_defines_is_accepted_and_a_typo_gets_a_suggestion(tmp_path):
    path = _book(tmp_path / "nb", 'PROFILE = "smoke"\nEPOCHS = 1  # how long\nLR = 0.001')
    check_parameters({"EPOCHS": 3, "LR": 1e-4}, [path])  # accepted: no error
    with pytest.raises(ConfigError, match=r"^unknown parameter 'EPOCS' for 50_extra.ipynb \(did you mean 'EPOCHS'\?\); "
                                          r"its parameters cell accepts: EPOCHS, LR$"):
        check_parameters({"EPOCS": 3}, [path])
    with pytest.raises(ConfigError, match="EPOCHS=<object"):
        check_parameters({"EPOCHS": object()}, [path])  # only literals are written into the notebook


def test_a_notebook_without_parameters_cell_accepts_no_extra_parameter(tmp_path):
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    path = tmp_path / "60_plain.ipynb"
    nbformat.write(book, path)
    with pytest.raises(ConfigError, match="unknown parameter 'X' for 60_plain.ipynb"):
        check_parameters({"X": 1}, [path])


def test_run_notebooks_refuses_unknown_parameters_before_writing_anything(tmp_path):
    with pytest.raises(ConfigError, match="unknown parameter 'EPOCHS' for 01_dcgan.ipynb"):
        run_notebooks("smoke", only=["dcgan"], figures_dir=tmp_path / "f", runs_dir=tmp_path / "r",
                      parameters={"EPOCHS": 1}, progress=False, log=lambda *_: None)
    with pytest.raises(ConfigError, match=r"^profile='huge' is not one of smoke, quick, full$"):
        run_notebooks("huge", figures_dir=tmp_path / "f", runs_dir=tmp_path / "r", log=lambda *_: None)
    with pytest.raises(DataError, match="data folder .*nowhere does not exist"):
        run_notebooks("smoke", data_dir=tmp_path / "nowhere", figures_dir=tmp_path / "f", runs_dir=tmp_path / "r",
                      log=lambda *_: None)
    assert list(tmp_path.iterdir()) == []


def test_run_notebooks_injects_accepted_parameters(tmp_path):
    folder = tmp_path / "nb"
    _book(folder, 'PROFILE = "smoke"\nEPOCHS = 1', "assert EPOCHS == 3 and PROFILE == 'smoke', (EPOCHS, PROFILE)")
    out = run_notebooks("smoke", figures_dir=tmp_path / "f", runs_dir=tmp_path / "r", folder=folder,
                        parameters={"EPOCHS": 3}, progress=False, log=lambda *_: None)
    assert out == [(tmp_path / "r" / "notebooks" / "50_extra.ipynb").resolve()]


# --- figure ids never name a path outside the figures folder -----------------------------------------------------
@pytest.mark.parametrize("fig_id", ["../evil", "../../evil", "/tmp/evil", "sub/evil", "sub\\evil", "..", ".hidden",
                                    "", "a..b", "fig 6", "x" * 101])
def test_figure_id_must_be_a_plain_stem(tmp_path, fig_id):
    import matplotlib.pyplot as plt

    fig_dir = tmp_path / "figs" / "inner"
    fig = plt.figure()
    try:
        with pytest.raises(ConfigError, match=r"^figure id .* is not accepted: use a plain file name") as e:
            save_figure(fig, fig_id, fig_dir, "caption")
    finally:
        plt.close(fig)
    assert repr(fig_id) in str(e.value)
    assert _files(tmp_path) == []  # nothing written, inside or outside the figures folder
    with pytest.raises(ConfigError, match="figure id"):
        register(fig_dir, fig_id, "fig.png", "caption")


def test_plain_figure_ids_are_saved_and_manifest_fields_are_protected(tmp_path):
    import matplotlib.pyplot as plt

    fig = plt.figure()
    try:
        path = save_figure(fig, "fig6a", tmp_path, "caption", text="extra fields are fine")
    finally:
        plt.close(fig)
    assert path == tmp_path / "fig6a.png" and path.stat().st_size > 100
    with pytest.raises(ConfigError, match=r"^figure file '\.\./elsewhere\.png' is not accepted"):
        register(tmp_path, "fig6b", "../elsewhere.png", "caption")
    with pytest.raises(ConfigError, match=r"extra field 'id' would replace"):
        register(tmp_path, "fig6b", "fig6b.png", "caption", id="../x")
    assert [f["id"] for f in read_manifest(tmp_path)["figures"]] == ["fig6a"]


# --- the upload widget ---------------------------------------------------------------------------------------------
def _png(size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A tiny PNG that claims width x height RGB pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("data", "message"), [
    (b"#!/bin/sh\nrm -rf /\n", "not a readable image: no image format recognises its content"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a readable image: no image format recognises its content"),
    (b"", "the file is empty"),
    (_png()[:300], "not a readable image: truncated or corrupt"),
    (_png_header(8000, 8000), "the image is too large (8000x8000 pixels; at most 50 megapixels)"),
    (_png_header(20000, 20000), "the image is too large (refused by PIL as a possible decompression bomb"),
], ids=["script", "svg", "empty", "truncated", "64-megapixels", "bomb"])
def test_unusable_uploads_are_refused_with_a_reason(data, message):
    with pytest.raises(DataError) as e:
        read_image(data)
    assert str(e.value).startswith(message)


def test_our_pixel_limit_holds_below_pils(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # another module switched PIL's own check off
    with pytest.raises(DataError, match="too large"):
        read_image(_png_header(20000, 20000))
    assert 8000 * 8000 > MAX_UPLOAD_PIXELS


def test_oversized_upload_is_refused_before_decoding(monkeypatch, tmp_path):
    def no_decoding(*args, **kwargs):
        raise AssertionError("an oversized file was handed to PIL")

    big = _png() + bytes(MAX_UPLOAD_BYTES)
    monkeypatch.setattr(Image, "open", no_decoding)
    with pytest.raises(DataError, match=r"^the file is too large \(over 20 MB, the upload limit\)$"):
        read_image(big)
    path = tmp_path / "big.png"
    path.write_bytes(big)
    with pytest.raises(DataError, match="the file is too large"):
        read_image(str(path))


def test_upload_limit_applies_to_real_images(monkeypatch):
    image = _png((128, 128))
    assert read_image(image).shape == (128, 128, 3)
    monkeypatch.setattr(widgets, "MAX_UPLOAD_BYTES", len(image) - 1)
    with pytest.raises(DataError, match="too large"):
        read_image(image)


@pytest.fixture(scope="module")
def translator():
    from animelib.models import cyclegan

    return photo_translator(cyclegan.Generator(ngf=4).eval(), cyclegan.Generator(ngf=4).eval(), size=32)


def test_widget_shows_refusals_as_messages(translator):
    for name, data, reason in (("big.png", _png() + bytes(MAX_UPLOAD_BYTES), "the file is too large"),
                               ("huge.png", _png_header(8000, 8000), "the image is too large"),
                               ("run.sh", b"echo hi", "not a readable image: no image format recognises")):
        assert translator.handle(name, data) is False
        assert f"Could not use {name}: {reason}" in translator.message.value


def test_upload_name_is_escaped_and_never_a_path(translator, tmp_path, monkeypatch):
    cwd = tmp_path / "a" / "b"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    name = "<img src=x onerror=alert(1)>.png"
    assert translator.handle(name, b"not an image") is False
    shown = translator.message.value
    assert "<img" not in shown and "Could not use &lt;img src=x onerror=alert(1)&gt;.png:" in shown
    for name in ("../../evil.png", str(tmp_path / "evil.png")):
        assert translator.handle(name, _png()) is True
        assert translator.handle(name, b"junk") is False
    assert _files(tmp_path) == []  # the uploads were decoded in memory; nothing was written anywhere here
