"""Training ahead of the notebooks (animelib.schedule): the plan names what the notebooks train, the workers train
it as the notebooks would (same folders, same interrupted session), and a failed job is reported, not raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from animelib.errors import ConfigError
from animelib.models import train
from animelib.models.cyclegan import CycleGANConfig
from animelib.models.dcgan import DCGANConfig
from animelib.notebooks import run_notebooks
from animelib.paths import notebook_places
from animelib.runs import read_history
from animelib.schedule import Job, default_workers, plan, train_ahead


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
    assert next(j for j in jobs if j.name == "cyclegan-smoke-s0").interrupt_at == (1,)  # as notebook 02 trains it
    assert next(j for j in jobs if j.name == "cyclegan-smoke-s1").interrupt_at == ()  # as notebook 04 trains it
    assert all(j.run_dir == tmp_path / "r" / j.name for j in jobs if j.kind != "evaluators")

    only = plan(_places(tmp_path, seeds=2), device="cpu", books=["01_dcgan"])
    assert [j.name for j in only] == ["dcgan-smoke-s0"]  # one seed, no evaluators: notebook 01 needs neither
    real = plan(_places(tmp_path, data_dir=str(tmp_path)), device="cpu", books=["02_cyclegan"])
    assert [j.kind for j in real] == ["train"]  # real folders: no ground truth, no evaluators


def test_default_workers():
    assert default_workers("cpu", "smoke") == 1  # runs of seconds: starting workers would cost more
    assert default_workers("cpu", "quick") in (1, 2)  # 2 with two cores or more


def test_workers_train_the_runs_the_notebooks_then_reopen(tmp_path):
    dcgan = DCGANConfig.from_profile("smoke", device="cpu")
    cyclegan = CycleGANConfig.from_profile("smoke", device="cpu")
    jobs = [Job(cyclegan.run_name, "train", cyclegan, tmp_path / "cyc", interrupt_at=(1,)),
            Job(dcgan.run_name, "train", dcgan, tmp_path / "dc")]
    lines = []
    outcome = train_ahead(jobs, workers=2, log_dir=tmp_path / "logs", log=lines.append)
    assert outcome == {cyclegan.run_name: "done", dcgan.run_name: "done"}
    assert any("2 at a time" in line for line in lines) and len(lines) == 3
    assert (tmp_path / "logs" / f"{dcgan.run_name}.log").is_file()
    history = read_history(tmp_path / "cyc")
    assert any(r.get("event") == "resume" for r in history)  # the interrupted session, as notebook 02 has it
    before = (tmp_path / "dc" / "history.jsonl").read_text()
    trainer = train(dcgan, tmp_path / "dc", progress=False)  # what the notebook does: reopens, trains nothing
    assert trainer.epoch == dcgan.epochs
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
