"""Does the content loss keep content across styles, and what does content-only pre-training through it give?

    ANIMELIB_CACHE=/tmp/cache python benchmarks/content_network_check.py [--steps 320] [--budget standard]

1. Content distances on held-out pairs (8,500,000+, 64 px): mean L1 between feature maps of a face's photo and
   its own anime rendering, against another face's, for the trained synthetic network, the old random conv2_2
   substitute, random conv4_4 and raw pixels.
2. CartoonGAN's generator at the quick profile's widths, ``--steps`` steps of batch 8 of content loss alone
   through each network (640 training photos, 1,000,000+), then on the 64 test photos (9,000,000+):
   SSIM to the input and to the anime truth, landmark error and attribute preservation by the evaluators.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from animelib.data import labels as lb
from animelib.data.synthetic import render_set
from animelib.models.cartoongan import Generator
from animelib.nets import evaluators as ev
from animelib.nets import vgg
from animelib.stats import per_image_landmark_error, per_image_ssim


def random_layers(width: float, depth: int | None, seed: int = 19) -> nn.Sequential:
    """VGG19 layers with random weights, as the old substitute drew them (depth 8 = up to conv2_2)."""
    g = torch.Generator().manual_seed(seed)
    layers = vgg.vgg_layers(width)[:depth] if depth else vgg.vgg_layers(width)
    for m in layers.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=g)
            nn.init.zeros_(m.bias)
    return layers


def to_tensor(images) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1  # (N, 3, S, S) in [-1, 1]


def pretrain(features: nn.Module, photos: torch.Tensor, steps: int) -> Generator:
    """Content-only pre-training as CartoonGANTrainer does it (weight 10, Adam 2e-4, betas 0.5/0.999)."""
    torch.manual_seed(0)
    G = Generator(16, 8)
    opt = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        a = photos[torch.randint(0, len(photos), (8,), generator=g)]
        with torch.no_grad():
            target = features(a)
        loss = 10 * F.l1_loss(features(G(a)), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return G.eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=320)
    parser.add_argument("--budget", default="standard", help="of the synthetic network and the evaluators")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (one is fastest on a busy machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    width = 0.25 if args.budget == "standard" else 0.125
    nets = {"trained synthetic conv4_4": vgg.load_synthetic_vgg(width, args.budget, progress=False),
            "random conv2_2 (old substitute)": vgg.VGGFeatures(random_layers(width, 8), True, "random conv2_2"),
            "random conv4_4": vgg.VGGFeatures(random_layers(width, None), True, "random conv4_4")}
    photos, anime = render_set("photo", 256, 64, start=vgg.SYNTHETIC_HELD_OUT_OFFSET, progress=False)[0], \
        render_set("anime", 256, 64, start=vgg.SYNTHETIC_HELD_OUT_OFFSET, progress=False)[0]
    p, a = (torch.from_numpy(x).permute(0, 3, 1, 2) for x in (photos, anime))
    print("| features | paired L1 | unrelated L1 | paired / unrelated |\n|---|---|---|---|")
    for name, f in {**nets, "pixels": nn.Identity()}.items():
        d = vgg.content_distances(f, p, a)
        print(f"| {name} | {d['paired_l1']:.3f} | {d['unrelated_l1']:.3f} | {d['ratio']:.3f} |")

    train = to_tensor(render_set("photo", 640, 64, start=1_000_000, progress=False)[0])
    test, marks = render_set("photo", 64, 64, start=9_000_000, progress=False)
    truth = render_set("anime", 64, 64, start=9_000_000, progress=False)[0]
    lm, at = ev.load_landmark_evaluator(args.budget, progress=False), ev.load_attribute_evaluator(args.budget,
                                                                                                  progress=False)
    labels = lb.attribute_table(64, 9_000_000)
    print(f"\n{args.steps} content-only steps | SSIM(G(A), A) | SSIM(G(A), truth) | landmark error px | attributes")
    print("|---|---|---|---|---|")
    for name, f in nets.items():
        G = pretrain(f, train, args.steps)
        with torch.no_grad():
            out = G(to_tensor(test))
        images = ((out.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        print(f"| {name} | {per_image_ssim(images, test).mean():.3f} | {per_image_ssim(images, truth).mean():.3f} | "
              f"{per_image_landmark_error(ev.predict_landmarks(lm, images), marks).mean():.2f} | "
              f"{ev.attribute_preservation(images, labels, at)['mean']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
