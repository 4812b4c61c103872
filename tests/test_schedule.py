"""Training ahead of the notebooks (animelib.schedule): the plan names what the notebooks train, the workers train
it as the notebooks would (same folders, same interrupted session), and a failed job is reported, not raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from animelib.errors import ConfigError
from animelib.formatting import format_duration
from animelib.models import MODELS, train
from animelib.models.cyclegan import CycleGANConfig
from animelib.models.dcgan import DCGANConfig
from animelib.notebooks import run_notebooks
from animelib.paths import notebook_places
from animelib.plan import model_config, plan_for
from animelib.runs import read_history
from animelib.schedule import Job, default_workers, plan, status_line, train_ahead
from animelib.training import FinishedRun, Progress


def _places(tmp_path: Path, **kw):
    return notebook_places("smoke", 0, fig_dir=str(tmp_path / "f"), run_dir=str(tmp_path / "r"), **kw)


def test_plan_lists_what_the_notebooks_train(tmp_path):
    jobs = plan(_places(tmp_path, seeds=2), device="cpu")
    names = [j.name for j in jobs]
    assert names[:2] == ["cyclegan-smoke-s0", "cartoongan-smoke-s0"]  # the smoke ablation forks both: they start first
    variants = [j for j in jobs if j.kind == "ablation"]
    assert len(variants) == 8 and names[2:10] == [j.name for j in variants]
    assert {j.name for j in variants} >= {"cyclegan-smoke-s0-ablation-baseline", "cartoongan-smoke-s0-ablation-color"}
    assert all(j.after == (j.name.split("-ablation")[0],) for j in variants)
    assert names[10] == "evaluators"  # before the other models: it fills a worker while the ablated runs train
    assert {"dcgan-smoke-s0", "dcgan-smoke-s1", "cartoongan-smoke-s1"} <= set(names[11:])
    # the report's recipe of DCGAN and CycleGAN, once (first seed), after that seed's runs and before the next seed's
    assert names[12:14] == ["cyclegan-smoke-s0-report-recipe", "dcgan-smoke-s0-report-recipe"]
    assert names[14:] == ["cyclegan-smoke-s1", "cartoongan-smoke-s1", "dcgan-smoke-s1"]
    assert next(j for j in jobs if j.name == "cyclegan-smoke-s0").interrupt_at == (1,)  # as notebook 02 trains it
    assert next(j for j in jobs if j.name == "cyclegan-smoke-s1").interrupt_at == ()  # as notebook 04 trains it
    assert all(j.run_dir == tmp_path / "r" / j.name for j in jobs if j.kind != "evaluators")

    only = plan(_places(tmp_path, seeds=2), device="cpu", books=["01_dcgan"])
    assert [j.name for j in only] == ["dcgan-smoke-s0", "dcgan-smoke-s0-report-recipe", "dcgan-smoke-s1"]
    real = plan(_places(tmp_path, data_dir=str(tmp_path)), device="cpu", books=["02_cyclegan"])
    assert [j.kind for j in real] == ["train", "train"]  # real folders: no ground truth, no evaluators


BOOKS = ["00_datasets", "01_dcgan", "02_cyclegan", "03_cartoongan", "04_comparison"]


@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_the_scheduler_trains_what_each_notebooks_plan_lists(tmp_path, profile):
    where = notebook_places(profile, 2, fig_dir=str(tmp_path / "f"), run_dir=str(tmp_path / "r"), seeds=3)
    listed = {}
    for book in BOOKS:
        runs = plan_for(book, where, "cpu").runs
        jobs = [j for j in plan(where, "cpu", [book]) if j.kind != "evaluators"]
        assert sorted((j.name, j.config, j.interrupt_at) for j in jobs) == \
            sorted((r.name, r.config, r.interrupt_at) for r in runs), book  # the same runs, trained the same way
        for r in runs:
            assert listed.setdefault(r.name, r) == r  # a run two notebooks train: the same config and sessions
    assert {j.name for j in plan(where, "cpu")} == set(listed) | {"evaluators"}
    assert plan_for("00_datasets", where).runs == () and not plan_for("01_dcgan", where).evaluators


def test_each_notebooks_plan(tmp_path):
    where = notebook_places("smoke", 0, fig_dir=str(tmp_path / "f"), run_dir=str(tmp_path / "r"), seeds=2)
    cyc = plan_for("02_cyclegan.ipynb", where, "cpu").run("cyclegan")
    assert cyc.config == model_config("cyclegan", where, "cpu") == CycleGANConfig.from_profile("smoke", device="cpu")
    assert (cyc.run_dir, cyc.interrupt_at) == (tmp_path / "r" / "cyclegan-smoke-s0", (1,))  # Figure 7's sessions
    ablation = plan_for("03_cartoongan", where, "cpu")
    assert [(r.model, r.seed) for r in ablation.runs if r.variant is None] == [
        ("cartoongan", 0), ("cartoongan", 1), ("cyclegan", 0), ("cyclegan", 1)]  # its findings: over every seed
    assert ablation.run("cyclegan") == cyc  # it reuses notebook 02's run, trained the same way
    variants = ablation.ablation(cyc)
    assert list(variants) == ["baseline", "+landmark", "+gray", "+color"]
    assert variants["+gray"].config.gray_loss and variants["+gray"].config.epochs == cyc.config.epochs + 1
    assert variants["+gray"].run_dir == tmp_path / "r" / "cyclegan-smoke-s0-ablation-gray"
    comparison = plan_for("04_comparison", where, "cpu")
    assert comparison.seeds == [0, 1] and len(comparison.runs) == 2 * len(MODELS) + 2  # and two report recipes
    assert comparison.run("dcgan", 1).config == DCGANConfig.from_profile("smoke", device="cpu", seed=1)
    assert comparison.run("dcgan", 1).interrupt_at == () and comparison.run("cyclegan", 0).interrupt_at == (1,)
    with pytest.raises(ConfigError, match="01_dcgan trains no cyclegan run"):
        plan_for("01_dcgan", where).run("cyclegan")
    report = plan_for("01_dcgan", where, "cpu").run("dcgan", report_recipe=True)
    assert report == comparison.run("dcgan", report_recipe=True)  # notebooks 01 and 04 share it
    assert report.run_dir == tmp_path / "r" / "dcgan-smoke-s0-report-recipe" and report.config.seed == 0
    assert report.config.levers() == [] and report.config.epochs == comparison.config("dcgan").epochs
    assert report.config.ema == 0 and comparison.config("dcgan").ema > 0  # a lever of the smoke profile, off
    with pytest.raises(ConfigError, match="trains no cartoongan run of the report's recipe"):
        comparison.run("cartoongan", report_recipe=True)


def test_progress_lines_read_plainly():
    assert [format_duration(s) for s in (0, 45.4, 221.3, 3600, 7500)] == ["0 s", "45 s", "3 min 41 s", "1 h 00 min",
                                                                        "2 h 05 min"]
    going = Progress("dcgan-quick-s0", 3, 10, 1234, 4000, rate=12.5)
    assert str(going) == "dcgan-quick-s0: epoch 3/10, step 1,234/4,000 (31%), 12.5 steps/s, 3 min 41 s left"
    assert going.short() == "epoch 3/10, 31%, 3 min 41 s left"
    assert going.short(since=21.3) == "epoch 3/10, 31%, 3 min 20 s left"  # the time left, as of now
    assert str(Progress("x", 1, 10, 0, 4000)) == "x: epoch 1/10, step 0/4,000 (0%)"  # as the session starts
    assert str(Progress("x", 10, 10, 4000, 4000, 20.0, epoch_done=True)) == \
        "x: epoch 10/10 done, step 4,000/4,000 (100%), 20 steps/s, 0 s left"


def test_the_status_line_names_each_running_job_and_how_far_it_is():
    running = {"cyclegan-quick-s0": 100.0, "evaluators": 150.0}
    latest = {"cyclegan-quick-s0": (Progress("cyclegan-quick-s0", 3, 10, 1234, 4000, rate=12.5), 200.0)}
    assert status_line(running, latest, now=215.0, finished=2, total=7, elapsed=250.0) == (
        "[animelib]   running: cyclegan-quick-s0 (epoch 3/10, 31%, 3 min 26 s left), evaluators (1 min 05 s in); "
        "2/7 done, 4 min 10 s so far")
    assert "\r" not in status_line(running, {}, 101.0, 0, 7, 1.0)


def test_default_workers():
    assert default_workers("cpu", "smoke") == 1  # runs of seconds: starting workers would cost more
    assert default_workers("cpu", "quick") in (1, 2)  # 2 with two cores or more


def test_workers_train_the_runs_the_notebooks_then_reopen(tmp_path):
    dcgan = DCGANConfig.from_profile("smoke", device="cpu")
    cyclegan = CycleGANConfig.from_profile("smoke", device="cpu")
    jobs = [Job(cyclegan.run_name, "train", cyclegan, tmp_path / "cyc", interrupt_at=(1,)),
            Job(dcgan.run_name, "train", dcgan, tmp_path / "dc")]
    lines = []
    outcome = train_ahead(jobs, workers=2, log_dir=tmp_path / "logs", log=lines.append, status_every=0.2)
    assert outcome == {cyclegan.run_name: "done", dcgan.run_name: "done"}
    status = [line for line in lines if line.startswith("[animelib]   running: ")]
    others = [line for line in lines if line not in status]
    assert any("2 at a time" in line for line in others) and len(others) == 3
    assert status and any(f"{cyclegan.run_name} (epoch " in line for line in status)  # from the workers' reports
    for job in jobs:  # each job's log: its progress as it trains, one plain line each, and the last epoch done
        log, run = (tmp_path / "logs" / f"{job.name}.log").read_text(), job.run_dir.name
        assert f"{run}: epoch 1/{job.config.epochs}, step 0/" in log and "\r" not in log
        assert f"{run}: epoch {job.config.epochs}/{job.config.epochs} done, step " in log
    history = read_history(tmp_path / "cyc")
    assert any(r.get("event") == "resume" for r in history)  # the interrupted session, as notebook 02 has it
    before = (tmp_path / "dc" / "history.jsonl").read_text()
    trainer = train(dcgan, tmp_path / "dc", progress=False)  # what the notebook does: opens, trains nothing
    assert type(trainer) is FinishedRun and trainer.epoch == dcgan.epochs
    assert (tmp_path / "dc" / "history.jsonl").read_text() == before


def test_a_failed_job_is_reported_and_its_dependants_skipped(tmp_path):
    bad = DCGANConfig.from_profile("smoke", device="cpu", data_dir=str(tmp_path / "nowhere"))
    jobs = [Job("bad", "train", bad, tmp_path / "bad"), Job("after-bad", "train", bad, tmp_path / "x", after=("bad",))]
    outcome = train_ahead(jobs, workers=1, log=lambda *_: None)
    assert outcome["bad"].startswith("failed: ") and "nowhere" in outcome["bad"]
    assert outcome["after-bad"] == "skipped: bad did not finish"
    with pytest.raises(ValueError, match="not an earlier job"):
        train_ahead([Job("x", "train", after=("y",))], workers=1)
    with pytest.raises(ValueError, match="workers=0"):
        train_ahead([], workers=0)


def test_run_notebooks_names_a_bad_workers_count(tmp_path):
    with pytest.raises(ConfigError, match="workers=0 must be an integer of at least 1"):
        run_notebooks("smoke", figures_dir=tmp_path / "f", runs_dir=tmp_path / "r", workers=0, log=lambda *_: None)
