"""Widgets driven from Python: sliders redraw (and only when a value changes); the photo upload."""

import datetime
import io

import numpy as np
import pytest
from PIL import Image

from animelib.models import cyclegan, dcgan
from animelib.widgets import latent_directions, latent_explorer, photo_translator, render_latent, translate_photo


@pytest.fixture(scope="module")
def G():
    import torch

    from animelib.nets.blocks import recalibrate_batchnorm

    torch.manual_seed(0)
    net = dcgan.Generator(ngf=8)
    recalibrate_batchnorm(net, [torch.randn(32, 100) for _ in range(4)])  # so eval mode draws varied images
    return net.eval()


def test_directions():
    pcs = latent_directions(100, 5)
    assert pcs.shape == (5, 100)
    assert np.allclose((pcs @ pcs.T).numpy(), np.eye(5), atol=1e-5)  # orthonormal
    coords = latent_directions(100, 3, mode="coordinates", coordinates=[4, 7, 9])
    assert coords.argmax(1).tolist() == [4, 7, 9]
    with pytest.raises(ValueError, match="mode='umap'"):
        latent_directions(100, 3, mode="umap")


def test_render_is_pure_and_depends_on_the_sliders(G):
    dirs = latent_directions(100, 3)
    a = render_latent(G, 0, [0.0, 0.0, 0.0], dirs)
    assert a == render_latent(G, 0, [0.0, 0.0, 0.0], dirs)
    assert a != render_latent(G, 0, [2.5, 0.0, 0.0], dirs)
    assert a != render_latent(G, 1, [0.0, 0.0, 0.0], dirs)
    assert a != render_latent(G, 0, [0.0, 0.0, 0.0], dirs, seed_b=1, t=0.5)
    assert Image.open(io.BytesIO(a)).size == (256, 256)


def test_slider_redraws_once_per_new_value(G):
    box = latent_explorer(G, k=3)
    ex = box.explorer
    image = ex.controls["image"]
    first, renders = image.value, ex.renders
    assert renders == 1 and len(first) > 100
    ex.controls["directions"][0].value = 2.0
    assert ex.renders == renders + 1 and image.value != first
    ex.update()  # same values again: nothing is redrawn
    assert ex.renders == renders + 1
    ex.controls["t"].value = 0.6
    assert ex.renders == renders + 2
    ex.controls["directions"][0].value = 0.0
    ex.controls["t"].value = 0.0
    assert image.value == first  # back to the start: the same picture


def _png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def translators():
    return cyclegan.Generator(ngf=4).eval(), cyclegan.Generator(ngf=4).eval()


def test_translate_photo_function(translators, tmp_path):
    from animelib.data.synthetic import render_avatar

    photo, _ = render_avatar(0, 3, "photo", 128)
    out = translate_photo(_png(photo), *translators, size=32)
    assert out["input"].shape == out["translation"].shape == out["reconstruction"].shape == (32, 32, 3)
    path = tmp_path / "me.jpg"
    Image.fromarray(photo).save(path)
    assert translate_photo(str(path), *translators, size=32)["input"].shape == (32, 32, 3)


def test_upload_widget_good_and_bad_files(translators):
    from animelib.data.synthetic import render_avatar

    box = photo_translator(*translators, size=32)
    photo, _ = render_avatar(0, 5, "photo", 96)
    assert box.handle("face.png", _png(photo)) is True
    assert all(len(im.value) > 100 for im in box.images)
    assert "face.png" in box.message.value
    before = [im.value for im in box.images]
    for name, data, reason in (("notes.txt", b"hello, not an image", "not a readable image"),
                               ("empty.jpg", b"", "empty"),
                               ("cut.png", _png(photo)[:200], "not a readable image")):
        assert box.handle(name, data) is False
        assert f"Could not use {name}" in box.message.value and reason in box.message.value
    assert [im.value for im in box.images] == before  # a bad upload loses nothing
    # the FileUpload observer path
    box.children[0].value = ({"name": "again.png", "content": memoryview(_png(photo)), "type": "image/png",
                              "size": 1, "last_modified": datetime.datetime.now(datetime.UTC)},)
    assert "again.png" in box.message.value


def test_upload_of_a_decompression_bomb_is_a_message(translators):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)  # claims 400 million RGB pixels
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    box = photo_translator(*translators, size=32)
    assert box.handle("bomb.png", bomb) is False
    assert "Could not use bomb.png" in box.message.value
