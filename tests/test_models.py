"""Network shapes against the report's text (every intermediate shape) and basic properties."""

import pytest
import torch

from animelib.models import cartoongan, cyclegan, dcgan
from animelib.nets.blocks import ResidualBlock, count_parameters, layer_table


def shapes(rows):
    return [r["out"] for r in rows[1:]]


def test_dcgan_generator_shapes_are_the_reports():
    rows = layer_table(dcgan.Generator(), (2, 100))
    assert shapes(rows) == [(512, 4, 4), (256, 8, 8), (128, 16, 16), (64, 32, 32), (3, 32, 32), (3, 64, 64)]
    assert [r["post"] for r in rows[1:]] == ["BN, LReLU"] * 5 + ["Tanh"]  # BN + leaky ReLU but the last
    assert rows[5]["kind"] == "Conv" and rows[5]["s"] == 1  # the size-preserving "extra layer"


def test_dcgan_generator_accepts_both_noise_shapes():
    g = dcgan.Generator().eval()
    z = torch.randn(3, 100)
    a, b = g(z), g(z[:, :, None, None])
    assert a.shape == (3, 3, 64, 64)
    assert torch.equal(a, b)
    assert a.abs().max() <= 1


def test_dcgan_discriminator_shapes_are_the_reports():
    d = dcgan.Discriminator()
    rows = layer_table(d, (2, 3, 64, 64))
    assert shapes(rows) == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 4, 4), (1, 1, 1)]
    assert not any(isinstance(m, torch.nn.Linear) for m in d.modules())  # no fully connected layer
    assert d(torch.randn(5, 3, 64, 64)).shape == (5,)


def test_narrow_dcgan_keeps_the_layout():
    rows = layer_table(dcgan.Generator(ngf=8), (1, 100))
    assert shapes(rows) == [(64, 4, 4), (32, 8, 8), (16, 16, 16), (8, 32, 32), (3, 32, 32), (3, 64, 64)]
    assert count_parameters(dcgan.Generator(ngf=8)) < count_parameters(dcgan.Generator()) / 20


@pytest.mark.parametrize("size", [64, 128])
def test_cyclegan_shapes(size):
    g, d = cyclegan.Generator(ngf=8), cyclegan.Discriminator(ndf=8)
    x = torch.randn(2, 3, size, size)
    rows = layer_table(g, tuple(x.shape))
    assert g(x).shape == x.shape
    strides = [r["s"] for r in rows[1:] if r["kind"] == "Conv" and r["s"] == 2]
    assert len(strides) == 2  # two stride-2 down-sampling convs
    assert sum(r["kind"] == "ConvT" and r["s"] == 2 for r in rows) == 2  # two stride-2 up-sampling layers
    assert sum(isinstance(m, ResidualBlock) for m in g.modules()) == 4
    assert rows[-1]["post"] == "Tanh"
    out = d(x)
    assert out.shape == (2, 1, size // 8, size // 8) and out[0].numel() > 1  # patch output


def test_cyclegan_has_fewer_channels_than_dcgan():
    widest = max(m.out_channels for m in cyclegan.Generator().modules() if isinstance(m, torch.nn.Conv2d))
    assert widest < 512  # DCGAN's widest layer


@pytest.mark.parametrize("size", [64, 128])
def test_cartoongan_shapes(size):
    g, d = cartoongan.Generator(ngf=8), cartoongan.Discriminator(ndf=8)
    x = torch.randn(2, 3, size, size)
    assert g(x).shape == x.shape
    assert sum(isinstance(m, ResidualBlock) for m in g.modules()) == 8
    rows = layer_table(g, tuple(x.shape))
    assert sum(r["kind"] == "Conv" and r["s"] == 2 for r in rows) == 2
    assert sum(r["kind"] == "ConvT" for r in rows) == 2
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 7 and sum(c.stride == (2, 2) for c in convs) == 2
    assert d(x).shape == (2, 1, size // 4, size // 4)


def test_residual_block_preserves_shape_and_adds():
    block = ResidualBlock(16)
    for p in block.body.parameters():
        torch.nn.init.zeros_(p)
    x = torch.randn(2, 16, 8, 8)
    assert torch.allclose(block(x), x)  # zero body: identity
