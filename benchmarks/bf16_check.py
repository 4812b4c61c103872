"""Is bf16 autocast worth it on this CPU? One DCGAN training step at the quick widths, float32 against bf16.

Times a full step (G forward, D forward, backward, Adam) of ``animelib.models.dcgan``'s nets at the quick profile's
widths (ngf 32, ndf 16, batch 64) on one thread, alternating float32 and bf16 autocast so that a busy machine
slows both alike, and prints what oneDNN reports (``animelib.speed.cpu_bf16_is_native``): runs use amp on the
CPU only where it is native.

    PYTHONPATH=. python benchmarks/bf16_check.py [--rounds 2] [--steps 3]
"""

from __future__ import annotations

import argparse
import time


def seconds_per_step(amp: bool, steps: int, batch: int = 64) -> float:
    import torch

    from animelib.models.dcgan import Discriminator, Generator

    torch.manual_seed(0)
    G, D = Generator(ngf=32), Discriminator(ndf=16)
    opt = torch.optim.Adam([*G.parameters(), *D.parameters()])
    z = torch.randn(batch, 100)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = D(G(z)).float().mean()
        out.backward()
        opt.step()
        opt.zero_grad()

    step()  # warm-up: oneDNN picks its kernels
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="float32 / bf16 pairs timed (default 2)")
    parser.add_argument("--steps", type=int, default=3, help="steps per timing (default 3)")
    args = parser.parse_args(argv)
    import torch  # after parsing, so that --help answers at once

    from animelib.speed import cpu_bf16_is_native

    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"native bf16 (oneDNN): {cpu_bf16_is_native()}")
    for r in range(args.rounds):
        fp32, bf16 = seconds_per_step(False, args.steps), seconds_per_step(True, args.steps)
        print(f"round {r + 1}: float32 {fp32:.3f} s/step, bf16 autocast {bf16:.3f} s/step, bf16 / float32 "
              f"{bf16 / fp32:.2f}x the time")


if __name__ == "__main__":
    main()
