"""Is the third-party ``animeface`` detector good enough to cross-check landmark errors?

    ANIMELIB_CACHE=/tmp/cache python benchmarks/animeface_check.py [--n 200] [--sizes 64 128 256] [--budget standard]

On ground-truth anime renders of held-out faces (the evaluators' held-out range, 7,500,000+), at each size:
animeface's detection rate (a face found at all, and a face found whose box holds all five true landmarks),
and on the detected faces its pixel error for the eye centres, the nose tip and the mouth centre against the
renderer's exact landmarks; beside it, the landmark evaluator's error for the same four points on the same
images. Errors are also given in % of the image width, so sizes compare. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from animelib.nets import evaluators as ev


def _in_box_rate(images: np.ndarray, landmarks: np.ndarray) -> float:
    """Share of images where animeface's most likely face box holds all five true landmarks."""
    import animeface
    from PIL import Image

    hits = 0
    for img, marks in zip(images, landmarks, strict=True):
        faces = animeface.detect(Image.fromarray(np.ascontiguousarray(img)))
        if faces:
            b = max(faces, key=lambda f: f.likelihood).face.pos
            inside = ((marks[:, 0] >= b.x) & (marks[:, 0] <= b.x + b.width) & (marks[:, 1] >= b.y)
                      & (marks[:, 1] <= b.y + b.height))
            hits += bool(inside.all())
    return hits / len(images)


def check_size(size: int, n: int, evaluator) -> dict:
    """animeface and the landmark evaluator on ``n`` held-out anime renders at ``size`` px."""
    from animelib.data.synthetic import render_set

    images, landmarks = render_set("anime", n, size, start=ev.HELD_OUT_OFFSET, progress=False)
    truth = ev.face_points(landmarks)  # (N, 4, 2)
    start = time.perf_counter()
    found = ev.animeface_points(images)
    seconds = time.perf_counter() - start
    detected = ~np.isnan(found).any((1, 2))
    offset = found[detected] - truth[detected]  # (D, 4, 2)
    err = np.linalg.norm(offset, axis=-1)  # (D, 4)
    # how much of it is a fixed offset (animeface's boxes are not centred on our points the same way)
    spread = np.linalg.norm(offset - offset.mean(0), axis=-1) if len(offset) else err
    ours = np.linalg.norm(ev.face_points(ev.predict_landmarks(evaluator, images)) - truth, axis=-1)  # (N, 4)
    row = {"size": size, "n": n, "detected": float(detected.mean()), "in_box": _in_box_rate(images, landmarks),
           "ms_per_image": 1000 * seconds / n, "animeface_px": float(err.mean()) if len(err) else float("nan"),
           "animeface_spread_px": float(spread.mean()) if len(err) else float("nan"),
           "evaluator_px": float(ours.mean()), "evaluator_px_detected": float(ours[detected].mean())}
    for i, name in enumerate(ev.FACE_POINTS):
        row[f"animeface_{name}_px"] = float(err[:, i].mean()) if len(err) else float("nan")
        row[f"evaluator_{name}_px"] = float(ours[:, i].mean())
    return row


def table(rows: list[dict]) -> str:
    head = ("| size | n | detected | face box holds all 5 landmarks | animeface error px (% width) | "
            "per point: eyes L/R, nose, mouth (px) | animeface error less its mean offset per point (px) | "
            "evaluator error px (% width), same points | ms/image |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        per = " / ".join(f"{r[f'animeface_{p}_px']:.2f}" for p in ev.FACE_POINTS)
        lines.append(f"| {r['size']} | {r['n']} | {100 * r['detected']:.1f} % | {100 * r['in_box']:.1f} % | "
                     f"{r['animeface_px']:.2f} ({100 * r['animeface_px'] / r['size']:.1f} %) | {per} | "
                     f"{r['animeface_spread_px']:.2f} | "
                     f"{r['evaluator_px']:.2f} ({100 * r['evaluator_px'] / r['size']:.2f} %) | "
                     f"{r['ms_per_image']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--budget", default="standard", help="landmark evaluator budget (smoke or standard)")
    args = parser.parse_args(argv)
    evaluator = ev.load_landmark_evaluator(args.budget)
    rows = [check_size(size, args.n, evaluator) for size in args.sizes]
    print(table(rows))
    print(f"\nlandmark evaluator ({args.budget}): held-out {evaluator.held_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
