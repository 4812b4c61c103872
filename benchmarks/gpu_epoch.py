"""One epoch of the full DCGAN profile, timed end to end, on data rendered on every core of the machine.

    python benchmarks/gpu_epoch.py --device cuda --out epoch.json          # as many avatars as render in 60 s
    python benchmarks/gpu_epoch.py --device cpu --profile smoke --images 128 --out epoch.json   # the CPU path

The avatars (up to the report's 115,087) are rendered by a pool of processes into the cache the trainer reads
(``fast_render``); then the real trainer is built (data to the device, nets, optimizers) and trained for
``--epochs`` epochs, each timed end to end: every step, the epoch's samples and its checkpoint. The metrics,
which the full profile evaluates every fifth epoch, are left out (the run stops before its last epoch). From
the last (warm) epoch: images/s, and the time of the report's 100 epochs of 115,087 images at that speed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

# torch, animelib and fast_render (beside this script) are imported where they are used, so that --help answers
# at once
if TYPE_CHECKING:
    import torch

    from animelib.models.dcgan import DCGANConfig

REPORT_IMAGES, REPORT_EPOCHS = 115_087, 100


def synchronize(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_epochs(cfg: DCGANConfig, run_dir: Path, epochs: int) -> dict:
    """Build the trainer and time each of ``epochs`` epochs (seconds per epoch, peak device memory)."""
    import torch

    from animelib.models import spec

    begin = time.perf_counter()
    trainer = spec("dcgan").trainer_class(cfg, run_dir, progress=False)
    device = trainer.device
    synchronize(device)
    build = time.perf_counter() - begin
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = []
    for epoch in range(1, epochs + 1):
        begin = time.perf_counter()
        trainer.fit(stop_at_epoch=epoch)
        synchronize(device)
        seconds.append(time.perf_counter() - begin)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {"device": str(device), "device_name": name, "build_seconds": round(build, 2),
            "epoch_seconds": [round(s, 3) for s in seconds], "steps_per_epoch": trainer.steps_per_epoch(),
            "peak_memory_mib": round(peak, 1) if peak is not None else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--profile", default="full", help="whose widths, batch size and switches (default full)")
    parser.add_argument("--images", type=int, default=None,
                        help=f"training images (default: as many as render in --render-seconds, at most "
                             f"{REPORT_IMAGES:,})")
    parser.add_argument("--render-seconds", type=float, default=60.0)
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed; the last is the warm one")
    parser.add_argument("--out", default="epoch.json", help="the result as JSON (default epoch.json)")
    args = parser.parse_args(argv)
    import fast_render

    from animelib.models.dcgan import DCGANConfig

    fast_render.install()
    rate = None
    if args.images is None:  # as many as render in --render-seconds (the parallel render checked first)
        fast_render.check_same_as_serial()
        rate = fast_render.rate_per_second(64)
    n = args.images or min(REPORT_IMAGES, int(rate * args.render_seconds))
    cfg = DCGANConfig.from_profile(args.profile, device=args.device, num_train=n, epochs=args.epochs + 1,
                                   metrics_every=1000)
    with tempfile.TemporaryDirectory() as run_dir:
        result = timed_epochs(cfg, Path(run_dir), args.epochs)
    images_per_epoch = result["steps_per_epoch"] * cfg.batch_size
    warm = images_per_epoch / result["epoch_seconds"][-1]
    result.update(profile=cfg.profile, batch_size=cfg.batch_size, amp=cfg.amp, channels_last=cfg.channels_last,
                  images=n, render_workers=fast_render.workers(),
                  render_images_per_second=round(rate, 1) if rate else None,
                  render_seconds=round(fast_render.STATS["seconds"], 2), images_per_second=round(warm, 1),
                  report_minutes=round(REPORT_EPOCHS * REPORT_IMAGES / warm / 60, 2),
                  note="metrics (every 5th epoch in the full profile) not included")
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"[epoch] {n:,} avatars rendered on {fast_render.workers()} cores ({rate or 0:.0f} images/s); DCGAN "
          f"{cfg.profile}, batch {cfg.batch_size}, on {result['device_name']}: epochs of "
          f"{', '.join(f'{s:.2f}' for s in result['epoch_seconds'])} s, {warm:,.0f} images/s warm, peak "
          f"{result['peak_memory_mib'] or 'n/a'} MiB; the report's {REPORT_EPOCHS} epochs of {REPORT_IMAGES:,} images: "
          f"{result['report_minutes']:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
