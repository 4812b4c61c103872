"""The benchmark matrix: model x batch size x image size x speed option, timed with ``animelib.bench``.

    python benchmarks/matrix.py                      # the CPU matrix (about 15 minutes on 2 cores)
    python benchmarks/matrix.py --device cuda --preset gpu
    python benchmarks/matrix.py --device cuda --preset gpu-check --peak-tflops 790 --budget-s 150 --parallel-render
    python benchmarks/matrix.py --models dcgan --batch-sizes 64 128 --options base amp --repeats 3

Every cell is timed ``--repeats`` times, the rows interleaved (A B C A B C ...) so that a busy
machine slows every row alike; the table shows the median and the ratio to the row's baseline
(the same model and sizes without options). Results are appended as JSON lines to ``--out`` and
written as a Markdown table to ``--table``. On CUDA each row also gives the fraction of the card's
bf16 dense peak (``--peak-tflops``) that the step reaches; on a CPU the reference is a large
float32 matmul measured in the same run. A cell that runs out of device memory is a row saying so
(the largest batch that fits is the one above it); ``--budget-s`` starts no new cell after that many
seconds (the ``gpu-check`` preset lists its cells most important first, so a budget cuts the least).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

# torch, animelib and fast_render are imported where they are used, so that --help answers at once
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
    "gpu-check": [  # benchmarks/gpu_check.sh on a GPU: the targeted rows first, then the batch sweep
        ("dcgan", "full", [128], [None], ["amp+cl", "base", "amp", "amp+cl+compile"]),
        ("cyclegan", "full", [128], [128], ["amp+cl", "base", "amp"]),
        ("cartoongan", "full", [128], [128], ["amp+cl", "base", "amp"]),
        ("dcgan", "full", [64, 256, 512], [None], ["amp+cl", "base", "amp"]),
        ("cyclegan", "full", [64, 256, 512], [128], ["amp+cl"]),
        ("cartoongan", "full", [64, 256, 512], [128], ["amp+cl"]),
        ("cyclegan", "full", [128], [128], ["amp+cl+compile"]),
        ("cartoongan", "full", [128], [128], ["amp+cl+compile"]),
    ],
    "tiny": [  # the CPU path of benchmarks/gpu_check.sh (--dry-run): every model once, in seconds
        ("dcgan", "smoke", [16], [None], ["base", "amp+cl"]),
        ("cyclegan", "smoke", [4], [None], ["amp+cl"]),
        ("cartoongan", "smoke", [4], [None], ["amp+cl"]),
    ],
}
FULL_DCGAN_IMAGES = 100 * 115_087  # the report's DCGAN: 100 epochs of the Anime set


def matmul_tflops(device: str, n: int = 2048, repeats: int = 5) -> float:
    """The device's float32 matmul rate, the CPU's practical peak for comparison."""
    import torch

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


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", choices=PRESETS, default=None, help="default: gpu on CUDA, else cpu")
    parser.add_argument("--models", nargs="+", choices=("dcgan", "cyclegan", "cartoongan"))
    parser.add_argument("--profile", default="quick", help="with --models: whose widths to use")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64])
    parser.add_argument("--image-sizes", nargs="+", type=int, default=[64])
    parser.add_argument("--options", nargs="+", choices=OPTIONS, default=["base"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plain", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the plain hand-written DCGAN loop (default on)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the card's dense bf16 peak, for the fraction column (H100 SXM: 989; H200 as lent "
                             "here: 790)")
    parser.add_argument("--budget-s", type=float, default=None, help="start no new cell after this many seconds")
    parser.add_argument("--parallel-render", action="store_true",
                        help="render the synthetic data sets on every core (benchmarks/fast_render.py)")
    parser.add_argument("--out", default="benchmarks/results.jsonl")
    parser.add_argument("--table", default=None, help="default: benchmarks/table-<device>.md")
    args = parser.parse_args(argv)
    args.preset = args.preset or ("gpu" if args.device.startswith("cuda") else "cpu")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.parallel_render:
        import fast_render  # benchmarks/fast_render.py, beside this script

        fast_render.install()
    from animelib.bench import plain_dcgan

    rows = cells(args)
    reference = matmul_tflops(args.device)
    print(f"[matrix] {len(rows)} cells x {args.repeats} repeats on {args.device}; "
          f"float32 matmul {reference * 1000:.0f} GFLOP/s", flush=True)
    timings: dict[tuple, list[dict]] = {}
    start = time.monotonic()
    for r in range(args.repeats):
        for cell in rows:
            if args.budget_s is not None and time.monotonic() - start > args.budget_s:
                print(f"[matrix] time budget of {args.budget_s:.0f} s spent: {cell} not timed", flush=True)
                continue
            timings.setdefault(cell, []).append(time_cell(cell, args, r))
        for profile, batch in dict.fromkeys((c[1], c[2]) for c in rows if c[0] == "dcgan" and args.plain):
            result = plain_dcgan(profile, args.device, batch, steps=args.steps)
            timings.setdefault(("dcgan", profile, batch, None, "plain loop"), []).append(result)
            print(f"[matrix] repeat {r + 1}: plain dcgan {profile} b{batch}: "
                  f"{result['images_per_second']:.1f} images/s", flush=True)
    if not timings:
        print("[matrix] nothing was timed", flush=True)
        return 1
    table = write(timings, args, reference)
    print(table)
    return 0


def time_cell(cell: tuple, args, repeat: int) -> dict:
    """One timing of one cell; running out of device memory is a result too (the batch does not fit)."""
    import torch

    from animelib.bench import bench

    model, profile, batch, size, option = cell
    try:
        result = bench(model, profile, args.device, batch, size, steps=args.steps, warmup=args.warmup,
                       **OPTIONS[option])
    except torch.OutOfMemoryError:
        torch.cuda.empty_cache()
        print(f"[matrix] repeat {repeat + 1}: {model} {profile} b{batch} {size}px {option}: out of memory",
              flush=True)
        return {"model": model, "profile": profile, "batch_size": batch, "image_size": size, "option": option,
                "error": "out of memory", "device": args.device}
    print(f"[matrix] repeat {repeat + 1}: {model} {profile} b{batch} {result['image_size']}px {option}: "
          f"{result['images_per_second']:.1f} images/s", flush=True)
    return {**result, "option": option}


def write(timings: dict[tuple, list[dict]], args, reference: float) -> str:
    """Append the raw results to ``--out`` and write the Markdown table to ``--table``; returns the table."""
    import torch

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        for results in timings.values():
            for r in results:
                f.write(json.dumps(r) + "\n")
    timed = [r for results in timings.values() for r in results if "error" not in r]
    first = timed[0] if timed else next(iter(timings.values()))[0]
    peak_label = f"of bf16 peak {args.peak_tflops:g} TFLOP/s" if args.peak_tflops else \
        f"of fp32 matmul {reference * 1000:.0f} GFLOP/s"
    cuda = first["device"].startswith("cuda")
    lines = [
        f"Device: {first['device']} ({first.get('device_name', '?')}), torch {first.get('torch', torch.__version__)}; "
        f"{args.repeats} repeats of {args.steps} steps after {args.warmup} warm-up steps, median shown; measured "
        f"{time.strftime('%Y-%m-%d')}.",
        "Command: `" + " ".join(["python", f"benchmarks/{Path(__file__).name}", *sys.argv[1:]]) + "`",
        "",
        f"| model | widths | batch | px | option | images/s | ms/step | x base | GFLOP/step | % {peak_label} "
        + ("| peak MiB | full DCGAN (100 x 115,087) |" if cuda else "| peak MiB (process so far) |"),
        "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if cuda else ""),
    ]
    lines += [table_row(key, results, timings, args.peak_tflops or reference, cuda) for key, results in timings.items()]
    table = "\n".join(lines) + "\n"
    Path(args.table or f"benchmarks/table-{first['device'].split(':')[0]}.md").write_text(table)
    return table


def table_row(key: tuple, results: list[dict], timings: dict[tuple, list[dict]], peak: float, cuda: bool) -> str:
    """One cell's Markdown row: the median of its timings, against the same sizes without options."""
    model, profile, batch, size, option = key
    if any("error" in r for r in results):
        return f"| {model} | {profile} | {batch} | {size or 64} | {option} | {results[0]['error']} |" + " |" * (
            6 if cuda else 5)
    ips = statistics.median(r["images_per_second"] for r in results)
    ms = statistics.median(r["ms_per_step"] for r in results)
    base = [r for r in timings.get((model, profile, batch, size, "base"), []) if "error" not in r]
    ratio = ips / statistics.median(r["images_per_second"] for r in base) if base else float("nan")
    gflop = results[0].get("gflop_per_step") or (base[0].get("gflop_per_step") if base else None)
    share = f"{100 * gflop / ms / peak:.1f}" if gflop else "-"  # GFLOP per ms = TFLOP/s
    memory = max(r["peak_memory_mib"] for r in results)
    row = (f"| {model} | {profile} | {batch} | {results[0]['image_size']} | {option} | {ips:.1f} | {ms:.1f} | "
           f"{ratio:.2f} | {gflop if gflop else '-'} | {share} | {memory:.0f} |")
    if cuda:
        row += f" {FULL_DCGAN_IMAGES / ips / 60:.1f} min |" if model == "dcgan" else " |"
    return row


if __name__ == "__main__":
    sys.exit(main())
