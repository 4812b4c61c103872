"""The decoded-image cache under concurrency and damage: two processes, one valid entry; a truncated file is rebuilt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animelib import files
from animelib.data import decode, folders
from animelib.data.folders import load_folder

pytestmark = pytest.mark.skipif(files.fcntl is None, reason="file locks (fcntl) are POSIX only")

# Waits for a start file, so that both processes call load_folder at the same moment, then reports.
CHILD = textwrap.dedent("""
    import hashlib, json, os, sys, time
    from pathlib import Path
    from animelib.data.folders import load_folder

    root, go = Path(sys.argv[1]), Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.005)
    got = load_folder(root, 32, workers=1, progress=False)
    print(json.dumps({"from_cache": got.from_cache, "digest": hashlib.sha1(got.images.tobytes()).hexdigest()}))
""")


def make_folder(root: Path, n: int = 80) -> None:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):  # large enough that decoding takes a good part of a second
        Image.fromarray(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)).save(root / f"{i:03d}.png")


def cache_files(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "folders").iterdir() if p.is_file())


def test_two_processes_decoding_at_once_leave_one_valid_entry(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("ANIMELIB_CACHE", str(cache))
    root, go = tmp_path / "anime", tmp_path / "go"
    make_folder(root)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(folders.__file__).parents[2]),
                                                        os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(go)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    time.sleep(2.0)  # both started and waiting
    go.touch()
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    # One decoded, the other waited for its lock and read what it wrote: no interleaved writes, no double work.
    assert sorted(r["from_cache"] for r in reports) == [False, True]
    assert reports[0]["digest"] == reports[1]["digest"]
    files = cache_files(cache)
    assert [Path(f).suffix for f in files] == [".json", ".npy"]  # one entry, no temporary file left
    again = load_folder(root, 32, workers=1, progress=False)
    assert again.from_cache and again.images.shape == (80, 32, 32, 3)


def test_a_truncated_cache_file_is_noticed_and_rebuilt(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("ANIMELIB_CACHE", str(cache))
    root = tmp_path / "anime"
    make_folder(root, 12)
    first = load_folder(root, 32, progress=False)
    npy = next((cache / "folders").glob("*.npy"))
    data = npy.read_bytes()
    npy.write_bytes(data[: len(data) // 2])  # a disk that filled up, a copy that stopped half way
    second = load_folder(root, 32, progress=False)
    assert not second.from_cache and np.array_equal(second.images, first.images)
    assert "was damaged (truncated?): decoded again" in second.summary()
    third = load_folder(root, 32, progress=False)
    assert third.from_cache and np.array_equal(third.images, first.images)
    assert "damaged" not in third.summary()
    # The same for a cut .npy whose length still parses: the recorded size tells.
    npy.write_bytes(data[:-1])
    assert not load_folder(root, 32, progress=False).from_cache


def test_a_truncated_face_box_file_is_rebuilt(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("ANIMELIB_CACHE", str(cache))
    root = tmp_path / "faces"
    make_folder(root, 4)
    load_folder(root, 32, crop="face", detector="anime", progress=False, workers=1)
    boxes = next((cache / "folders").glob("*-faces-*.json"))
    stored = json.loads(boxes.read_text())
    assert sorted(stored) == [f"{i:03d}.png" for i in range(4)]
    boxes.write_text(boxes.read_text()[:20])
    calls = []
    real = decode._find_face
    monkeypatch.setattr(decode, "_find_face", lambda *a: calls.append(1) or real(*a))
    load_folder(root, 48, crop="face", detector="anime", progress=False, workers=1)
    assert len(calls) == 4  # found again, and written whole
    assert json.loads(boxes.read_text()) == stored
