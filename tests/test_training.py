"""Training machinery: steps change the nets, resume equals uninterrupted, schedules and fixed noise."""

import json
import warnings

import numpy as np
import pytest
import torch

from animelib.errors import ConfigError
from animelib.models import train
from animelib.models.cartoongan import CartoonGANConfig
from animelib.models.cyclegan import CycleGANConfig, CycleGANTrainer, lr_factor
from animelib.models.dcgan import DCGANConfig, DCGANTrainer, noise
from animelib.runs import read_history
from animelib.training import FinishedRun
from animelib.utils import rng_state, seed_everything

SMOKE = {
    "dcgan": DCGANConfig.from_profile("smoke", num_train=32, batch_size=8, epochs=3),
    "cyclegan": CycleGANConfig.from_profile("smoke", num_a=8, num_b=12, batch_size=4, epochs=3,
                                            lr_decay_epoch=2),
    "cartoongan": CartoonGANConfig.from_profile("smoke", num_a=8, num_b=8, batch_size=4, epochs=3,
                                                pretrain_epochs=1),
}
# levers that change a training step, several on at once (the discriminator's own learning rate, EMA, ...)
SMOKE["cyclegan-levers"] = SMOKE["cyclegan"].replace(d_lr_scale=0.5, ema=0.9, lambda_identity=2.0)
SMOKE["cartoongan-levers"] = SMOKE["cartoongan"].replace(ema=0.9, pretrain_pixel_weight=10.0, pixel_weight=1.0,
                                                         content_layer="relu3_4")


def losses_of(run_dir):
    return [{k: v for k, v in r.items() if k not in ("epoch", "step", "phase")}
            for r in read_history(run_dir) if "event" not in r]


def numbers(losses: dict) -> dict:
    """A step's record with each loss tensor as a plain number (detached from the graph)."""
    return {k: v.detach().item() if torch.is_tensor(v) else v for k, v in losses.items()}


def test_one_dcgan_step_changes_both_nets(tmp_path):
    trainer = DCGANTrainer(SMOKE["dcgan"], tmp_path / "run", progress=False)
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in trainer.nets.items()}
    losses = trainer.train_step(next(iter(trainer.batches())))
    assert set(losses) == {"loss_G", "loss_D", "D_x", "D_G_z"}
    for name in ("G", "D"):  # the step trains both; the moving average G_ema follows in train_steps
        changed = [not torch.equal(a, b) for a, b in zip(before[name], trainer.nets[name].parameters(), strict=True)]
        assert all(changed), f"{name}: some parameters did not change"
    trainer.train_steps([next(iter(trainer.batches()))])
    moved = [not torch.equal(a, b) for a, b in zip(before["G_ema"], trainer.nets["G_ema"].parameters(), strict=True)]
    assert all(moved), "G_ema did not follow G"


@pytest.mark.parametrize("model", ["dcgan", *(pytest.param(m, marks=pytest.mark.slow)
                                   for m in ("cartoongan", "cyclegan", "cyclegan-levers", "cartoongan-levers"))])
def test_resume_equals_uninterrupted(tmp_path, model):
    cfg = SMOKE[model]
    cls = type(train(cfg, tmp_path / "straight", progress=False))  # the model's trainer class
    # interrupted after every epoch: a new trainer object resumes from the checkpoint on disk each time
    for stop in range(1, cfg.epochs + 1):
        trainer = cls(cfg, tmp_path / "resumed", progress=False)
        assert trainer.epoch == stop - 1
        trainer.fit(stop_at_epoch=stop)
    a, b = losses_of(tmp_path / "straight"), losses_of(tmp_path / "resumed")
    assert len(a) == len(b) > 0
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for k in ra:
            assert ra[k] == pytest.approx(rb[k], abs=1e-5), k
    resumes = [r for r in read_history(tmp_path / "resumed") if r.get("event") == "resume"]
    assert [r["epoch"] for r in resumes] == list(range(1, cfg.epochs))
    assert not any(r.get("event") == "resume" for r in read_history(tmp_path / "straight"))


@pytest.mark.slow  # a run killed and resumed; the fast set has test_resume_equals_uninterrupted[dcgan]
def test_killed_run_does_not_count_steps_twice(tmp_path):
    cfg = SMOKE["dcgan"]
    trainer = DCGANTrainer(cfg, tmp_path, progress=False)
    trainer.fit(stop_at_epoch=1)
    # a run killed mid-epoch leaves step records after the last checkpoint
    trainer.run.log({"epoch": 2, "step": 999, "loss_G": 0.0})
    again = DCGANTrainer(cfg, tmp_path, progress=False)
    assert again.epoch == 1
    assert all(r.get("step") != 999 for r in read_history(tmp_path))
    again.fit()
    steps = [r["step"] for r in read_history(tmp_path) if "event" not in r]
    assert steps == list(range(1, len(steps) + 1))


def test_finished_run_is_not_trained_again(tmp_path):
    cfg = SMOKE["dcgan"].replace(epochs=1)
    trained = train(cfg, tmp_path, progress=False)
    trained.run.write_note("data.txt", "a note of the data")  # as a trainer's build() leaves one
    files = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()}
    state = rng_state()
    for interrupt_at in ((), (1,)):
        seed_everything(123)  # a finished run leaves the global RNGs where its training left them
        finished = train(cfg, tmp_path, progress=False, interrupt_at=interrupt_at)
        assert type(finished) is FinishedRun and finished.finished
        assert (finished.epoch, finished.step) == (1, trained.step)
        assert finished.notes == {**trained.notes, "data.txt": "a note of the data"}
        assert torch.equal(rng_state()["torch"], state["torch"])
    # no trainer, no lock, nothing written: every file as it was, none added
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()} == files
    with pytest.raises(ConfigError, match="other settings.*lr"):  # other settings: refused as by a trainer
        train(cfg.replace(lr=1e-4), tmp_path, progress=False)
    (tmp_path / "history.jsonl").write_text("")  # a history that does not match the checkpoint: left to a trainer
    with pytest.raises(ConfigError, match="shorter than when the checkpoint was written"):
        train(cfg, tmp_path, progress=False)


def test_a_session_reports_its_progress_and_trains_the_same(tmp_path, monkeypatch):
    import animelib.training

    cfg = SMOKE["dcgan"].replace(epochs=2)
    plain = train(cfg, tmp_path / "plain", progress=False)
    monkeypatch.setattr(animelib.training, "REPORT_EVERY", 0.0)  # a report after every step
    reports = []
    reported = train(cfg, tmp_path / "reported", progress=False, report=reports.append, interrupt_at=(1,))
    assert losses_of(tmp_path / "reported") == losses_of(tmp_path / "plain")  # the same numbers, bit for bit
    steps = plain.step
    assert reported.step == steps and steps % 2 == 0
    # per session: a report as it starts, after each step and after its epoch
    first, second = reports[:steps // 2 + 2], reports[steps // 2 + 2:]
    assert [(p.epoch, p.step, p.epoch_done) for p in first] == \
        [(1, 0, False), *((1, s, False) for s in range(1, steps // 2 + 1)), (1, steps // 2, True)]
    assert [(p.epoch, p.step, p.epoch_done) for p in second] == \
        [(2, steps // 2, False), *((2, s, False) for s in range(steps // 2 + 1, steps + 1)), (2, steps, True)]
    assert all(p.run == "reported" and p.epochs == 2 and p.steps == steps for p in reports)
    # the rate is timed from each session's first step on (that step also pays for warming up)
    assert [p.rate for p in reports if p.step <= (1 if p in first else steps // 2 + 1)] == [None] * 4
    assert all(p.rate > 0 for p in reports if p.step > (1 if p in first else steps // 2 + 1))
    assert reports[-1].seconds_left == 0 and str(reports[-1]).startswith(f"reported: epoch 2/2 done, step {steps}/")


def test_other_settings_in_same_run_folder_are_refused(tmp_path):
    from animelib.errors import ConfigError

    train(SMOKE["dcgan"].replace(epochs=1), tmp_path, progress=False)
    with pytest.raises(ConfigError, match="other settings.*ngf"):
        DCGANTrainer(SMOKE["dcgan"].replace(epochs=1, ngf=4), tmp_path, progress=False)


def test_fixed_noise_is_the_same_across_epochs_and_sessions(tmp_path):
    cfg = SMOKE["dcgan"].replace(epochs=2)
    assert torch.equal(noise(cfg.num_fixed, cfg.nz, cfg.noise_seed), noise(cfg.num_fixed, cfg.nz, cfg.noise_seed))
    trainer = train(cfg, tmp_path, progress=False)
    assert torch.equal(trainer.fixed_noise, noise(cfg.num_fixed, cfg.nz, cfg.noise_seed))
    first, second = (np.load(tmp_path / "samples" / f"fixed_e{e:03d}.npy") for e in (1, 2))
    assert first.shape == (cfg.num_fixed, 64, 64, 3) and first.dtype == np.uint8
    assert not np.array_equal(first, second)  # same noise, the generator moved


@pytest.mark.slow  # the fast set checks CartoonGAN's rate decay (test_learning_rate_decay_lever)
def test_cyclegan_lr_switches_at_configured_epoch(tmp_path):
    cfg = SMOKE["cyclegan"]
    factor = lr_factor(cfg)
    assert [factor(e) for e in range(4)] == [1, 1, 0.1, 0.1]
    trainer = CycleGANTrainer(cfg, tmp_path, progress=False)
    lrs = []
    for stop in range(1, 4):
        lrs.append(trainer.optimizers["G"].param_groups[0]["lr"])
        trainer.fit(stop_at_epoch=stop)
    assert lrs == pytest.approx([3e-4, 3e-4, 3e-5])


def test_cyclegan_history_and_interruptions(tmp_path):
    cfg = SMOKE["cyclegan"]
    train(cfg, tmp_path, progress=False, interrupt_at=(1, 2))
    history = read_history(tmp_path)
    steps = [r for r in history if "event" not in r]
    assert {"loss_idt_A", "loss_idt_B", "loss_gan_A2B", "loss_gan_B2A", "loss_cycle_A", "loss_cycle_B",
            "loss_D_A", "loss_D_B", "loss_G"} <= set(steps[0])
    assert [r["epoch"] for r in history if r.get("event") == "resume"] == [1, 2]
    metrics = [r for r in history if r.get("event") == "metrics"]
    assert [m["epoch"] for m in metrics] == [0, 1, 2, 3]  # epoch 0: the untrained reference
    assert {"A2B_l1", "A2B_psnr", "A2B_ssim", "identity_ssim"} <= set(metrics[0])
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"] == "cyclegan" and config["epochs"] == 3


@pytest.mark.parametrize("model", ["cyclegan", "cartoongan"])
def test_one_translation_step_changes_the_nets(tmp_path, model):
    from animelib.models import spec

    cfg = SMOKE[model].replace(pretrain_epochs=0) if model == "cartoongan" else SMOKE[model]
    trainer = spec(model).trainer_class(cfg, tmp_path, progress=False)
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in trainer.nets.items()}
    trainer.train_step(next(iter(trainer.batches())))
    for name, net in trainer.nets.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[name], net.parameters(), strict=True)), name


def test_cartoongan_pretraining_uses_the_content_loss_alone(tmp_path):
    from animelib.models.cartoongan import CartoonGANTrainer

    trainer = CartoonGANTrainer(SMOKE["cartoongan"], tmp_path, progress=False)
    d_before = [p.detach().clone() for p in trainer.D.parameters()]
    g_before = [p.detach().clone() for p in trainer.G.parameters()]
    losses = trainer.train_step(next(iter(trainer.batches())))
    assert losses["phase"] == "pretrain" and set(losses) == {"phase", "loss_content"}
    assert all(torch.equal(a, b) for a, b in zip(d_before, trainer.D.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, trainer.G.parameters(), strict=True))


def test_ablation_variants_continue_the_same_checkpoint(tmp_path):
    from animelib.ablation import VARIANTS, run_ablation, variant_config
    from animelib.runs import Run

    base = SMOKE["cyclegan"].replace(epochs=1)
    train(base, tmp_path / "base", progress=False)
    cfg = variant_config(base, "+color", extra_epochs=1)
    assert cfg.color_loss and not cfg.landmark_loss and cfg.epochs == 2
    Run.fork(tmp_path / "base", tmp_path / "fork", cfg)
    assert (tmp_path / "fork" / "history.jsonl").read_bytes() == (tmp_path / "base" / "history.jsonl").read_bytes()
    folders = run_ablation(base, tmp_path / "base", tmp_path, 1, variants=["baseline", "+color"], progress=False)
    assert list(folders) == ["baseline", "+color"] and set(folders) <= set(VARIANTS)
    first_steps = [r for r in read_history(tmp_path / "base") if "event" not in r]
    for folder in folders.values():
        steps = [r for r in read_history(folder) if "event" not in r]
        assert steps[:len(first_steps)] == first_steps  # the shared first epoch, then one more
        assert steps[-1]["epoch"] == 2
    assert "loss_color" in [r for r in read_history(folders["+color"]) if "event" not in r][-1]


def test_a_shortened_history_is_reported_not_padded(tmp_path):
    from animelib.errors import ConfigError

    cfg = SMOKE["dcgan"].replace(epochs=1)
    train(cfg, tmp_path, progress=False)
    (tmp_path / "history.jsonl").write_text("")
    with pytest.raises(ConfigError, match="shorter than when the checkpoint was written"):
        DCGANTrainer(cfg, tmp_path, progress=False)


def params(net):
    return [p.detach().clone() for p in net.parameters()]


def changed(before, net) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_discriminator_learning_rate_is_scaled(tmp_path):
    trainer = CycleGANTrainer(SMOKE["cyclegan"].replace(d_lr_scale=0.25), tmp_path, progress=False)
    assert trainer.optimizers["G"].param_groups[0]["lr"] == pytest.approx(3e-4)
    assert trainer.optimizers["D"].param_groups[0]["lr"] == pytest.approx(3e-4 * 0.25)
    trainer.fit(stop_at_epoch=2)  # the decay after lr_decay_epoch scales both
    assert trainer.optimizers["D"].param_groups[0]["lr"] == pytest.approx(3e-5 * 0.25)


def test_cartoongan_pixel_lever_pulls_pretraining_towards_the_input(tmp_path):
    from animelib.models.cartoongan import CartoonGANTrainer

    runs = {w: CartoonGANTrainer(SMOKE["cartoongan"].replace(pretrain_pixel_weight=w, lr=2e-3), tmp_path / str(w),
                                 progress=False) for w in (0.0, 50.0)}
    assert "loss_pixel" in runs[50.0].loss_names and "loss_pixel" not in runs[0.0].loss_names
    pixel = {}
    for w, trainer in runs.items():
        batch = next(iter(trainer.batches()))
        for _ in range(15):
            losses = trainer.train_step(batch)
        with torch.no_grad():
            pixel[w] = float(torch.nn.functional.l1_loss(trainer.G(batch[0]), batch[0]))
    assert losses["phase"] == "pretrain" and set(losses) == {"phase", "loss_content", "loss_pixel"}
    assert pixel[50.0] < 0.75 * pixel[0.0]


def test_cartoongan_gan_weight_scales_the_gan_term_of_g_alone(tmp_path):
    from animelib.models.cartoongan import CartoonGANTrainer

    runs = {w: CartoonGANTrainer(SMOKE["cartoongan"].replace(gan_weight=w), tmp_path / str(w), progress=False)
            for w in (1.0, 3.0)}
    losses = {}
    for w, trainer in runs.items():
        trainer.epoch = trainer.cfg.pretrain_epochs  # the first adversarial epoch
        losses[w] = trainer.train_step(next(iter(trainer.batches())))
    one, three = numbers(losses[1.0]), numbers(losses[3.0])
    assert one["phase"] == three["phase"] == "adversarial"
    for name in ("loss_gan", "loss_content", "loss_style", "loss_D"):  # the same seeded nets and batch
        assert three[name] == pytest.approx(one[name], rel=1e-5)
    assert three["loss_G"] == pytest.approx(one["loss_G"] + 2 * one["loss_gan"], rel=1e-5)


def test_cartoongan_content_layer(tmp_path):
    from animelib.models.cartoongan import CartoonGANTrainer

    trainer = CartoonGANTrainer(SMOKE["cartoongan"].replace(content_layer="relu2_2"), tmp_path, progress=False)
    images = next(iter(trainer.batches()))[0]  # (4, 3, 32, 32)
    content, style = trainer.features(images)
    assert content.shape[-1] == images.shape[-1] // 2 and style.shape[-1] == images.shape[-1] // 8
    assert torch.equal(style, trainer.vgg(images))  # conv4_4 as the report's content loss (and the style loss) use
    assert (content >= 0).all()  # after its ReLU


def test_cyclegan_identity_warmup_trains_generators_alone(tmp_path):
    cfg = SMOKE["cyclegan"].replace(identity_warmup_epochs=1)
    trainer = CycleGANTrainer(cfg, tmp_path / "warm", progress=False)
    plain = CycleGANTrainer(SMOKE["cyclegan"], tmp_path / "plain", progress=False)
    d_before = params(trainer.D_B)
    batch = next(iter(trainer.batches()))
    losses = {k: v.detach() for k, v in trainer.train_step(batch).items()}
    assert not changed(d_before, trainer.D_B)  # the discriminators wait
    assert set(trainer.loss_names) <= set(losses)  # every loss is still logged
    assert float(losses["loss_G"]) == pytest.approx(
        cfg.lambda_identity * float(losses["loss_idt_A"] + losses["loss_idt_B"]), rel=1e-5)
    assert numbers(plain.train_step(batch))["loss_G"] > float(losses["loss_G"])  # the GAN and cycle terms count again
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(stop_at_epoch=2)
    assert not [w for w in caught if "lr_scheduler" in str(w.message)]  # D's idle epoch: no scheduler warning
    group = trainer.optimizers["D"].param_groups[0]  # its schedule counts epochs, idle or not
    assert group["lr"] == pytest.approx(group["initial_lr"] * lr_factor(cfg)(2))
    d_before = params(trainer.D_B)
    trainer.train_step(next(iter(trainer.batches())))
    assert changed(d_before, trainer.D_B)  # after the warm-up, the adversarial steps


def test_total_variation_lever(tmp_path):
    from animelib.losses import total_variation

    flat = torch.zeros(2, 3, 8, 8)
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 2.0 - 1  # (8, 8) of -1 and 1
    assert float(total_variation(flat)) == 0.0
    assert float(total_variation(checker.expand(2, 3, 8, 8))) == pytest.approx(4.0)  # |2| down + |2| across
    plain = CycleGANTrainer(SMOKE["cyclegan"], tmp_path / "plain", progress=False)
    tv = CycleGANTrainer(SMOKE["cyclegan"].replace(tv_weight=2.0), tmp_path / "tv", progress=False)
    batch = next(iter(plain.batches()))
    a, b = numbers(plain.train_step(batch)), numbers(tv.train_step(batch))
    assert "loss_tv" not in a and float(b["loss_tv"]) > 0
    assert float(b["loss_G"]) == pytest.approx(float(a["loss_G"]) + 2.0 * float(b["loss_tv"]), rel=1e-5)
    assert_lever_adds_its_term("cartoongan", "tv_weight", 3.0, "loss_tv", tmp_path / "cartoongan")


def assert_lever_adds_its_term(model: str, field: str, weight: float, loss: str, tmp_path):
    """One adversarial step of ``model``'s smoke config with and without ``field=weight``, from the same weights and
    batch: only the lever's run logs ``loss``, and its G loss is the plain one plus ``weight`` x that term. Returns the
    lever's config."""
    from animelib.models import spec

    cfg = SMOKE[model].replace(pretrain_epochs=0) if model == "cartoongan" else SMOKE[model]
    trainer_class = spec(model).trainer_class
    plain = trainer_class(cfg, tmp_path / "plain", progress=False)
    lever = trainer_class(cfg.replace(**{field: weight}), tmp_path / "lever", progress=False)
    assert loss in lever.loss_names and loss not in plain.loss_names
    for name, net in plain.nets.items():  # the same weights: the steps differ by the lever's term alone
        lever.nets[name].load_state_dict(net.state_dict())
    batch = next(iter(plain.batches()))
    a, b = numbers(plain.train_step(batch)), numbers(lever.train_step(batch))
    assert loss not in a and float(b[loss]) > 0
    assert float(b["loss_G"]) == pytest.approx(float(a["loss_G"]) + weight * float(b[loss]), rel=1e-4)
    return lever.cfg


def test_edge_promoted_fakes_lever_adds_a_d_b_term_on_the_same_b_images(tmp_path):
    from animelib.data.edges import edge_promote
    from animelib.losses import gan_loss

    plain = CycleGANTrainer(SMOKE["cyclegan"], tmp_path / "plain", progress=False)
    edge = CycleGANTrainer(SMOKE["cyclegan"].replace(edge_promoted_fakes=True), tmp_path / "edge", progress=False)
    assert plain.images_e is None and len(next(iter(plain.batches()))) == 2
    real_A, real_B, edge_B = next(iter(edge.batches()))
    # the third image of each pair is the edge-promoted copy of its B image
    as_uint8 = ((real_B.permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().astype(np.uint8)
    expected = torch.from_numpy(edge_promote(as_uint8)).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert torch.allclose(edge_B, expected, atol=1.5 / 127.5) and not torch.equal(edge_B, real_B)
    fake_A, fake_B = real_B.clone(), real_A.clone()
    with torch.no_grad():
        on_edges = 0.5 * gan_loss(edge.D_B(edge_B), False)
    plain.D_B.load_state_dict(edge.D_B.state_dict())
    plain.D_A.load_state_dict(edge.D_A.state_dict())
    a = numbers(plain.discriminator_step(real_A, real_B, fake_A, fake_B))  # fresh pools hand this batch's fakes back
    b = numbers(edge.discriminator_step(real_A, real_B, fake_A, fake_B, edge_B))
    assert float(b["loss_D_A"]) == pytest.approx(float(a["loss_D_A"]), rel=1e-5)
    assert float(b["loss_D_B"]) == pytest.approx(float(a["loss_D_B"]) + float(on_edges), rel=1e-4)


@pytest.mark.parametrize("model", ["cyclegan", "cartoongan", "dcgan"])
def test_resize_upsampling_has_no_transposed_conv_and_keeps_the_shape(model):
    from animelib.models import MODELS

    cfg = SMOKE[model].replace(upsample="resize")
    build = MODELS[model].build_generator
    G, reference = build(cfg), build(SMOKE[model])
    transposed = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    # DCGAN keeps its first layer, noise (1 x 1) to 4 x 4, a projection rather than a doubling
    assert len(transposed) == (1 if model == "dcgan" else 0)
    assert any(isinstance(m, torch.nn.ConvTranspose2d) and m.stride == (2, 2) for m in reference.modules())  # report
    if model == "dcgan":
        x = torch.randn(2, cfg.nz)
        assert G(x).shape == reference(x).shape == (2, 3, 64, 64)
        return
    x = torch.rand(2, 3, cfg.image_size, cfg.image_size) * 2 - 1
    assert G(x).shape == reference(x).shape == x.shape
    # a constant input stays free of a checkerboard: the four phases of every 2x2 cell of the output agree
    out = G(torch.zeros_like(x)).detach()[0, 0, 8:-8, 8:-8]
    phases = torch.stack([out[i::2, j::2].mean() for i in (0, 1) for j in (0, 1)])
    assert float(phases.max() - phases.min()) < 1e-3 + 0.1 * float(out.abs().mean())


@pytest.mark.parametrize("model", [pytest.param("dcgan", marks=pytest.mark.slow), "cartoongan"])
def test_learning_rate_decay_lever(tmp_path, model):
    from animelib.errors import ConfigError
    from animelib.models import spec
    from animelib.recipes import linear_decay

    factor = linear_decay(2, 5)  # epochs 0-4: constant for 0 and 1, then 3/4, 2/4, 1/4
    assert [factor(e) for e in range(5)] == [1.0, 1.0, 0.75, 0.5, 0.25]
    # DCGAN's 3 smoke epochs: rates lr, lr * 2/3, lr * 1/3; CartoonGAN's 2 (pre-training counted): lr, lr / 2
    cfg = SMOKE[model].replace(lr_decay_start=1)
    trainer = train(cfg, tmp_path / "run", progress=False)
    assert [g["lr"] for g in trainer.optimizers["G"].param_groups] == [0.0]  # after the last epoch
    trainer_class = spec(model).trainer_class
    resumed = trainer_class(cfg, tmp_path / "run", progress=False)
    assert resumed.schedulers["D"].last_epoch == cfg.epochs  # the schedule's position comes back with the checkpoint
    assert not trainer_class(SMOKE[model], tmp_path / "plain", progress=False).schedulers  # off: the report's
    assert "lr_decay_start=1" in " ".join(cfg.levers())
    with pytest.raises(ConfigError, match="lr_decay_start=-1"):
        SMOKE[model].replace(lr_decay_start=-1)
