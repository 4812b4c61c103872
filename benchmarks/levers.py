"""A lever of a profile measured on the validation split: the profile as it is against a variant, over seeds.

    python benchmarks/levers.py cyclegan --set chroma_median=0 [--profile quick] [--seeds 0 1 2] [--threads 1]

For each seed it trains the profile ("profile") and the profile with the --set values ("variant"), each in its
own run folder under --runs-dir (runs resume: a screen stopped half-way goes on where it stopped, and a profile run
serves every variant screened against it), then prints the last evaluation of each run per seed and the mean over
the seeds. Training evaluates itself on the validation split; for the translation models the screen adds the share
of validation translations in which the anime-face detector finds a face ("anime_face", real anime's share in
"anime_face_real"), the measure that tells drawn faces from blotches on real photos. This process sets
ANIMELIB_HIDE_TEST=1 before it imports animelib, so any read of the test split stops it with an error: recipes are
chosen on validation only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

# what each model's screen reports from the last `metrics` record of a run's history (lower is better unless +)
MEASURES = {"dcgan": ["spectral", "colour_spectral", "+diversity"],
            "cyclegan": ["A2B_l1", "+A2B_psnr", "+A2B_ssim", "spectral", "colour_spectral"],
            "cartoongan": ["A2B_l1", "+A2B_psnr", "+A2B_ssim", "spectral", "colour_spectral"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=tuple(MEASURES))
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", required=True,
                        help="the variant: fields changed from the profile, e.g. --set chroma_median=0 (repeatable)")
    parser.add_argument("--profile", default="quick", help="the profile screened (default quick)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    parser.add_argument("--epochs", type=int, default=None, help="override the profile's epochs (a shorter screen)")
    parser.add_argument("--data-dir", default=None, help="real folders (default: the embedded avatars)")
    parser.add_argument("--runs-dir", default="runs/levers", help="where the run folders go (default runs/levers)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    os.environ["ANIMELIB_HIDE_TEST"] = "1"  # before animelib is imported: no code below may read the test split
    import torch  # after parsing, so that --help answers at once

    from animelib.cli import parse_settings
    from animelib.compare import real_face_rate
    from animelib.data import load_translation_data
    from animelib.metrics import face_found
    from animelib.models import config_class, load_generator, train
    from animelib.runs import read_history
    from animelib.utils import translate_images

    if args.threads:
        torch.set_num_threads(args.threads)
    changes = parse_settings(args.set)
    overrides = dict(data_dir=args.data_dir, epochs=args.epochs)
    results: dict[str, list[dict[str, float]]] = {"profile": [], "variant": []}
    label = ",".join(f"{k}={v}" for k, v in changes.items())
    for seed in args.seeds:
        base = config_class(args.model).from_profile(args.profile, seed=seed, **overrides)
        data = "real" if args.data_dir else "synthetic"
        for name, cfg in (("profile", base), ("variant", base.replace(**changes))):
            which = "base" if name == "profile" else label
            folder = f"{args.runs_dir}/{args.model}-{args.profile}-{data}-{which}-s{seed}"
            print(f"[levers] seed {seed}: {name} -> {folder}", flush=True)
            train(cfg, folder, progress=False)
            metrics = [r for r in read_history(folder) if r.get("event") == "metrics"]
            row = {k.lstrip("+"): metrics[-1].get(k.lstrip("+"), float("nan")) for k in MEASURES[args.model]}
            if args.model != "dcgan":
                held = load_translation_data(cfg, progress=False, split="val")  # test_a/test_b hold validation
                outputs = translate_images(load_generator(folder), held.test_a.images)
                row["anime_face"] = float(face_found(outputs, "anime").mean())
                row["anime_face_real"] = real_face_rate(held)
            results[name].append(row)
    keys = list(results["profile"][0])
    print(f"\n{args.model} {args.profile}, validation split, seeds {args.seeds}: profile against {label}")
    print("| run | " + " | ".join(keys) + " |\n| --- |" + " --- |" * len(keys))
    for name, rows in results.items():
        for seed, row in zip(args.seeds, rows, strict=True):
            print(f"| {name} s{seed} | " + " | ".join(f"{row[k]:.4f}" for k in keys) + " |")
        print(f"| **{name} mean** | " + " | ".join(f"{statistics.fmean(r[k] for r in rows):.4f}" for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
