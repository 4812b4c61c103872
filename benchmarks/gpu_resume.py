"""Resume on the GPU: a short run killed after its first checkpoint, resumed on the GPU and once on the CPU.

    python benchmarks/gpu_resume.py --device cuda --out resume.json
    python benchmarks/gpu_resume.py --device cpu --out resume.json        # the CPU path of gpu_check.sh

Four runs of ``animelib train dcgan --profile smoke --epochs 3`` with the full profile's speed switches (bf16
autocast, channels-last), two at a time: one uninterrupted on the device beside one killed with SIGKILL right
after its first checkpoint (``ANIMELIB_FAULT=checkpoint:1``), whose folder is copied and then resumed twice
side by side, on the device and on the CPU. The device resume must equal the uninterrupted run within
``RTOL``/``ATOL``. Why that tolerance: both runs start the resumed epochs from the same checkpoint (weights,
optimizer moments, RNG states), so what differs is only the order of floating-point reductions that cuDNN's
autotuner picks in each process, rounded in bf16 (8 significant bits, a relative step of 2^-8 = 0.4 %); over
the eight resumed steps that stays well inside 2 %, while a resume that lost the optimizer moments or the RNG
state changes the losses by far more. The CPU resume cannot be compared step for step: on a GPU the training
noise is drawn by the CUDA generator, on the CPU by the CPU generator, so from the checkpoint on the two draw
different noise. For it the check is that the GPU checkpoint loads and training ends with each step once and
finite losses; the losses' distance is reported, not judged.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

RTOL, ATOL = 2e-2, 1e-3
TRAIN = ["-m", "animelib", "train", "dcgan", "--profile", "smoke", "--set", "amp=true", "--set", "channels_last=true"]


def train_together(jobs: dict[str, tuple[Path, str, str | None]], epochs: int) -> dict[str, int]:
    """Run ``name: (run folder, device, fault)`` trainings side by side; their exit codes by name."""
    procs = {}
    for name, (run_dir, device, fault) in jobs.items():
        env = {k: v for k, v in os.environ.items() if k != "ANIMELIB_FAULT"}
        if fault:
            env["ANIMELIB_FAULT"] = fault
        procs[name] = subprocess.Popen([sys.executable, *TRAIN, "--epochs", str(epochs), "--device", device,
                                        "--run-dir", str(run_dir)], env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
    codes = {}
    for name, proc in procs.items():
        output = proc.communicate(timeout=600)[0]
        codes[name] = proc.returncode
        if proc.returncode not in (0, -signal.SIGKILL):
            print(f"[resume] {name} failed:\n{output[-2000:]}", file=sys.stderr)
    return codes


def steps(run_dir: Path) -> list[dict]:
    from animelib.runs import read_history

    return [r for r in read_history(run_dir) if "event" not in r]


def loss_distance(got: list[dict], want: list[dict]) -> tuple[float, bool]:
    """The largest relative difference of any logged value, and whether all are within RTOL/ATOL."""
    worst, within = 0.0, True
    for a, b in zip(got, want, strict=True):
        for key, value in b.items():
            if isinstance(value, float):
                worst = max(worst, abs(a[key] - value) / max(abs(value), 1e-12))
                within &= math.isclose(a[key], value, rel_tol=RTOL, abs_tol=ATOL)
    return worst, within


def weight_distance(run_a: Path, run_b: Path) -> float:
    """The largest difference of any weight, relative to that tensor's largest magnitude."""
    from animelib.runs import read_checkpoint

    a, b = read_checkpoint(run_a / "checkpoints" / "last.pt"), read_checkpoint(run_b / "checkpoints" / "last.pt")
    return max(((a["nets"][n][k].float() - v.float()).abs().max() / v.float().abs().max().clamp_min(1e-12)).item()
               for n, net in b["nets"].items() for k, v in net.items() if v.is_floating_point())


def check(work: Path, device: str, epochs: int) -> dict:
    from animelib.runs import read_history  # imported here, so that --help answers at once

    reference, killed, cpu = work / "uninterrupted", work / "resumed", work / "resumed-on-cpu"
    codes = train_together({"uninterrupted": (reference, device, None), "killed": (killed, device, "checkpoint:1")},
                           epochs)
    shutil.copytree(killed, cpu)
    codes.update(train_together({"resumed": (killed, device, None), "resumed on cpu": (cpu, "cpu", None)}, epochs))
    result = {"device": device, "codes": codes, "rtol": RTOL, "atol": ATOL}
    if codes != {"uninterrupted": 0, "killed": -signal.SIGKILL, "resumed": 0, "resumed on cpu": 0}:
        return {**result, "ok": False}
    for name, run in (("resumed", killed), ("resumed on cpu", cpu)):
        logged = [r["step"] for r in steps(run)]
        resumes = [r["epoch"] for r in read_history(run) if r.get("event") == "resume"]
        result[name] = {"each step once": logged == [r["step"] for r in steps(reference)], "resumed after": resumes,
                        "finite": all(math.isfinite(v) for r in steps(run) for v in r.values()
                                      if isinstance(v, float))}
    worst, within = loss_distance(steps(killed), steps(reference))
    result["resumed"].update(max_relative_loss_difference=worst, within_tolerance=within,
                             max_relative_weight_difference=weight_distance(killed, reference))
    result["resumed on cpu"]["max_relative_loss_difference"] = loss_distance(steps(cpu), steps(reference))[0]
    result["ok"] = (within and all(result[n]["each step once"] and result[n]["finite"] and result[n]["resumed after"]
                                   == [1] for n in ("resumed", "resumed on cpu")))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--epochs", type=int, default=3, help="of the smoke run (killed after the first)")
    parser.add_argument("--out", default="resume.json", help="the result as JSON (default resume.json)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        result = check(Path(work), args.device, args.epochs)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    resumed = result.get("resumed", {})
    print(f"[resume] {'OK' if result['ok'] else 'FAILED'} on {args.device}: exit codes {result['codes']}; resumed "
          f"run vs uninterrupted: largest relative loss difference {resumed.get('max_relative_loss_difference')}, "
          f"weights {resumed.get('max_relative_weight_difference')} (tolerance rtol {RTOL}, atol {ATOL}); CPU "
          f"resume: {result.get('resumed on cpu')}", flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
