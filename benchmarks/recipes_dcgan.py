"""Training levers for the quick DCGAN, measured: a plain loop of the project's networks with one switch per lever.

    ANIMELIB_CACHE=/tmp/cache nice -n 5 python benchmarks/recipes_dcgan.py --name base
    ... --name amp-ema --amp --channels-last --ema 0.999 --steps 1152

Trains ``animelib.models.dcgan``'s Generator and Discriminator at the quick profile's widths on the quick data
(4,096 synthetic anime avatars), then measures ``--eval-n`` samples against as many held-out real avatars with
``animelib.metrics.quality_measures`` (C2ST, structure diversity, spectral distance, each with the real-vs-real
floor from a second held-out set). With ``--ema`` the raw generator is measured too (EMA changes no training step).
Writes ``benchmarks/recipes/<name>.png`` (an 8x8 grid of the sampled net) and appends one JSON line per run to
``benchmarks/recipes/results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.utils import save_image

from animelib.data import load_domain
from animelib.metrics import diversity_ratio, quality_measures, radial_power_spectrum, spectral_distance
from animelib.models.dcgan import Discriminator, Generator, generate, noise
from animelib.nets.blocks import ConvBlock, init_dcgan_weights, recalibrate_batchnorm
from animelib.recipes import EMA, apply_spectral_norm, diff_augment, init_upsampling_mix, r1_penalty

OUT = Path(__file__).resolve().parent / "recipes"


class WideExtraGenerator(Generator):
    """The report's generator with the extra size-preserving conv keeping ``ngf`` channels (ngf x 32 x 32), and the
    last transposed conv mapping ngf -> 3, as DCGAN code with extra layers usually reads "extra layer"."""

    def __init__(self, nz: int = 100, ngf: int = 64, last_init: str = "dcgan"):
        super().__init__(nz, ngf)
        self.net[4] = ConvBlock(ngf, ngf, 3, 1, 1, norm="batch", act="lrelu")  # (N, ngf, 32, 32)
        self.net[5] = ConvBlock(ngf, 3, 4, 2, 1, transposed=True, act="tanh")  # (N, 3, 64, 64)
        init_dcgan_weights(self.net[4:])
        if last_init == "upsampling":
            init_upsampling_mix(self.net[5][0])


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", help="run name: grid file and JSON row (required unless --table)")
    p.add_argument("--table", action="store_true", help="print results.jsonl as a markdown table and exit")
    p.add_argument("--steps", type=int, default=768, help="training steps (quick profile: 12 epochs x 64 = 768)")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many training seconds instead")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--ngf", type=int, default=32)
    p.add_argument("--ndf", type=int, default=16)
    p.add_argument("--lr-g", type=float, default=3e-4)
    p.add_argument("--lr-d", type=float, default=3e-4)
    p.add_argument("--beta1", type=float, default=0.5)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--real-label", type=float, default=0.9, help="BCE target for real images (1.0: no smoothing)")
    p.add_argument("--amp", action="store_true", help="bf16 autocast around the forward passes")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--ema", default="", help="EMA decays of G's weights for sampling, e.g. 0.995 or 0.99,0.999r "
                   "(r: ramped); each is measured (training is the same), the first one's samples make the grid")
    p.add_argument("--diffaug", default="", help="DiffAugment policy, e.g. color,translation,cutout")
    p.add_argument("--r1", type=float, default=0.0, help="R1 gamma (0: off)")
    p.add_argument("--r1-every", type=int, default=4, help="lazy R1: every k steps, weighted by k")
    p.add_argument("--sn", action="store_true", help="spectral norm on every D conv (batch norms removed)")
    p.add_argument("--wide-extra", action="store_true", help="extra layer keeps ngf channels (WideExtraGenerator)")
    p.add_argument("--last-init", default="dcgan", choices=["dcgan", "upsampling"],
                   help="wide extra layer: init of the last transposed conv (upsampling: init_upsampling_mix)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--eval-n", type=int, default=1000, help="samples measured against as many held-out avatars")
    p.add_argument("--probe-every", type=int, default=0, help="steps between cheap probes (spectral, diversity)")
    return p.parse_args(argv)


def build(args) -> tuple[Generator, Discriminator]:
    torch.manual_seed(args.seed)
    net_G = WideExtraGenerator(100, args.ngf, args.last_init) if args.wide_extra else Generator(100, args.ngf)
    net_D = Discriminator(args.ndf)
    if args.sn:
        apply_spectral_norm(net_D, remove_batchnorm=True)
    if args.channels_last:
        net_G, net_D = net_G.to(memory_format=torch.channels_last), net_D.to(memory_format=torch.channels_last)
    return net_G, net_D


def sampler(net_G: Generator, seed: int = 7) -> Generator:
    """``net_G`` in eval mode with exact batch-norm statistics (as the trainer samples)."""
    g = torch.Generator().manual_seed(seed)
    recalibrate_batchnorm(net_G, (torch.randn(64, 100, generator=g) for _ in range(8)))
    return net_G.eval()


def probe(net_G, real: np.ndarray) -> dict[str, float]:
    """Spectral distance and diversity of 500 samples: cheap enough to watch during training."""
    was_training = net_G.training
    fake = generate(sampler(net_G), noise(500, seed=99))
    net_G.train(was_training)
    return {"spectral": spectral_distance(fake, real[:500]), "diversity": diversity_ratio(fake, real[:500])}


def train(args, net_G, net_D, images: torch.Tensor, real_test: np.ndarray) -> dict:
    """The two-phase BCE loop of ``DCGANTrainer.train_step`` with the switches of ``args``; returns a summary."""
    opt_G = torch.optim.Adam(net_G.parameters(), args.lr_g, betas=(args.beta1, args.beta2))
    opt_D = torch.optim.Adam(net_D.parameters(), args.lr_d, betas=(args.beta1, args.beta2))
    emas = [EMA(net_G, float(d.rstrip("r")), ramp=d.endswith("r")) for d in args.ema.split(",") if d]
    g_data, g_noise, g_aug = (torch.Generator().manual_seed(args.seed + k) for k in (1, 2, 3))
    augment = (lambda x: diff_augment(x, args.diffaug, g_aug)) if args.diffaug else (lambda x: x)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if args.amp else nullcontext
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    bce = F.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(args.batch), torch.zeros(args.batch)
    order, pos, log, probes = torch.randperm(len(images), generator=g_data), 0, [], []
    start, step, probe_s = time.perf_counter(), 0, 0.0
    while step < args.steps and (args.seconds is None or time.perf_counter() - start - probe_s < args.seconds):
        if pos + args.batch > len(images):
            order, pos = torch.randperm(len(images), generator=g_data), 0
        real = images[order[pos:pos + args.batch]].permute(0, 3, 1, 2).float().div(127.5).sub(1)  # (B, 3, 64, 64)
        real, pos = real.contiguous(memory_format=fmt), pos + args.batch
        z = torch.randn(args.batch, 100, generator=g_noise)
        with autocast():
            fake = net_G(z)  # (B, 3, 64, 64)
            out_real, out_fake = net_D(augment(real)), net_D(augment(fake.detach()))
            loss_D = bce(out_real.float(), ones * args.real_label) + bce(out_fake.float(), zeros)
        if args.r1 and step % args.r1_every == 0:
            loss_D = loss_D + args.r1 / 2 * args.r1_every * r1_penalty(net_D, augment(real))
        opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        opt_D.step()
        with autocast():
            loss_G = bce(net_D(augment(fake)).float(), ones)
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        opt_G.step()
        for ema in emas:
            ema.update(net_G)
        step += 1
        if step % 16 == 0:
            d_x, d_g_z = (float(torch.sigmoid(out.detach().float()).mean()) for out in (out_real, out_fake))
            log.append([float(loss_D.detach()), float(loss_G.detach()), d_x, d_g_z])
            if step % 128 == 0:
                print(f"step {step} {time.perf_counter() - start:.0f} s loss_D {log[-1][0]:.3f} "
                      f"loss_G {log[-1][1]:.3f} D(x) {d_x:.2f} D(G(z)) {d_g_z:.2f}", flush=True)
        if args.probe_every and step % args.probe_every == 0:
            t_probe = time.perf_counter()
            probes.append({"step": step, **probe(net_G, real_test),
                           **{ema_name(e): probe(e.shadow, real_test) for e in emas}})
            probe_s += time.perf_counter() - t_probe
    train_s = time.perf_counter() - start - probe_s
    return {"steps": step, "train_s": train_s, "emas": emas, "log": np.array(log), "probes": probes}


def ema_name(ema: EMA) -> str:
    return f"ema{ema.decay}{'r' if ema.ramp else ''}"


BANDS = {"low": (1, 8), "mid": (9, 20), "high": (21, 32), "corner": (33, 45)}  # rings, cycles per image


def spectrum_bands(fake: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """Signed mean log ratio of the fake over the real power spectrum per band: > 0 too much power, < 0 too little."""
    ratio = np.log(radial_power_spectrum(fake) / radial_power_spectrum(real))  # (45,) rings 1..45
    bands = {band: round(float(ratio[lo - 1:hi].mean()), 3) for band, (lo, hi) in BANDS.items()}
    return {**bands, "abs_to_32": round(float(np.abs(ratio[:32]).mean()), 3)}  # without the corner rings


def measure(net_G, real: np.ndarray, floor: np.ndarray, n: int) -> tuple[dict, np.ndarray]:
    fake = generate(sampler(net_G), noise(n, seed=4321))  # (n, 64, 64, 3) uint8
    return {**quality_measures(fake, real[:n], floor_real=floor[:n]), "bands": spectrum_bands(fake, real[:n])}, fake


def save_grid(images: np.ndarray, path: Path) -> None:
    grid = torch.from_numpy(images[:64]).permute(0, 3, 1, 2).float() / 255  # (64, 3, 64, 64)
    save_image(grid, path, nrow=8, padding=2)


LEVERS = (("amp", "bf16"), ("channels_last", "cl"), ("wide_extra", "wide"), ("sn", "SN"), ("r1", "R1"))


def levers(args: dict) -> str:
    """The switches a run had on, in a few words."""
    on = [short for key, short in LEVERS if args.get(key)]
    if args.get("diffaug"):
        on.append(f"DiffAug {args['diffaug']}")
    if args.get("last_init") == "upsampling":
        on.append("up-init")
    if args.get("real_label") != 0.9:
        on.append(f"real label {args['real_label']}")
    if (args.get("lr_g"), args.get("lr_d"), args.get("beta2")) != (3e-4, 3e-4, 0.999):
        on.append(f"lr G {args['lr_g']:g} / D {args['lr_d']:g}, beta2 {args['beta2']}")
    return ", ".join(on) or "report (fp32)"


def table(path: Path = OUT / "results.jsonl") -> str:
    """One markdown row per run and sampled net (raw G, then each EMA): levers, steps, seconds, measures."""
    rows = ["| run | levers | steps | train s | sampled | spectral (floor) | to ring 32 | diversity (floor) "
            "| C2ST (floor) |", "|---|---|---|---|---|---|---|---|---|"]
    for line in path.read_text().splitlines():
        r = json.loads(line)
        for key in [k for k in r if k == "raw" or k.startswith("ema")]:
            m, to_32 = r[key], r[key].get("bands", {}).get("abs_to_32", "")
            rows.append(f"| {r['name']} | {levers(r['args'])} | {r['steps']} | {r['train_s']:.0f} | {key} | "
                        f"{m['spectral']:.3f} ({m['spectral_floor']:.3f}) | {to_32} | {m['diversity']:.3f} "
                        f"({m['diversity_floor']:.3f}) | {m['c2st']:.3f} ({m['c2st_floor']:.3f}) |")
    return "\n".join(rows)


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    if args.table:
        print(table())
        return None
    if not args.name:
        raise SystemExit("--name is required (or --table)")
    if args.threads:
        torch.set_num_threads(args.threads)
    train_set, test_set = load_domain("anime", 64, 4096, num_test=2 * args.eval_n, progress=False)
    images = torch.from_numpy(train_set.images)  # (4096, 64, 64, 3) uint8
    real, floor = test_set.images[:args.eval_n], test_set.images[args.eval_n:]
    net_G, net_D = build(args)
    run = train(args, net_G, net_D, images, real)
    t0 = time.perf_counter()
    raw, raw_fake = measure(net_G, real, floor, args.eval_n)
    result = {"name": args.name, "args": vars(args), "steps": run["steps"], "train_s": round(run["train_s"], 1),
              "raw": raw}
    shown = raw_fake
    for ema in run["emas"]:
        result[ema_name(ema)], fake = measure(ema.shadow, real, floor, args.eval_n)
        shown = fake if ema is run["emas"][0] else shown
    result["eval_s"] = round(time.perf_counter() - t0, 1)
    last = run["log"][-len(run["log"]) // 10:].mean(0) if len(run["log"]) else [None] * 4
    result["last_tenth"] = dict(zip(("loss_D", "loss_G", "D_x", "D_G_z"), map(float, last), strict=True))
    result["probes"], result["host"] = run["probes"], platform.node()
    result["torch_threads"] = torch.get_num_threads()
    OUT.mkdir(parents=True, exist_ok=True)
    save_grid(shown, OUT / f"{args.name}.png")
    if run["emas"]:
        save_grid(raw_fake, OUT / f"{args.name}-raw.png")
    with open(OUT / "results.jsonl", "a") as f:
        f.write(json.dumps(result) + "\n")
    pick = result[ema_name(run["emas"][0])] if run["emas"] else raw
    print(f"{args.name}: {run['steps']} steps, {run['train_s']:.0f} s; spectral {pick['spectral']:.3f} "
          f"(floor {pick['spectral_floor']:.3f}), diversity {pick['diversity']:.3f} "
          f"(floor {pick['diversity_floor']:.3f}), C2ST {pick['c2st']:.3f} (floor {pick['c2st_floor']:.3f}); "
          f"raw G spectral {raw['spectral']:.3f} diversity {raw['diversity']:.3f} C2ST {raw['c2st']:.3f}")
    return result


if __name__ == "__main__":
    main()
