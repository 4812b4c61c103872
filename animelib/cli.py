"""Command line: ``python -m animelib {run,train,report,bench,data} ...`` (also installed as ``animelib``)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from animelib.config import PROFILES
from animelib.errors import AnimelibError


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=PROFILES, default="quick", help="smoke, quick (default) or full")
    p.add_argument("--data-dir", default=None,
                   help="folder with anime/, thumbs/, faces/ (default: the embedded synthetic avatars)")
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    p.add_argument("--seed", type=int, default=0)


def _add_crop(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crop", default=None, metavar="POLICY",
                   help="crop of real folders: auto (default: to the face unless the images already are face "
                        "crops), face, center, none, or per folder, e.g. thumbs=face,anime=none")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="animelib", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("run", help="execute the notebooks headless (papermill), writing figures and a report")
    _add_common(p)
    p.add_argument("--only", nargs="+", metavar="NAME", help="notebooks to run, by name or number (e.g. dcgan 02)")
    p.add_argument("--figures-dir", default="figures", help="where figures and manifest.json go (default figures)")
    p.add_argument("--runs-dir", default="runs", help="run folders and executed notebooks (default runs)")
    _add_crop(p)

    p = sub.add_parser("train", help="train one model without a notebook (resumes an existing run folder)")
    p.add_argument("model", choices=("dcgan", "cyclegan", "cartoongan"))
    _add_common(p)
    p.add_argument("--epochs", type=int, default=None, help="override the profile's number of epochs")
    p.add_argument("--run-dir", default=None, help="run folder (default runs/<model>-<profile>-s<seed>)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override any config field, e.g. --set lr=1e-4 --set amp=true (repeatable)")
    _add_crop(p)

    p = sub.add_parser("report", help="build the reproduction report (index.html) from a figures folder")
    p.add_argument("--figures-dir", default="figures")
    p.add_argument("--out", default=None, help="output folder (default: <figures-dir>/../runs/report)")

    p = sub.add_parser("bench", help="time the training steps on this machine (images/s, ms/step, peak memory)")
    p.add_argument("model", nargs="?", choices=("dcgan", "cyclegan", "cartoongan"),
                   help="the model to time (default: all three)")
    _add_common(p)
    p.add_argument("--batch-size", type=int, default=None, help="default: the profile's")
    p.add_argument("--image-size", type=int, default=None, help="default: the profile's (DCGAN: 64 only)")
    p.add_argument("--steps", type=int, default=10, help="timed steps, after --warmup steps (default 10)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None, help="torch.compile")
    p.add_argument("--plain", action="store_true",
                   help="also time a plain hand-written DCGAN loop of the same networks, for comparison")
    p.add_argument("--json", action="store_true", help="print one JSON object per result instead of a line")

    p = sub.add_parser("data", help="datasets")
    dsub = p.add_subparsers(dest="data_verb", required=True)
    d = dsub.add_parser("download", help="download a public dataset into DATA_DIR's layout (needs internet)")
    d.add_argument("name", choices=("anime-faces", "selfie2anime"))
    d.add_argument("--to", required=True, help="DATA_DIR to write anime/, thumbs/, faces/ into")
    d.add_argument("--limit", type=int, default=None, help="at most this many images per folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return VERBS[args.verb](args)
    except AnimelibError as e:
        print(f"animelib: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("animelib: interrupted; run the same command again to resume from the last checkpoint",
              file=sys.stderr)
        return 130


def cmd_run(args) -> int:
    from animelib.notebooks import run_notebooks

    if args.crop is not None:
        from animelib.data import crop_policies

        crop_policies(args.crop)  # refused here, before any kernel starts
        os.environ["ANIMELIB_CROP"] = args.crop  # the kernels inherit it: every notebook's config defaults to it
    start = time.perf_counter()
    run_notebooks(args.profile, args.only, args.data_dir, args.figures_dir, args.runs_dir, args.device, args.seed)
    print(f"[animelib] notebooks done in {time.perf_counter() - start:.0f} s; figures in {args.figures_dir}/")
    return 0


def cmd_train(args) -> int:
    from animelib.config import config_class
    from animelib.training import train

    settings = {"epochs": args.epochs, "data_dir": args.data_dir, "device": args.device, "seed": args.seed,
                "crop": args.crop, **parse_settings(args.set)}
    cfg = config_class(args.model).from_profile(args.profile, **settings)
    run_dir = Path(args.run_dir or Path("runs") / cfg.run_name)
    print(f"[animelib] training {cfg.MODEL} ({cfg.profile} profile, {cfg.epochs} epochs) in {run_dir}")
    start = time.perf_counter()
    trainer = train(cfg, run_dir)
    for note in getattr(trainer, "data_notes", []):
        print(f"[animelib] data: {note}")
    print(f"[animelib] {cfg.MODEL}: {trainer.epoch}/{cfg.epochs} epochs, {trainer.step} steps, "
          f"{time.perf_counter() - start:.0f} s; run folder {run_dir}")
    return 0


def parse_settings(items: list[str]) -> dict[str, object]:
    """``["lr=1e-4", "amp=true", "interrupt_at=[2]"]`` to values (JSON where it parses, else the text)."""
    import json

    from animelib.errors import ConfigError

    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--set {item!r}: expected NAME=VALUE, e.g. --set lr=1e-4")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        values[name.strip()] = tuple(value) if isinstance(value, list) else value
    return values


def cmd_report(args) -> int:
    from animelib.report import build_report

    figures = Path(args.figures_dir)
    out = Path(args.out) if args.out else figures.resolve().parent / "runs" / "report"
    index = build_report(figures, out)
    print(f"[animelib] report written to {index}")
    return 0


def cmd_bench(args) -> int:
    import json

    from animelib.bench import MODELS, bench, describe, plain_dcgan

    switches = {k: v for k, v in (("amp", args.amp), ("channels_last", args.channels_last),
                                  ("compile", args.compile)) if v is not None}
    sizes = dict(profile=args.profile, device=args.device, batch_size=args.batch_size, steps=args.steps,
                 warmup=args.warmup)
    results = [bench(model, image_size=args.image_size, seed=args.seed, **sizes, **switches)
               for model in ([args.model] if args.model else MODELS)]
    if args.plain:
        results.append(plain_dcgan(**sizes))
    for r in results:
        print(json.dumps(r) if args.json else f"[animelib] {describe(r)}")
    return 0


def cmd_data(args) -> int:
    from animelib.data.download import download

    counts = download(args.name, args.to, limit=args.limit)
    for folder, n in counts.items():
        print(f"[animelib] {folder}: {n:,} images")
    return 0


VERBS = {"run": cmd_run, "train": cmd_train, "report": cmd_report, "bench": cmd_bench, "data": cmd_data}
