"""The training loop's overhead: animelib's DCGAN loop against a plain hand-written loop, same process.

    python benchmarks/loop_overhead.py [--profile quick] [--batch-size 64] [--rounds 12] [--steps 5]

Both loops are built once (same networks, float32, no speed switches); then rounds of ``--steps``
steps alternate between them (A B B A ...), so drifts of a shared machine hit both alike. Printed:
images/s of each and the median over rounds of (plain time / animelib time): above 1, animelib's
loop is the faster.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="quick", help="whose network widths and batch size (default quick)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args(argv)
    import torch  # after parsing, so that --help answers at once

    from animelib.bench import bench_config, plain_dcgan_step
    from animelib.models import spec
    from animelib.utils import select_device

    cfg = bench_config("dcgan", args.profile, args.device, args.batch_size, amp=False, channels_last=False,
                       compile=False)
    dev = select_device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = spec("dcgan").trainer_class(cfg, run_dir, progress=False)
        for net in trainer.nets.values():
            net.train()
        batches = trainer.endless_batches()
        plain = plain_dcgan_step(cfg, dev)
        loops = {"animelib": lambda: trainer.train_steps(itertools.islice(batches, args.steps)),
                 "plain": lambda: [plain() for _ in range(args.steps)]}
        for run in loops.values():  # warm-up
            run()
        times = {name: [] for name in loops}
        for r in range(args.rounds):
            for name in (("animelib", "plain") if r % 2 == 0 else ("plain", "animelib")):
                sync()
                start = time.perf_counter()
                loops[name]()
                sync()
                times[name].append(time.perf_counter() - start)
    images = cfg.batch_size * args.steps
    ratios = [p / a for p, a in zip(times["plain"], times["animelib"], strict=True)]
    print(f"DCGAN {args.profile} widths (ngf {cfg.ngf}, ndf {cfg.ndf}), batch {cfg.batch_size}, {dev}, "
          f"{torch.get_num_threads()} threads; {args.rounds} rounds of {args.steps} steps")
    for name, t in times.items():
        print(f"  {name:<9} {images / statistics.median(t):7.1f} images/s (median round)")
    q = statistics.quantiles(ratios, n=4)
    print(f"  plain time / animelib time: median {statistics.median(ratios):.3f} (quartiles {q[0]:.3f}-{q[2]:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
