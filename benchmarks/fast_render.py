"""Render the synthetic avatars on every core, into the same cache files the trainers read.

``animelib.data.synthetic.render_set`` renders on one core (about 100 images/s at 64 px). A GPU machine has
many more cores than a training step needs, so the GPU check renders its data sets with a pool of processes:
:func:`install` replaces ``render_set`` (the trainers import it from that module when they load data) by
:func:`render_set_parallel`, which renders the same images in chunks and writes the same cache file, so a
trainer built afterwards finds its data cached. The images are the same as a one-core render (each avatar
depends only on its seed and index); :func:`check_same_as_serial` checks that on a few of them.

Run as a script, it checks that and prints how many images per second the pool renders (``matrix.py
--parallel-render`` and ``gpu_epoch.py`` import it)::

    python benchmarks/fast_render.py [--size 64] [--no-check]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

# torch and animelib are imported where they are used, so that --help answers at once
_serial = None  # the one-core render_set, kept by install() before it replaces it
_pool: ProcessPoolExecutor | None = None
STATS = {"images": 0, "seconds": 0.0}  # what this process rendered in parallel, for the report


def workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _get_pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:  # spawned, not forked: the parent may hold a CUDA context
        _pool = ProcessPoolExecutor(workers(), mp_context=multiprocessing.get_context("spawn"))
    return _pool


def serial_render_set(*args, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """``animelib.data.synthetic.render_set`` as it was before :func:`install` (in a worker: as it is)."""
    from animelib.data import synthetic

    return (_serial or synthetic.render_set)(*args, **kwargs)


def _render_chunk(style: str, n: int, size: int, seed: int, start: int) -> tuple[np.ndarray, np.ndarray]:
    import torch

    torch.set_num_threads(1)  # a worker renders on its one core
    return serial_render_set(style, n, size, seed=seed, start=start, cache=False, progress=False)


def render_set_parallel(style: str, n: int, size: int = 64, seed: int = 0, start: int = 0, cache: bool = True,
                        progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``render_set`` with the same arguments, images and cache file, rendered by a pool of processes."""
    # The cache layout is the renderer's own (private there): the GPU check must write exactly the file a trainer
    # reads. The CPU path of the GPU check (tests/test_gpu_check.py) runs this, so a change there fails a test.
    from animelib.data.synthetic import _cache_file, _load_cached, _save_atomically  # noqa: PLC2701

    if n < 512:  # not worth a pool
        return serial_render_set(style, n, size, seed=seed, start=start, cache=cache, progress=False)
    path = _cache_file(style, n, size, seed, start) if cache else None
    cached = _load_cached(path, n, size) if path is not None else None
    if cached is not None:
        return cached
    begin = time.perf_counter()
    chunk = -(-n // (4 * workers()))
    starts = range(start, start + n, chunk)
    parts = list(_get_pool().map(_render_chunk, [style] * len(starts), [min(chunk, start + n - s) for s in starts],
                                 [size] * len(starts), [seed] * len(starts), starts))
    images = np.concatenate([p[0] for p in parts])  # (n, size, size, 3) uint8
    landmarks = np.concatenate([p[1] for p in parts])  # (n, 5, 2)
    if path is not None:
        _save_atomically(path, images, landmarks)
        STATS["images"] += n
        STATS["seconds"] += time.perf_counter() - begin
    if progress:
        print(f"[render] {n:,} {style} avatars at {size} px on {workers()} cores in "
              f"{time.perf_counter() - begin:.1f} s", flush=True)
    return images, landmarks


def install() -> None:
    """Make every later ``render_set`` of this process render in parallel (the data sets and the landmark net's)."""
    global _serial
    import animelib.data.synthetic as synthetic
    import animelib.nets.landmarks as landmarks

    if synthetic.render_set is not render_set_parallel:
        _serial = synthetic.render_set
    synthetic.render_set = render_set_parallel
    landmarks.render_set = render_set_parallel


def check_same_as_serial(size: int = 64) -> None:
    """The parallel render equals the one-core render (raises AssertionError otherwise)."""
    n = 512 + 3  # just enough for the pool, not a multiple of its chunks
    fast = render_set_parallel("anime", n, size, seed=3, start=1000, cache=False, progress=False)
    slow = serial_render_set("anime", n, size, seed=3, start=1000, cache=False, progress=False)
    assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1]), "parallel render differs"


def rate_per_second(size: int = 64) -> float:
    """Images per second that the pool renders at ``size`` (a short uncached probe, after starting the pool)."""
    n = max(512, 32 * workers())
    render_set_parallel("anime", n, size, seed=1, start=10_000_000, cache=False, progress=False)  # starts the pool
    begin = time.perf_counter()
    render_set_parallel("anime", 2 * n, size, seed=1, start=20_000_000, cache=False, progress=False)
    return 2 * n / (time.perf_counter() - begin)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64, help="image side in px (default 64)")
    parser.add_argument("--check", action=argparse.BooleanOptionalAction, default=True,
                        help="first compare the pool's images with a one-core render (default on)")
    args = parser.parse_args(argv)
    if args.check:
        check_same_as_serial(args.size)
        print(f"[render] the pool's images equal the one-core render's ({args.size} px)")
    rate = rate_per_second(args.size)
    print(f"[render] {rate:,.0f} images/s at {args.size} px on {workers()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
