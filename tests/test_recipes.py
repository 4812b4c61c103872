"""Training levers (animelib.recipes): EMA math and resume, R1, the checkerboard-free up-sampling start, and the
generators' colour filters (ChromaBlur, ChromaMedian)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from animelib.losses import total_variation
from animelib.models.dcgan import Discriminator, Generator
from animelib.nets.blocks import LUMA_RGB, ChromaBlur, ChromaMedian, NearestUpsample, chroma, colour_filter
from animelib.recipes import EMA, init_upsampling_mix, r1_penalty


def test_ema_follows_the_moving_average_with_a_ramped_decay():
    net = nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema, plain = EMA(net, decay=0.8, ramp=True), EMA(net, decay=0.8)
    expected = expected_plain = torch.zeros(1, 2)
    for k, value in enumerate([1.0, 2.0, 3.0, 4.0] * 10):
        with torch.no_grad():
            net.weight.fill_(value)
        decay = min(0.8, (1 + k) / (10 + k))
        assert ema.current_decay() == pytest.approx(decay)
        ema.update(net)
        plain.update(net)
        expected = decay * expected + (1 - decay) * value
        expected_plain = 0.8 * expected_plain + 0.2 * value
    assert torch.allclose(ema.shadow.weight, expected) and torch.allclose(plain.shadow.weight, expected_plain)
    assert ema.current_decay() == 0.8 and not ema.shadow.weight.requires_grad
    assert not torch.allclose(ema.shadow.weight, net.weight)  # an average, not a copy


def test_ema_copies_buffers_recalibrates_batchnorm_and_resumes():
    torch.manual_seed(0)
    net_G = Generator(nz=100, ngf=8)
    ema = EMA(net_G, decay=0.99, ramp=True)
    net_G(torch.randn(4, 100))  # a training-mode forward moves the live running statistics
    ema.update(net_G)
    live_means = [m.running_mean for m in net_G.modules() if isinstance(m, nn.BatchNorm2d)]
    shadow_means = [m.running_mean for m in ema.shadow.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(live_means, shadow_means, strict=True))
    shadow = ema.recalibrate(torch.randn(16, 100) for _ in range(2))
    assert not shadow.training and not torch.equal(shadow_means[0], live_means[0])
    resumed = EMA(Generator(nz=100, ngf=8), decay=0.5)
    resumed.load_state_dict(ema.state_dict())
    assert resumed.decay == 0.99 and resumed.ramp and resumed.num_updates == 1
    z = torch.randn(3, 100)
    assert torch.equal(resumed.shadow.eval()(z), ema.shadow(z))
    with pytest.raises(ValueError, match="decay"):
        EMA(net_G, decay=1.0)


def test_r1_penalty_is_positive_and_differentiable_in_d():
    torch.manual_seed(0)
    net_D = Discriminator(ndf=8)
    real = torch.rand(4, 3, 64, 64) * 2 - 1
    penalty = r1_penalty(net_D, real)
    assert penalty.dim() == 0 and penalty > 0
    penalty.backward()
    grads = [p.grad for p in net_D.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    assert not real.requires_grad  # the caller's batch is left alone


def test_upsampling_mix_starts_without_a_checkerboard():
    layer = nn.ConvTranspose2d(8, 3, 4, 2, 1)
    init_upsampling_mix(layer, generator=torch.Generator().manual_seed(0))
    flat = layer(torch.ones(1, 8, 6, 6))[0, :, 2:10, 2:10]  # (3, 8, 8) away from the border
    assert flat.std(dim=(1, 2)).max() < 1e-6 and flat.abs().max() > 1e-3  # constant in, constant out
    ramp = torch.arange(6.0).expand(1, 8, 6, 6)  # a smooth input stays smooth: no odd/even alternation
    out = layer(ramp)[0, 0, 4, 2:10]
    steps = out.diff()
    assert (steps * steps[0] > 0).all() and (steps - steps.mean()).abs().max() < 0.5 * steps.abs().mean()
    random = nn.ConvTranspose2d(8, 3, 4, 2, 1)
    assert random(torch.ones(1, 8, 6, 6))[0, :, 2:10, 2:10].std() > 1e-3  # the default init: a checkerboard
    with pytest.raises(ValueError, match="4x4 stride-2"):
        init_upsampling_mix(nn.ConvTranspose2d(8, 3, 3, 1, 1))


@pytest.mark.parametrize("channels_last", [False, True])
def test_nearest_upsample_gives_nn_upsample_numbers_bit_for_bit(channels_last):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 16, 12, 12, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    grad = torch.randn(4, 16, 24, 24, generator=g)
    ours, ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = NearestUpsample(2)(ours)
    assert torch.equal(out, nn.Upsample(scale_factor=2, mode="nearest")(ref))
    assert out.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    out.backward(grad)
    nn.Upsample(scale_factor=2, mode="nearest")(ref).backward(grad)
    assert torch.equal(ours.grad, ref.grad)  # same gradients, so training runs are unchanged by it


def test_chroma_blur_smooths_colour_and_keeps_brightness_and_flat_colour():
    blur = ChromaBlur(1 / 6)
    g = torch.Generator().manual_seed(0)
    confetti = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    out = blur(confetti)
    luma = torch.tensor(LUMA_RGB)
    assert torch.allclose(torch.einsum("c,nchw->nhw", luma, out), torch.einsum("c,nchw->nhw", luma, confetti),
                          atol=1e-5)  # brightness passes untouched
    assert total_variation(chroma(out)) < 0.5 * total_variation(chroma(confetti))  # colour speckle halved or better
    flat = torch.tensor([0.5, -0.2, 0.1]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    assert torch.allclose(blur(flat), flat, atol=1e-6)  # a flat colour, borders included, is left as it is
    edge = torch.zeros(1, 3, 8, 8)
    edge[:, 0, :, 4:] = 1.0  # a red half: the colour edge softens over one pixel either side, no further
    cr = chroma(blur(edge))[0, 1, 4]
    assert torch.allclose(cr[:3], cr.new_zeros(3), atol=1e-6) and torch.allclose(cr[5:], cr[5:6].expand(3))
    assert 0 < cr[3] < cr[4] < cr[5]
    x = confetti.clone().requires_grad_()
    blur(x).square().sum().backward()  # the generator learns through it
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="chroma_blur=0.4"):
        ChromaBlur(0.4)


def test_chroma_median_removes_colour_specks_and_keeps_brightness_and_colour_edges():
    median = ChromaMedian(3)
    luma = torch.tensor(LUMA_RGB)
    confetti = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = median(confetti)
    assert torch.allclose(torch.einsum("c,nchw->nhw", luma, out), torch.einsum("c,nchw->nhw", luma, confetti),
                          atol=1e-5)  # brightness passes untouched
    assert total_variation(chroma(out)) < 0.6 * total_variation(chroma(confetti))
    speck = torch.zeros(1, 3, 8, 8)
    speck[:, 0, 3, 3] = 0.8  # a one-pixel red speck on grey: its colour goes, its brightness stays
    assert chroma(median(speck)).abs().max() < 1e-6
    assert torch.allclose(median(speck)[0, :, 3, 3], torch.full((3,), 0.8 * LUMA_RGB[0]), atol=1e-6)
    edge = torch.zeros(1, 3, 8, 8)
    edge[:, 0, :, 4:] = 1.0  # a red half: the colour edge stays where it is and as sharp (a blur would spread it)
    assert torch.allclose(median(edge), edge, atol=1e-6)
    x = confetti.clone().requires_grad_()
    median(x).square().sum().backward()  # the generator learns through it
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="chroma_median=4"):
        ChromaMedian(4)
    both = colour_filter(1 / 6, 3)  # blur first, then the median
    assert isinstance(both[0], ChromaBlur) and isinstance(both[1], ChromaMedian)
    assert colour_filter(0.0, 0) is None and isinstance(colour_filter(0.0, 5), ChromaMedian)


def test_a_run_that_sampled_in_its_photos_colour_loads_without_that_lever():
    """input_colour acted at sampling only, so a run folder whose config.json names it at any value still loads."""
    from animelib.models.cyclegan import CycleGANConfig
    values = CycleGANConfig.from_profile("smoke").to_dict()
    assert "input_colour" not in values
    assert CycleGANConfig.from_dict({**values, "input_colour": 1.25}) == CycleGANConfig.from_profile("smoke")


def test_chroma_blur_is_the_generators_last_step_and_keeps_old_checkpoints_loadable():
    plain, blurred = Generator(ngf=8, extra_layer="wide"), Generator(ngf=8, extra_layer="wide", chroma_blur=1 / 6)
    assert plain.chroma is None and isinstance(blurred.chroma, ChromaBlur)
    blurred.load_state_dict(plain.state_dict())  # the fixed filter adds no weights to the checkpoint
    plain.eval(), blurred.eval()
    z = torch.randn(4, 100, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(blurred(z), blurred.chroma(plain(z)), atol=1e-6)
