"""Loading a user's image folder: formats, modes, broken files, duplicates, crops and the decoded cache."""

from __future__ import annotations

import io
import os
import shutil
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animelib.data import decode, faces
from animelib.data.folders import load_folder
from animelib.errors import AnimelibError, ConfigError, DataError

ANIME_FACE = Path(__file__).parent / "fixtures" / "anime_face.png"
SIZE = 16


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMELIB_CACHE", str(tmp_path / "cache"))


def pattern(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth colourful image: (h, w, 3) uint8."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(1, w - 1)).astype(np.uint8)
    g = (y * 255 // max(1, h - 1)).astype(np.uint8)
    b = np.full((h, w), (seed * 37) % 256, np.uint8)
    return np.stack([r, g, b], axis=2)


def save(path: Path, im: Image.Image, fmt: str, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, fmt, **kw)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(width: int, height: int) -> bytes:
    """A few hundred bytes claiming width x height pixels (1-bit gray): a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    chunks = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def jpeg_bytes(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", **kw)
    return buf.getvalue()


def make_mixed(root: Path) -> dict[str, str]:
    """A folder of every kind of file users bring; returns {relative path: expected outcome}."""
    expect = {}
    save(root / "a" / "good1.jpg", Image.fromarray(pattern(seed=1)), "JPEG", quality=95)
    save(root / "good2.png", Image.fromarray(pattern(seed=2)), "PNG")
    save(root / "sub" / "good3.webp", Image.fromarray(pattern(seed=3)), "WEBP", lossless=True)
    save(root / "sub" / "deeper" / "good4.bmp", Image.fromarray(pattern(seed=4)), "BMP")
    save(root / "png_named.jpg", Image.fromarray(pattern(seed=5)), "PNG")  # content wins over the name
    save(root / "gray.png", Image.new("L", (40, 40), 100), "PNG")
    save(root / "rgba.png", Image.new("RGBA", (40, 40), (255, 0, 0, 0)), "PNG")  # invisible red -> white
    pal = Image.new("P", (40, 40), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.paste(1, (0, 20, 40, 40))  # bottom half red, top half index 0 = transparent black
    save(root / "palette.png", pal, "PNG", transparency=0)
    save(root / "cmyk.jpg", Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG", quality=95)  # red
    save(root / "gray16.png", Image.fromarray(np.full((40, 40), 128 * 257, np.uint16)), "PNG")  # mid-gray
    shutil.copy(root / "good2.png", root / "sub" / "copy_of_good2.png")
    expect.update({k: "image" for k in [
        "a/good1.jpg", "good2.png", "sub/good3.webp", "sub/deeper/good4.bmp", "png_named.jpg", "gray.png",
        "rgba.png", "palette.png", "cmyk.jpg", "gray16.png", "sub/copy_of_good2.png"]})

    good = jpeg_bytes(pattern(200, 200, seed=6), quality=95)
    (root / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "corrupt.png").write_bytes(np.random.default_rng(0).integers(0, 256, 3000, np.uint8).tobytes())
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.txt").write_text("these are my photos\n" * 20)
    (root / "text_named.png").write_text("not a picture at all\n")
    (root / "bomb.png").write_bytes(huge_png(20_000, 20_000))  # past twice PIL's limit: PIL refuses to open
    (root / "bomb2.png").write_bytes(huge_png(9_500, 9_500))  # between PIL's limit and twice it: PIL warns
    expect.update({"truncated.jpg": "truncated", "corrupt.png": "corrupt", "empty.jpg": "zero-byte",
                   "notes.txt": "not an image", "text_named.png": "not an image", "bomb.png": "too large",
                   "bomb2.png": "too large"})
    return expect


@pytest.fixture()
def mixed(tmp_path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "mixed"
    return root, make_mixed(root)


def test_mixed_folder_skips_by_reason(mixed):
    root, expect = mixed
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # skipping prints nothing per file, PIL's bomb warning included
        got = load_folder(root, SIZE, progress=False)
    usable = sorted(k for k, v in expect.items() if v == "image")
    assert got.files == usable  # sorted, recursive, relative
    assert got.images.shape == (len(usable), SIZE, SIZE, 3) and got.images.dtype == np.uint8
    assert got.num_files == len(expect) == 18
    want = {}
    for rel, outcome in expect.items():
        if outcome != "image":
            want.setdefault(outcome, []).append(rel)
    assert {k: sorted(v) for k, v in got.skipped.items()} == {k: sorted(v) for k, v in want.items()}
    assert got.summary() == ("mixed: 11 images from 18 files; skipped 7 of 18 files: 1 corrupt, 1 truncated, "
                             "1 zero-byte, 2 not an image, 2 too large")
    assert got.faces_found == 0 and got.center_crops == 11


def test_modes_are_converted_to_rgb_correctly(mixed):
    root, _ = mixed
    got = load_folder(root, SIZE, progress=False)
    img = dict(zip(got.files, got.images, strict=True))
    assert (np.abs(img["gray.png"].astype(int) - 100) <= 1).all()  # L -> equal channels
    assert (img["rgba.png"] == 255).all()  # fully transparent -> white, not red nor black
    pal = img["palette.png"].astype(int)
    assert (pal[:6] == 255).all()  # transparent index -> white
    assert (pal[-6:] == [255, 0, 0]).all()  # opaque index -> its red
    r, g, b = img["cmyk.jpg"].reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60  # CMYK red stays red
    assert (np.abs(img["gray16.png"].astype(int) - 128) <= 1).all()  # 16-bit mid-gray -> 128, not clipped
    # A PNG named .jpg and the nested files decode like their sources.
    ref = np.asarray(Image.fromarray(pattern(seed=5)).crop((8, 0, 56, 48)).resize((SIZE, SIZE)))
    assert np.abs(img["png_named.jpg"].astype(int) - ref).mean() < 4


def test_sixteen_bit_gradient_keeps_its_range(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))  # (64, 64) uint16
    save(tmp_path / "g" / "ramp.png", Image.fromarray(ramp), "PNG")
    got = load_folder(tmp_path / "g", 64, progress=False)
    row = got.images[0, 32, :, 0].astype(int)
    assert row[0] <= 1 and row[-1] >= 254  # black to white, not mostly clipped at 255
    assert np.all(np.diff(row) >= 0) and 120 <= row[32] <= 136


def test_exif_orientation_is_applied(tmp_path):
    from PIL import ImageOps

    stored = np.zeros((30, 60, 3), np.uint8)
    stored[:, :30] = (255, 0, 0)  # left half red, right half blue, as stored
    stored[:, 30:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = save(tmp_path / "p" / "phone.jpg", Image.fromarray(stored), "JPEG", quality=95, exif=exif)
    got = load_folder(tmp_path / "p", 30, progress=False).images[0].astype(int)
    shown = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert shown.shape == (60, 30, 3)  # upright: taller than wide
    assert np.abs(got - shown[15:45]).mean() < 3
    assert got[2, 15, 0] > 200 and got[-3, 15, 2] > 200  # red on top, blue below


def test_dedupe_keeps_the_first_copy(mixed):
    root, _ = mixed
    got = load_folder(root, SIZE, dedupe=True, progress=False)
    assert got.skipped["duplicate"] == ["sub/copy_of_good2.png"]
    assert "good2.png" in got.files and len(got.files) == 10
    assert got.summary() == ("mixed: 10 images from 18 files; skipped 8 of 18 files: 1 corrupt, 1 truncated, "
                             "1 zero-byte, 2 not an image, 2 too large, 1 duplicate")


def test_max_images_keeps_the_first_usable(mixed):
    root, expect = mixed
    got = load_folder(root, SIZE, max_images=3, progress=False)
    assert got.files == sorted(k for k, v in expect.items() if v == "image")[:3]
    assert got.images.shape[0] == 3 and got.limited
    assert "stopped at max_images" in got.summary()


def test_pil_global_limit_is_left_alone(mixed):
    root, _ = mixed
    before = Image.MAX_IMAGE_PIXELS
    load_folder(root, SIZE, progress=False, cache=False)
    assert Image.MAX_IMAGE_PIXELS == before
    # Our own limit holds even where someone switched PIL's off.
    Image.MAX_IMAGE_PIXELS = None
    try:
        got = load_folder(root, SIZE, progress=False, cache=False)
    finally:
        Image.MAX_IMAGE_PIXELS = before
    assert sorted(got.skipped["too large"]) == ["bomb.png", "bomb2.png"]


def test_cache_is_reused_without_decoding(mixed, monkeypatch):
    root, _ = mixed
    first = load_folder(root, SIZE, progress=False)
    assert not first.from_cache
    assert len(list(Path(os.environ["ANIMELIB_CACHE"], "folders").glob("*.npy"))) == 1

    def boom(*args, **kwargs):
        raise AssertionError("decoded again")

    real = decode._decode
    monkeypatch.setattr(decode, "_decode", boom)
    second = load_folder(root, SIZE, progress=False)
    assert second.from_cache
    assert np.array_equal(first.images, second.images)
    assert second.files == first.files and second.skipped == first.skipped
    assert second.summary() == first.summary()
    # Another size is another cache entry, hence decoded; both entries are kept.
    with pytest.raises(AssertionError, match="decoded again"):
        load_folder(root, SIZE * 2, progress=False)
    monkeypatch.setattr(decode, "_decode", real)
    load_folder(root, SIZE * 2, progress=False)
    assert len(list(Path(os.environ["ANIMELIB_CACHE"], "folders").glob("*.npy"))) == 2
    monkeypatch.setattr(decode, "_decode", boom)
    assert load_folder(root, SIZE, progress=False).from_cache


def test_cache_invalidated_by_touched_or_added_file(mixed, monkeypatch):
    root, _ = mixed
    first = load_folder(root, SIZE, progress=False)
    calls = []
    real = decode._decode

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(decode, "_decode", counting)
    st = (root / "good2.png").stat()
    os.utime(root / "good2.png", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    again = load_folder(root, SIZE, progress=False)
    assert calls and not again.from_cache
    assert np.array_equal(first.images, again.images)

    calls.clear()
    save(root / "zz_new.png", Image.fromarray(pattern(seed=9)), "PNG")
    more = load_folder(root, SIZE, progress=False)
    assert calls and more.files[-1] == "zz_new.png" and len(more.files) == len(first.files) + 1
    # Stale entries of this folder are dropped: one entry (npy + json) remains.
    cached = sorted(p.suffix for p in Path(os.environ["ANIMELIB_CACHE"], "folders").iterdir() if p.is_file())
    assert cached == [".json", ".npy"]


def test_cache_off_writes_nothing(mixed):
    root, _ = mixed
    load_folder(root, SIZE, cache=False, progress=False)
    assert not list(Path(os.environ["ANIMELIB_CACHE"]).rglob("*.npy"))


def test_missing_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"thumbs does not exist\. Put photos of faces there"):
        load_folder(tmp_path / "thumbs", SIZE, progress=False)


def test_empty_folder_is_a_data_error(tmp_path):
    (tmp_path / "faces").mkdir()
    with pytest.raises(DataError, match=r"no images found in .*faces \(searched recursively, no files\)"):
        load_folder(tmp_path / "faces", SIZE, progress=False)


def test_unusable_folder_says_why(tmp_path):
    root = tmp_path / "thumbs"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"")
    (root / "b.txt").write_text("hello")
    (root / "c.png").write_bytes(bytes(range(1, 256)) * 4)  # binary, named like an image: corrupt
    (root / "d.zip").write_bytes(bytes(range(256)) * 4)  # binary, named otherwise: not an image
    with pytest.raises(DataError) as info:
        load_folder(root, SIZE, progress=False)
    msg = str(info.value)
    assert str(root) in msg
    assert "(searched recursively, 4 files, all unusable: 1 corrupt, 1 zero-byte, 2 not an image)" in msg
    assert "Put photos of faces there or leave --data-dir unset" in msg


def test_bad_arguments_are_config_errors(mixed):
    root, _ = mixed
    with pytest.raises(ConfigError, match="auto, face, center, none"):
        load_folder(root, SIZE, crop="middle")
    with pytest.raises(ConfigError, match="detector='cat' is not accepted; use one of: photo, anime"):
        load_folder(root, SIZE, detector="cat")
    with pytest.raises(ConfigError, match="size"):
        load_folder(root, 0)
    with pytest.raises(ConfigError, match="workers=0"):
        load_folder(root, SIZE, workers=0)
    with pytest.raises(ConfigError, match="seed='a'"):
        load_folder(root, SIZE, max_images=2, seed="a")


def test_anime_crops_count_faces(tmp_path):
    root = tmp_path / "faces"
    root.mkdir()
    face = np.asarray(Image.open(ANIME_FACE).convert("RGB"))
    canvas = np.full((360, 640, 3), 255, np.uint8)
    canvas[30:330, 330:630] = face  # off-centre: a centre crop would miss half the face
    save(root / "face.png", Image.fromarray(canvas), "PNG")
    save(root / "blank.png", Image.new("RGB", (80, 60), (200, 200, 200)), "PNG")
    got = load_folder(root, 32, crop="face", detector="anime", progress=False)
    assert got.faces_found == 1 and got.center_crops == 1
    assert got.summary() == ("faces: 2 images from 2 files; crop face, anime faces: 1 cropped to the face, "
                             "1 centre-cropped")
    crop = got.images[got.files.index("face.png")]
    assert crop.reshape(-1, 3).std(axis=0).mean() > 20  # the face, not the white margin


@pytest.mark.skipif(not faces.photo_detector_available(), reason="OpenCV's Haar cascade is not installed")
def test_photo_crops_count_faces(tmp_path):
    cbook = pytest.importorskip("matplotlib.cbook")
    root = tmp_path / "thumbs"
    root.mkdir()
    shutil.copy(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), root / "hopper.jpg")
    save(root / "wall.jpg", Image.new("RGB", (64, 64), (90, 120, 150)), "JPEG")
    got = load_folder(root, 32, crop="face", detector="photo", progress=False)
    assert (got.faces_found, got.center_crops) == (1, 1)
    assert got.summary().endswith("crop face, photo faces: 1 cropped to the face, 1 centre-cropped")


def test_missing_detector_falls_back_to_centre_crops(tmp_path, monkeypatch):
    root = tmp_path / "thumbs"
    save(root / "a.png", Image.fromarray(pattern()), "PNG")

    def no_cascade():
        raise AnimelibError("no cascade here; install opencv-python-headless<5")

    monkeypatch.setattr(faces, "_photo_cascade", no_cascade)
    got = load_folder(root, SIZE, crop="auto", detector="photo", progress=False)
    assert got.detector is None and got.center_crops == 1
    assert "no photo face detector, so centre crops only" in got.summary()
    assert "opencv-python-headless<5" in got.summary()
