"""How fast the synthetic avatar renderer draws: images/s per style and size.

    python benchmarks/render_speed.py [--sizes 32 64 128] [--count 60] [--repeats 3] [--threads 1]

Renders avatars 0 .. count-1 of seed 9 (attributes sampled beforehand, so only drawing is timed) in each
style and size, ``--repeats`` times, styles alternating so that drifts of a shared machine hit both alike;
prints the median images/s. ``--threads`` sets OpenCV's thread count (1: one core).
"""

from __future__ import annotations

import argparse
import statistics
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128], help="image sides in px")
    parser.add_argument("--count", type=int, default=60, help="avatars per style and size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (default 1: one core)")
    args = parser.parse_args(argv)
    import cv2  # after parsing, so that --help answers at once

    from animelib.data import synthetic

    cv2.setNumThreads(args.threads)
    attrs = [synthetic.sample_attributes(9, i) for i in range(args.count)]
    for style in synthetic.STYLES:  # warm-up: imports, lru caches
        synthetic.render(attrs[0], style, min(args.sizes))
    rates: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.repeats):
        for size in args.sizes:
            for style in synthetic.STYLES:
                start = time.perf_counter()
                for a in attrs:
                    synthetic.render(a, style, size)
                rates.setdefault((style, size), []).append(args.count / (time.perf_counter() - start))
    print(f"renderer v{synthetic.RENDERER_VERSION}, {args.count} avatars x {args.repeats} repeats, "
          f"OpenCV threads {args.threads}")
    print("| style | px | images/s (median) |\n|---|---|---|")
    for (style, size), values in sorted(rates.items()):
        print(f"| {style} | {size} | {statistics.median(values):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
