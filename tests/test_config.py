import dataclasses
import json

import pytest

from animelib.errors import ConfigError
from animelib.models import config_class
from animelib.models.cartoongan import CartoonGANConfig
from animelib.models.cyclegan import CycleGANConfig
from animelib.models.dcgan import DCGANConfig


def test_profiles_build_and_differ():
    smoke, quick, full = (DCGANConfig.from_profile(p) for p in ("smoke", "quick", "full"))
    assert smoke.epochs < quick.epochs < full.epochs == 100
    assert (full.batch_size, full.lr, full.ngf, full.ndf, full.nz) == (128, 3e-4, 64, 64, 100)
    assert full.num_train == 115_087


def test_report_hyperparameters_in_full_profiles():
    cyc = CycleGANConfig.from_profile("full")
    assert (cyc.batch_size, cyc.epochs, cyc.lr, cyc.lr_decay_epoch) == (128, 300, 3e-4, 120)
    assert cyc.lr * cyc.lr_decay == pytest.approx(3e-5)
    assert (cyc.lambda_identity, cyc.lambda_gan, cyc.lambda_cycle) == (5, 1, 10)
    assert (cyc.n_blocks, cyc.pool_size) == (4, 50)
    assert cyc.ngf < DCGANConfig.from_profile("full").ngf  # "fewer channels than DCGAN"
    cart = CartoonGANConfig.from_profile("full")
    assert cart.n_blocks == 8 and cart.content_weight == 10 and cart.vgg_weights == "imagenet"


def test_overrides_and_frozen():
    cfg = DCGANConfig.from_profile("quick", epochs=3, seed=7)
    assert (cfg.epochs, cfg.seed, cfg.profile) == (3, 7, "quick")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 5
    assert DCGANConfig.from_profile("quick", epochs=None).epochs == DCGANConfig.from_profile("quick").epochs


def test_unknown_parameter_is_named():
    with pytest.raises(ConfigError, match="'epoch'.*did you mean 'epochs'"):
        DCGANConfig.from_profile("smoke", epoch=3)


@pytest.mark.parametrize("bad, match", [
    (dict(epochs=0), "epochs=0"),
    (dict(batch_size="8"), "batch_size"),
    (dict(lr=-1.0), "lr=-1.0"),
])
def test_bad_values_are_named(bad, match):
    with pytest.raises(ConfigError, match=match):
        DCGANConfig.from_profile("smoke", **bad)


def test_unknown_profile_and_model():
    with pytest.raises(ConfigError, match="profile='fast'"):
        DCGANConfig.from_profile("fast")
    with pytest.raises(ConfigError, match="model='vae'"):
        config_class("vae")


def test_full_profile_keeps_report_widths():
    with pytest.raises(ConfigError, match="ngf and ndf stay 64"):
        DCGANConfig.from_profile("full", ngf=32)


def test_round_trip_through_json(tmp_path):
    cfg = CycleGANConfig.from_profile("smoke", data_dir=tmp_path, color_loss=True)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg.to_dict()))
    again = CycleGANConfig.from_dict(json.loads(path.read_text()))
    assert again == cfg
    assert again.extra_losses == ("color",)
    assert again.run_name == "cyclegan-smoke-s0"


def test_a_run_folders_config_with_removed_levers_loads_when_they_are_off(tmp_path):
    from animelib.runs import config_diff

    cfg = CartoonGANConfig.from_profile("smoke", data_dir=tmp_path)
    old = {**cfg.to_dict(), "chroma_guided": 0, "d_every": 1, "diffaugment": "", "d_spectral_norm": False,
           "tv_chroma_weight": 0.0, "blotch_fakes": 0.0, "blotch_luma": 0.0, "colour_anchor": 0.0, "pixel_pool": 1}
    assert CartoonGANConfig.from_dict(json.loads(json.dumps(old))) == cfg
    assert config_diff(old, cfg.to_dict(), CartoonGANConfig.default_settings()) == ""  # its run folder resumes
    with pytest.raises(ConfigError, match="pixel_pool=4: the pixel_pool lever has been removed"):
        CartoonGANConfig.from_dict({**old, "pixel_pool": 4})
    assert "pixel_pool: 4 -> 1" in config_diff({**old, "pixel_pool": 4}, cfg.to_dict(),
                                               CartoonGANConfig.default_settings())
    with pytest.raises(ConfigError, match="cycle_noise=0.1: the cycle_noise lever has been removed"):
        CycleGANConfig.from_dict({**CycleGANConfig().to_dict(), "cycle_noise": 0.1})
    with pytest.raises(ConfigError, match="unknown parameter 'pixel_pool'"):  # not one of CycleGAN's
        CycleGANConfig.from_dict({**CycleGANConfig().to_dict(), "pixel_pool": 1})


@pytest.mark.parametrize("cls, bad, match", [
    (DCGANConfig, dict(metrics_every=0), "metrics_every=0"),
    (CycleGANConfig, dict(pool_size=-1), "pool_size=-1"),
    (CartoonGANConfig, dict(pretrain_epochs=2, epochs=2), "pretrain_epochs=2"),
    (CartoonGANConfig, dict(color_weight=-1.0), "color_weight=-1.0"),
    (CycleGANConfig, dict(d_lr_scale=0.0), "d_lr_scale=0.0"),
    (CartoonGANConfig, dict(content_layer="conv5_4"), "content_layer='conv5_4'"),
    (CartoonGANConfig, dict(pixel_weight=-1.0), "pixel_weight=-1.0"),
    (CartoonGANConfig, dict(gan_weight=-1.0), "gan_weight=-1.0"),
    (CycleGANConfig, dict(tv_weight=-1.0), "tv_weight=-1.0"),
    (DCGANConfig, dict(chroma_blur=0.5), "chroma_blur=0.5"),
    (CartoonGANConfig, dict(chroma_blur=-0.1), "chroma_blur=-0.1"),
    (CycleGANConfig, dict(chroma_median=4), "chroma_median=4"),
    (CycleGANConfig, dict(identity_warmup_epochs=3, epochs=3), "identity_warmup_epochs=3"),
    (CartoonGANConfig, dict(upsample="bilinear"), "upsample='bilinear' is not one of transposed, resize"),
    (DCGANConfig, dict(upsample="resize-last"), "upsample='resize-last' is not one of transposed, resize"),
])
def test_more_bad_values_are_named(cls, bad, match):
    with pytest.raises(ConfigError, match=match):
        cls.from_profile("smoke", **bad)


def test_data_dir_is_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert DCGANConfig.from_profile("smoke", data_dir="data").data_dir == str(tmp_path / "data")


def test_a_caption_of_several_models_names_each_models_levers():
    from animelib.manifest import caption
    quick = {m: config_class(m).from_profile("quick") for m in ("dcgan", "cyclegan", "cartoongan")}
    text = caption("Table 2", quick["cyclegan"], models=dict(zip(("DCGAN", "CycleGAN", "CartoonGAN"), quick.values(),
                                                                  strict=True)))
    labels = ("DCGAN", "CycleGAN", "CartoonGAN")
    dcgan_part, cycle_part, cartoon_part = (text.split(f"{label}: ")[1] for label in labels)
    assert "extra_layer='wide'" in dcgan_part and "chroma_median=3" in cycle_part
    assert "gan_weight=3.0" in cartoon_part
    assert "CycleGAN: none" in caption("x", quick["cyclegan"],
                                       models={"CycleGAN": config_class("cyclegan").from_profile("smoke")})


@pytest.mark.parametrize("model", ["dcgan", "cyclegan", "cartoongan"])
def test_the_report_recipe_turns_every_lever_off_and_keeps_the_budget(model):
    quick = config_class(model).from_profile("quick", seed=3)
    report = quick.report_recipe()
    assert report.levers() == ["amp=True (bf16 autocast)"]  # a speed switch (it may change on resume): kept
    default = type(quick)()
    assert all(getattr(report, name) == getattr(default, name) for name in quick.LEVERS if name != "amp")
    budget = [f for f in quick.field_names() if f not in quick.LEVERS]  # widths, images, epochs, batch, seed, ...
    assert {f: getattr(report, f) for f in budget} == {f: getattr(quick, f) for f in budget}
    assert len(quick.levers()) > 3


def test_real_folders_get_the_profiles_real_folder_values_and_the_avatars_do_not(tmp_path):
    """DCGAN's and CartoonGAN's quick profiles add a colour median on real folders only, CycleGAN's widens its
    median there (and keeps resize up-sampling); all three keep the colour low-pass there; an explicit value still
    wins, and the report recipe turns it off like every lever."""
    avatars = DCGANConfig.from_profile("quick")
    real = DCGANConfig.from_profile("quick", data_dir=str(tmp_path))
    assert avatars.chroma_median == 0 and real.chroma_median == 5
    assert "chroma_median=5" in " ".join(real.levers()) and "chroma_median" not in " ".join(avatars.levers())
    assert DCGANConfig.from_profile("quick", data_dir=str(tmp_path), chroma_median=3).chroma_median == 3
    assert DCGANConfig.from_profile("smoke", data_dir=str(tmp_path)).chroma_median == 0
    assert real.report_recipe().chroma_median == 0
    real_cyclegan, avatar_cyclegan = (CycleGANConfig.from_profile("quick", data_dir=str(tmp_path)),
                                      CycleGANConfig.from_profile("quick"))
    assert real_cyclegan.chroma_median == 5
    assert avatar_cyclegan.chroma_median == 3
    # CycleGAN's real-folder values were chosen with resize up-sampling, which the avatars do not use
    assert real_cyclegan.upsample == "resize"
    assert avatar_cyclegan.upsample == "transposed"
    assert real_cyclegan.lambda_gan == 3.0 and real_cyclegan.edge_promoted_fakes
    assert avatar_cyclegan.lambda_gan == 1.0
    assert not avatar_cyclegan.edge_promoted_fakes
    assert CartoonGANConfig.from_profile("quick", data_dir=str(tmp_path)).chroma_median == 5
    assert CartoonGANConfig.from_profile("quick").chroma_median == 0
    # the colour low-pass, dropped on the avatars, stays on real folders, whose medians were chosen with it
    for cls in (DCGANConfig, CycleGANConfig, CartoonGANConfig):
        assert cls.from_profile("quick").chroma_blur == 0
        assert cls.from_profile("quick", data_dir=str(tmp_path)).chroma_blur == pytest.approx(1 / 6)
