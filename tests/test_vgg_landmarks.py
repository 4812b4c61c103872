"""VGG19 weights both ways, the extra losses, and the landmark regressor's accuracy."""

import pytest
import torch

from animelib import utils
from animelib.errors import WeightsUnavailableError
from animelib.losses import ExtraLosses, grayscale
from animelib.models.cartoongan import CartoonGANConfig
from animelib.models.cyclegan import CycleGANConfig
from animelib.nets import vgg


def test_vgg_weights_from_a_cache_built_by_the_test(tmp_path, monkeypatch):
    from animelib.nets.frozen import file_sha256

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(3)
    layers = vgg.vgg_layers()
    path = tmp_path / "hub" / "checkpoints" / vgg.VGG19_FILE
    path.parent.mkdir(parents=True)
    # torchvision's file holds "features.N.weight" keys (and a classifier we do not need)
    torch.save({f"features.{k}": v for k, v in layers.state_dict().items()}, path)
    feats = vgg.load_vgg19(CartoonGANConfig.from_profile("full"))
    assert not feats.synthetic and vgg.VGG19_FILE in feats.note
    assert feats.weights_file == str(path.resolve()) and feats.weights_sha256 == file_sha256(path)
    assert torch.equal(feats.layers[25].weight, layers[25].weight)  # conv4_4
    assert not any(p.requires_grad for p in feats.parameters())  # frozen
    assert feats(torch.zeros(1, 3, 64, 64)).shape == (1, 512, 8, 8)


def test_vgg_weights_absent_and_not_allowed_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match="(?s)vgg19-dcbb9e9d.pth.*IMAGENET1K_V1.*allow-substitute"):
        vgg.load_vgg19(CartoonGANConfig.from_profile("full"))


def test_vgg_synthetic_network_when_allowed_is_loud_cached_and_keeps_content(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cfg = CartoonGANConfig.from_profile("smoke")
    state = torch.get_rng_state()
    monkeypatch.setattr(utils, "_said", set())
    monkeypatch.setenv("ANIMELIB_OFFLINE", "1")
    a = vgg.load_vgg19(cfg)
    assert torch.equal(state, torch.get_rng_state())  # the caller's RNG is untouched, even when it trains
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "VGG19-shaped network trained on synthetic avatars" in err
    assert "downloads are switched off" in err and "urlopen" not in err
    b = vgg.load_vgg19(cfg)  # from the cache this time: the same file and weights, and the note not again
    assert capsys.readouterr().err == ""
    assert a.synthetic and a.note == vgg.SYNTHETIC_NOTE and "ImageNet VGG19" in a.note
    assert a.weights_file == b.weights_file and "content-networks" in a.weights_file
    assert torch.equal(a.layers[0].weight, b.layers[0].weight)
    assert not any(p.requires_grad for p in a.parameters())
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert a(x).shape[1:] == (max(8, round(512 * cfg.vgg_width)), 4, 4)  # conv4_4
    # photo and anime renderings of one face are closer in its features than unrelated faces (smoke: 0.6)
    assert a.held_out["ratio"] < 0.85


def test_folded_batch_norm_is_the_same_function():
    torch.manual_seed(0)
    layers = vgg.vgg_layers(0.125, batch_norm=True)
    layers.train()
    with torch.no_grad():
        for _ in range(3):  # give the batch norms running statistics that are not the identity
            layers(torch.randn(8, 3, 32, 32) * 2 + 0.5)
    layers.eval()
    plain = vgg.fold_batch_norm(layers, 0.125)
    x = torch.randn(4, 3, 32, 32)
    assert len(plain) == len(vgg.vgg_layers(0.125))  # torchvision's indices again
    assert torch.allclose(plain(x), layers(x), atol=1e-4)


@pytest.mark.slow  # trains the standard-budget regressor
def test_landmark_regressor_is_accurate_on_held_out_faces():
    from animelib.metrics import landmark_error
    from animelib.nets.landmarks import HELD_OUT_OFFSET, _data, load_regressor

    net = load_regressor()
    assert net.held_out_error < 1.5  # pixels at 32 px (measured: about 0.8)
    x, y = _data(64, 128, HELD_OUT_OFFSET + 1000, progress=False)
    with torch.no_grad():
        err = landmark_error(net(x.float() / 127.5 - 1), y)
    assert err < 3.0  # pixels at 64 px (measured: about 1.7), for faces the regressor never saw


def test_extra_losses_on_hand_made_inputs(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cfg = CycleGANConfig.from_profile("smoke", landmark_loss=True, color_loss=True, gray_loss=True,
                                      landmark_weight=2.0, color_weight=3.0, gray_weight=0.5)
    feats = vgg.load_vgg19(cfg)
    extra = ExtraLosses(cfg, torch.device("cpu"), feats, progress=False)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    same = extra.terms(x, x, x)
    assert set(same) == {"loss_landmark", "loss_gray", "loss_color"}
    assert float(same["loss_landmark"]) == 0 and float(same["loss_color"]) == 0
    # the grayscale loss compares the output's Gram matrices with those of the grey target style
    assert float(extra.terms(x, grayscale(x), x)["loss_gray"]) == pytest.approx(0.0, abs=1e-7)
    assert float(extra.terms(x, x, x)["loss_gray"]) > 0
    shifted = extra.terms(x, torch.roll(x, 6, dims=3), x)
    assert float(shifted["loss_landmark"]) > 0.5  # moved features: the landmarks move
    terms = {"loss_landmark": torch.tensor(1.0), "loss_gray": torch.tensor(1.0), "loss_color": torch.tensor(1.0)}
    assert float(extra.weighted(terms)) == pytest.approx(2.0 + 0.5 + 3.0)


def test_a_note_is_said_once_across_the_processes_of_one_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(utils, "_said", set())
    monkeypatch.setenv(utils.NOTES_DIR_ENV, str(tmp_path))
    assert utils.say_once("first")
    monkeypatch.setattr(utils, "_said", set())  # another process of the same run: the marker is there
    assert not utils.say_once("first")
    assert capsys.readouterr().err == "first\n"


def test_the_offline_reason_is_plain_words(monkeypatch):
    import urllib.error

    monkeypatch.delenv("ANIMELIB_OFFLINE", raising=False)

    reason = vgg._plain_reason(urllib.error.URLError("[Errno -3] Temporary failure in name resolution"))
    assert "could not be downloaded" in reason and "Errno" not in reason


def test_a_failed_download_is_tried_once_per_process(tmp_path, monkeypatch):
    import urllib.error

    monkeypatch.delenv("ANIMELIB_OFFLINE", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty weights cache
    monkeypatch.setattr(vgg, "_failed_download", [])
    tries = []

    def refused(url, progress=True):
        tries.append(url)
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refused)
    for _ in range(3):
        with pytest.raises(urllib.error.URLError):
            vgg._imagenet_layers()
    assert tries == [vgg.VGG19_URL]
