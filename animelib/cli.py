"""animelib: the companion of the report "Generating Anime Avatars Using GANs".

Run every notebook and regenerate the report's figures, train one model, build the reproduction report, time
the training steps, or download a public dataset. Every verb has --help with an example.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from animelib.bench import bench, describe, plain_dcgan
from animelib.config import PROFILES
from animelib.errors import AnimelibError, ConfigError
from animelib.models import MODELS, config_class, train

EXAMPLES = {
    "run": "python -m animelib run --profile quick --only dcgan 02",
    "train": "python -m animelib train cyclegan --profile smoke --epochs 2 --set lr=1e-4",
    "report": "python -m animelib report --figures-dir figures --out runs/report",
    "bench": "python -m animelib bench dcgan --profile full --batch-size 128 --amp --channels-last",
    "download": "python -m animelib data download anime-faces --to ~/data/avatars --limit 5000",
}


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=PROFILES, default="quick", help="smoke, quick (default) or full")
    p.add_argument("--data-dir", default=None,
                   help="folder with anime/, thumbs/, faces/ (default: the embedded synthetic avatars)")
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    p.add_argument("--seed", type=int, default=0)


def _verb(sub, name: str, help: str, example: str | None = None) -> argparse.ArgumentParser:
    """A sub-command whose --help ends with an example command."""
    return sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                          epilog=f"example:\n  {EXAMPLES[example or name]}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _add_crop(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crop", default=None, metavar="POLICY",
                   help="crop of real folders: auto (default: to the face unless the images already are face "
                        "crops), face, center, none, or per folder, e.g. thumbs=face,anime=none")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="animelib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="examples:\n" + "\n".join(f"  {e}" for e in EXAMPLES.values()))
    sub = parser.add_subparsers(dest="verb", required=True)

    p = _verb(sub, "run", "execute the notebooks headless (papermill), writing figures and a report")
    _add_common(p)
    p.add_argument("--only", nargs="+", metavar="NAME", help="notebooks to run, by name or number (e.g. dcgan 02)")
    p.add_argument("--figures-dir", default="figures", help="where figures and manifest.json go (default figures)")
    p.add_argument("--runs-dir", default="runs", help="run folders and executed notebooks (default runs)")
    p.add_argument("--seeds", type=int, default=1,
                   help="train each model with this many seeds (--seed, --seed + 1, ...) to measure the spread between "
                        "runs (default 1: the spread is not measured)")
    p.add_argument("--workers", type=int, default=None,
                   help="train what the notebooks will train in this many processes at once before they run "
                        "(default: 2 on a CPU with two or more cores, 1 on a GPU; 1: the notebooks train, one "
                        "after another)")
    _add_crop(p)

    p = _verb(sub, "train", "train one model without a notebook (resumes an existing run folder)")
    p.add_argument("model", choices=tuple(MODELS))
    _add_common(p)
    p.add_argument("--epochs", type=int, default=None, help="override the profile's number of epochs")
    p.add_argument("--run-dir", default=None, help="run folder (default runs/<model>-<profile>-s<seed>)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override any config field, e.g. --set lr=1e-4 --set amp=true (repeatable)")
    _add_crop(p)

    p = _verb(sub, "report", "build the reproduction report (index.html) from a figures folder")
    p.add_argument("--figures-dir", default="figures")
    p.add_argument("--out", default=None, help="output folder (default: <figures-dir>/../runs/report)")

    p = _verb(sub, "bench", "time the training steps on this machine (images/s, ms/step, peak memory)")
    p.add_argument("model", nargs="?", choices=tuple(MODELS), help="the model to time (default: all three)")
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

    p = _verb(sub, "data", "datasets: download a public set into DATA_DIR's layout", example="download")
    dsub = p.add_subparsers(dest="data_verb", required=True)
    d = _verb(dsub, "download", "download a public dataset into DATA_DIR's layout (needs internet)")
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


# run, report and data import their subsystem when they run (papermill, nbconvert, the hub's datasets):
# heavy imports that the other verbs and --help do not need.
def cmd_run(args) -> int:
    from animelib.notebooks import run_notebooks

    start = time.perf_counter()
    run_notebooks(args.profile, args.only, args.data_dir, args.figures_dir, args.runs_dir, args.device, args.seed,
                  crop=args.crop or "auto", seeds=args.seeds, workers=args.workers)
    print(f"[animelib] notebooks done in {time.perf_counter() - start:.0f} s; figures in {args.figures_dir}/")
    return 0


def cmd_train(args) -> int:
    settings = {"epochs": args.epochs, "data_dir": args.data_dir, "device": args.device, "seed": args.seed,
                "crop": args.crop, **parse_settings(args.set)}
    cfg = config_class(args.model).from_profile(args.profile, **settings)
    run_dir = Path(args.run_dir or Path("runs") / cfg.run_name)
    print(f"[animelib] training {cfg.MODEL} ({cfg.profile} profile, {cfg.epochs} epochs) in {run_dir}")
    start = time.perf_counter()
    trainer = train(cfg, run_dir, wait=False)  # a run folder in use: a clear error, not a silent wait
    for name, note in trainer.notes.items():
        print(f"[animelib] {Path(name).stem}: {note}")
    print(f"[animelib] {cfg.MODEL}: {trainer.epoch}/{cfg.epochs} epochs, {trainer.step} steps, "
          f"{time.perf_counter() - start:.0f} s; run folder {run_dir}")
    return 0


def parse_settings(items: list[str]) -> dict[str, object]:
    """``["lr=1e-4", "amp=true", "num_test=32"]`` to values (JSON where it parses, ``True``/``False`` as booleans,
    else the text)."""
    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--set {item!r}: expected NAME=VALUE, e.g. --set lr=1e-4")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:  # Python's spellings of the booleans count too (amp=False)
            value = {"true": True, "false": False}.get(text.strip().lower(), text)
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
