"""The benchmark matrix: model x batch size x image size x speed option, timed with ``animelib.bench``.

    python benchmarks/matrix.py                      # the CPU matrix (about 15 minutes on 2 cores)
    python benchmarks/matrix.py --device cuda --preset gpu
    python benchmarks/matrix.py --models dcgan --batch-sizes 64 128 --options base amp --repeats 3

Every cell is timed ``--repeats`` times, the rows interleaved (A B C A B C ...) so that a busy
machine slows every row alike; the table shows the median and the ratio to the row's baseline
(the same model and sizes without options). Results are appended as JSON lines to ``--out`` and
written as a Markdown table to ``--table``. On CUDA each row also gives the fraction of the card's
bf16 dense peak (``--peak-tflops``) that the step reaches; on a CPU the reference is a large
float32 matmul measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from animelib.bench import bench, plain_dcgan

SWITCHES = ("amp", "channels_last", "compile")
OPTIONS = {  # every switch is set, so a profile's own defaults (full: amp + channels_last) never leak into "base"
    name: {k: k in on for k in SWITCHES}
    for name, on in {"base": (), "amp": ("amp",), "cl": ("channels_last",), "amp+cl": ("amp", "channels_last"),
                     "compile": ("compile",), "amp+cl+compile": SWITCHES}.items()
}
PRESETS = {  # (model, profile, batch sizes, image sizes, options)
    "cpu": [
        ("dcgan", "quick", [64], [None], ["base", "amp", "cl", "amp+cl", "compile"]),
        ("dcgan", "full", [64], [None], ["base", "amp", "amp+cl"]),
        ("cyclegan", "quick", [8], [64], ["base", "amp", "cl"]),
        ("cartoongan", "quick", [8], [64], ["base", "amp"]),
    ],
    "gpu": [
        ("dcgan", "full", [128, 512], [None], ["base", "amp", "amp+cl", "amp+cl+compile"]),
        ("cyclegan", "full", [8, 32], [128], ["base", "amp+cl", "amp+cl+compile"]),
        ("cartoongan", "full", [16, 64], [128], ["base", "amp+cl", "amp+cl+compile"]),
    ],
}
FULL_DCGAN_IMAGES = 100 * 115_087  # the report's DCGAN: 100 epochs of the Anime set


def matmul_tflops(device: str, n: int = 2048, repeats: int = 5) -> float:
    """The device's float32 matmul rate, the CPU's practical peak for comparison."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(3):  # the best of three rounds, the first of which warms up
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 * repeats / best / 1e12


def cells(args) -> list[tuple[str, str, int, int | None, str]]:
    if args.models:
        return [(m, args.profile, b, s, o) for m in args.models for b in args.batch_sizes
                for s in (args.image_sizes if m != "dcgan" else [None]) for o in args.options]
    return [(m, p, b, s, o) for m, p, bs, ss, os_ in PRESETS[args.preset] for b in bs for s in ss for o in os_]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", choices=PRESETS, default=None, help="default: gpu on CUDA, else cpu")
    parser.add_argument("--models", nargs="+", choices=("dcgan", "cyclegan", "cartoongan"))
    parser.add_argument("--profile", default="quick", help="with --models: whose widths to use")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64])
    parser.add_argument("--image-sizes", nargs="+", type=int, default=[64])
    parser.add_argument("--options", nargs="+", choices=OPTIONS, default=["base"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plain", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the plain hand-written DCGAN loop (default on)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the card's dense bf16 peak, for the fraction column (H100 SXM: 989)")
    parser.add_argument("--out", default="benchmarks/results.jsonl")
    parser.add_argument("--table", default=None, help="default: benchmarks/table-<device>.md")
    args = parser.parse_args(argv)
    args.preset = args.preset or ("gpu" if args.device.startswith("cuda") else "cpu")
    rows = cells(args)
    reference = matmul_tflops(args.device)
    print(f"[matrix] {len(rows)} cells x {args.repeats} repeats on {args.device}; "
          f"float32 matmul {reference * 1000:.0f} GFLOP/s", flush=True)
    timings: dict[tuple, list[dict]] = {}
    for r in range(args.repeats):
        for cell in rows:
            model, profile, batch, size, option = cell
            result = bench(model, profile, args.device, batch, size, steps=args.steps, **OPTIONS[option])
            timings.setdefault(cell, []).append(result)
            print(f"[matrix] repeat {r + 1}: {model} {profile} b{batch} {result['image_size']}px {option}: "
                  f"{result['images_per_second']:.1f} images/s", flush=True)
        for profile, batch in dict.fromkeys((c[1], c[2]) for c in rows if c[0] == "dcgan" and args.plain):
            result = plain_dcgan(profile, args.device, batch, steps=args.steps)
            timings.setdefault(("dcgan", profile, batch, None, "plain loop"), []).append(result)
            print(f"[matrix] repeat {r + 1}: plain dcgan {profile} b{batch}: "
                  f"{result['images_per_second']:.1f} images/s", flush=True)
    table = write(timings, args, reference)
    print(table)
    return 0


def write(timings: dict[tuple, list[dict]], args, reference: float) -> str:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        for results in timings.values():
            for r in results:
                f.write(json.dumps(r) + "\n")
    first = next(iter(timings.values()))[0]
    peak = args.peak_tflops or reference
    peak_label = f"of bf16 peak {args.peak_tflops:g} TFLOP/s" if args.peak_tflops else \
        f"of fp32 matmul {reference * 1000:.0f} GFLOP/s"
    cuda = first["device"].startswith("cuda")
    lines = [
        f"Device: {first['device']} ({first['device_name']}), torch {first['torch']}; "
        f"{args.repeats} repeats of {args.steps} steps, median shown; measured {time.strftime('%Y-%m-%d')}.",
        "Command: `" + " ".join(["python", f"benchmarks/{Path(__file__).name}", *sys.argv[1:]]) + "`",
        "",
        f"| model | widths | batch | px | option | images/s | ms/step | x base | GFLOP/step | % {peak_label} "
        + ("| peak MiB | full DCGAN (100 x 115,087) |" if cuda else "| peak MiB (process so far) |"),
        "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if cuda else ""),
    ]
    for (model, profile, batch, _, option), results in timings.items():
        ips = statistics.median(r["images_per_second"] for r in results)
        ms = statistics.median(r["ms_per_step"] for r in results)
        base = timings.get((model, profile, batch, results[0]["image_size"] if model != "dcgan" else None, "base"))
        ratio = ips / statistics.median(r["images_per_second"] for r in base) if base else float("nan")
        gflop = results[0].get("gflop_per_step") or (base[0].get("gflop_per_step") if base else None)
        share = f"{100 * gflop / ms / peak:.1f}" if gflop else "-"  # GFLOP per ms = TFLOP/s
        memory = max(r["peak_memory_mib"] for r in results)
        row = (f"| {model} | {profile} | {batch} | {results[0]['image_size']} | {option} | {ips:.1f} | {ms:.1f} | "
               f"{ratio:.2f} | {gflop if gflop else '-'} | {share} | {memory:.0f} |")
        if cuda:
            row += f" {FULL_DCGAN_IMAGES / ips / 60:.1f} min |" if model == "dcgan" else " |"
        lines.append(row)
    table = "\n".join(lines) + "\n"
    Path(args.table or f"benchmarks/table-{first['device'].split(':')[0]}.md").write_text(table)
    return table


if __name__ == "__main__":
    sys.exit(main())
