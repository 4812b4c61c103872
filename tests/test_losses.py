"""Losses on hand-computed inputs, and the image pool."""

import pytest
import torch
import torch.nn.functional as F

from animelib.losses import ImagePool, color_loss, gan_loss, gram_matrix, grayscale, rgb_to_yuv, style_loss
from animelib.models.cyclegan import LOSS_NAMES, CycleGANConfig, generator_loss


def test_cyclegan_weights_5_1_10_by_hand():
    cfg = CycleGANConfig.from_profile("smoke")
    parts = dict(zip(LOSS_NAMES, map(torch.tensor, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), strict=True))
    # identity (0.1 + 0.2) * 5 + GAN (0.3 + 0.4) * 1 + cycle (0.5 + 0.6) * 10 = 1.5 + 0.7 + 11
    assert float(generator_loss(parts, cfg)) == pytest.approx(13.2)
    cfg2 = cfg.replace(lambda_cycle=0.0)
    assert float(generator_loss(parts, cfg2)) == pytest.approx(2.2)


def test_gan_losses():
    logits = torch.tensor([0.0, 2.0])
    assert float(gan_loss(logits, True)) == pytest.approx(((0 - 1) ** 2 + (2 - 1) ** 2) / 2)
    assert float(gan_loss(logits, False)) == pytest.approx((0 + 4) / 2)
    expected = -(torch.log(torch.sigmoid(torch.tensor(0.0))) + torch.log(torch.sigmoid(torch.tensor(2.0)))) / 2
    assert float(gan_loss(logits, True, "bce")) == pytest.approx(float(expected))


def test_gram_matrix_by_hand():
    f = torch.tensor([[1.0, 2.0], [0.0, 1.0]]).view(1, 2, 1, 2)  # C=2, H*W=2
    g = gram_matrix(f)[0]
    assert torch.allclose(g, torch.tensor([[5.0, 2.0], [2.0, 1.0]]) / 4)
    assert float(style_loss(f, f)) == 0
    assert float(style_loss(f, 2 * f)) == pytest.approx(float((4 * g - g).abs().mean()))


def test_grayscale_and_yuv():
    red = torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1)  # pure red in [-1, 1]
    assert torch.allclose(grayscale(red), torch.full((1, 3, 1, 1), 0.299 - 0.587 - 0.114))
    yuv = rgb_to_yuv(red)[0, :, 0, 0]
    assert yuv[0] == pytest.approx(0.299) and yuv[2] == pytest.approx(0.615, abs=1e-3)
    white = torch.ones(1, 3, 1, 1)
    assert rgb_to_yuv(white)[0, :, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-6)


def test_color_loss_by_hand():
    a = torch.zeros(1, 3, 2, 2)
    assert float(color_loss(a, a)) == 0
    b = a + 0.2  # brighter grey: only Y changes, by 0.1 on [0, 1]
    assert float(color_loss(a, b)) == pytest.approx(0.1, abs=1e-6)
    c = a.clone()
    c[:, 0] = 1.0  # more red: U and V change too
    yuv = rgb_to_yuv(c) - rgb_to_yuv(a)
    expected = yuv[:, 0].abs().mean() + F.huber_loss(yuv[:, 1], torch.zeros_like(yuv[:, 1])) + \
        F.huber_loss(yuv[:, 2], torch.zeros_like(yuv[:, 2]))
    assert float(color_loss(a, c)) == pytest.approx(float(expected))


def test_pool_fills_then_returns_stored_images_half_the_time():
    pool = ImagePool(4)
    gen = torch.Generator().manual_seed(0)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first, gen), first)  # filling: returned as they are
    assert len(pool.images) == 4
    swapped, total = 0, 2000
    for i in range(total):
        new = torch.full((1, 1, 1, 1), 100.0 + i)
        out = pool.query(new, gen)
        swapped += int(out.item() != new.item())
    assert len(pool.images) == 4
    assert 0.45 < swapped / total < 0.55


def test_pool_state_round_trip():
    pool = ImagePool(3)
    pool.query(torch.randn(2, 3, 4, 4))
    again = ImagePool(0)
    again.load_state_dict(pool.state_dict())
    assert again.size == 3 and len(again.images) == 2
    assert torch.equal(torch.stack(again.images), torch.stack(pool.images))
    empty = ImagePool(5)
    empty.load_state_dict(ImagePool(5).state_dict())
    assert empty.images == []
