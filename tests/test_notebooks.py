"""Notebook hygiene, parameters, and every notebook executed on the smoke profile through papermill."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from pipeline_util import (
    STORED_HISTORIES,
    assert_history_as_uninterrupted,
    assert_same_histories,
    read_histories,
    reference_folder,
)

from animelib.errors import AnimelibError
from animelib.manifest import FIGURES
from animelib.models import MODELS
from animelib.notebooks import INJECTED, NotebookFailed, list_notebooks, run_notebooks
from animelib.paths import NOTEBOOKS_DIR, notebook_places, record_last_run
from animelib.stats import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED

BOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def test_every_report_notebook_exists():
    names = {p.name for p in BOOKS}
    assert {nb for nb, _ in FIGURES.values()} <= names


@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.name)
def test_committed_clean_with_parameters_cell_first(path):
    book = nbformat.read(path, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell must be tagged 'parameters'"
    for cell in code:
        assert cell.outputs == [], f"{path.name}: a cell has outputs"
        assert cell.execution_count is None, f"{path.name}: a cell has an execution count"
    assert "widgets" not in book.metadata, "widget state must not be committed"


@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.name)
def test_parameters_are_literals_the_runner_injects_or_a_config_accepts(path):
    book = nbformat.read(path, as_version=4)
    cell = next(c for c in book.cells if c.cell_type == "code")
    tree = ast.parse(cell.source)
    fields = {name for entry in MODELS.values() for name in entry.config_class.field_names()}
    accepted = set(INJECTED) | {name.upper() for name in fields}
    names = []
    for node in tree.body:
        assert isinstance(node, ast.Assign), f"{path.name}: the parameters cell holds assignments only"
        ast.literal_eval(node.value)  # literal values only
        names += [t.id for t in node.targets]
    assert set(names) <= accepted, f"unknown parameters: {set(names) - accepted}"
    values = {t.id: ast.literal_eval(n.value) for n in tree.body for t in n.targets}
    # None: what `make figures` last trained (the tests and nbval set ANIMELIB_PROFILE=smoke)
    assert values["PROFILE"] is None and values["FIG_DIR"] is None and values["RUN_DIR"] is None


def test_list_notebooks_by_name_or_number():
    assert [p.stem for p in list_notebooks(["dcgan", "02"])] == ["01_dcgan", "02_cyclegan"]
    with pytest.raises(AnimelibError, match="no notebook matches 'vae'"):
        list_notebooks(["vae"])


def test_a_failing_notebook_names_its_cell_and_error(tmp_path):
    book = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('PROFILE = "smoke"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"),
    ])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nb").mkdir()
    nbformat.write(book, tmp_path / "nb" / "99_broken.ipynb")
    # papermill's injected-parameters cell counts: the failing cell is the fourth executed
    with pytest.raises(NotebookFailed, match=r"99_broken.ipynb failed in cell \[4\] \(raise ValueError\('broken on "
                                             r"purpose'\)\) with ValueError: broken on purpose"):
        run_notebooks("smoke", figures_dir=tmp_path / "f", runs_dir=tmp_path / "r", folder=tmp_path / "nb",
                      progress=False, log=lambda *_: None)


@pytest.mark.slow  # every notebook through the runner; `make test` runs them all through nbval as well
def test_all_notebooks_run_on_smoke_and_fill_the_manifest():
    # into runs/smoke, where the notebooks' defaults on the smoke profile point (`make test` empties it first): the
    # nbval pass that follows then finds the runs trained and only redraws
    runs = NOTEBOOKS_DIR.parent / "runs" / "smoke"
    figures = runs / "figures"
    outputs = run_notebooks("smoke", figures_dir=figures, runs_dir=runs, progress=False, log=lambda *_: None)
    assert [p.name for p in outputs] == [p.name for p in BOOKS]
    manifest = json.loads((figures / "manifest.json").read_text())
    ids = {f["id"] for f in manifest["figures"]}
    assert set(FIGURES) <= ids, f"missing figures: {set(FIGURES) - ids}"
    for entry in manifest["figures"]:
        assert (figures / entry["file"]).stat().st_size > 1000
        assert "smoke profile" in entry["caption"]
        assert entry["run"]["profile"] == "smoke" and "commit" in entry["run"]
    injected = nbformat.read(runs / "notebooks" / "01_dcgan.ipynb", as_version=4)
    tags = [c.metadata.get("tags", []) for c in injected.cells if c.cell_type == "code"]
    assert "injected-parameters" in tags[1]
    # the quick checks of the report's claims were written from the numbers
    entries = {f["id"]: f for f in manifest["figures"]}
    assert len(entries["table2"]["table"]["rows"]) == 4
    verdicts = entries["verdicts"]
    assert len(verdicts["table"]["rows"]) >= 10 and verdicts["text"].count(": ") >= 10
    assert {row[2] for row in verdicts["table"]["rows"]} <= {SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE}, \
        verdicts["table"]["rows"]
    # every notebook's run went to the runs folder, the figures folder holds figures only
    assert (runs / "dcgan-smoke-s0" / "checkpoints" / "last.pt").exists()
    # each notebook trained as an uninterrupted run on this machine does (CycleGAN's demonstration resumes exactly)
    for model in ("dcgan", "cyclegan", "cartoongan"):
        assert_history_as_uninterrupted(runs / f"{model}-smoke-s0", model)
    assert not list(figures.glob("*.pt"))


def test_training_gives_the_stored_histories_on_the_machine_that_stored_them():
    """A refactoring changes no result: the smoke runs trained here equal the stored ones (after a deliberate change
    of a recipe, write them again: python tests/make_history_fixtures.py). Floating-point results depend on the
    CPU's vector unit and the thread count, so the comparison needs a machine like the one that wrote them."""
    stored_on = json.loads((STORED_HISTORIES / "machine.json").read_text())
    import torch
    from make_history_fixtures import cpu_vendor
    if (stored_on["vendor"], stored_on["cpu"]) != (cpu_vendor(), torch.backends.cpu.get_cpu_capability()):
        pytest.skip(f"stored on another kind of machine ({stored_on})")  # before training the reference runs
    here = reference_folder()
    if json.loads((here / "machine.json").read_text()) != stored_on:
        pytest.skip(f"stored on another kind of machine ({stored_on}); the pipeline tests compare with this one's")
    stored, trained = read_histories(STORED_HISTORIES), read_histories(here)
    assert stored.keys() == trained.keys() == set(MODELS)
    for model in MODELS:
        assert_same_histories(trained[model], stored[model], model)


def test_notebooks_open_on_what_was_trained_and_tests_stay_on_smoke(tmp_path, monkeypatch):
    monkeypatch.delenv("ANIMELIB_PROFILE", raising=False)
    fresh = notebook_places(runs_root=tmp_path)
    assert (fresh.profile, fresh.why) == ("smoke", "nothing trained yet")
    assert fresh.run_dir == tmp_path / "smoke" and fresh.fig_dir == tmp_path / "smoke" / "figures"
    record_last_run(tmp_path, "quick", tmp_path.parent / "figures", seed=3, seeds=1, data_dir=None, crop="auto")
    trained = notebook_places(runs_root=tmp_path)
    assert (trained.profile, trained.seed, trained.run_dir, trained.fig_dir) == (
        "quick", 3, tmp_path, tmp_path.parent / "figures")
    assert str(trained).startswith("profile quick (the profile `make figures` last ran), seed 3")
    monkeypatch.setenv("ANIMELIB_PROFILE", "smoke")  # what the test suite and nbval set
    assert notebook_places(runs_root=tmp_path).profile == "smoke"
    given = notebook_places("full", fig_dir="figs", runs_root=tmp_path)  # relative: from the current folder
    assert given.profile == "full" and given.fig_dir == Path.cwd() / "figs" and given.run_dir == tmp_path / "full"


def test_papermill_cli_writes_to_the_same_place_from_any_folder(tmp_path):
    """The plain papermill command, from the repository root and from notebooks/: figures land in runs/smoke/."""
    figures = NOTEBOOKS_DIR.parent / "runs" / "smoke" / "figures"
    for cwd, book in ((NOTEBOOKS_DIR.parent, "notebooks/00_datasets.ipynb"), (NOTEBOOKS_DIR, "00_datasets.ipynb")):
        (figures / "table1.png").unlink(missing_ok=True)
        out = tmp_path / f"out-{cwd.name}.ipynb"
        run = subprocess.run([sys.executable, "-m", "papermill", book, str(out), "-p", "PROFILE", "smoke",
                              "--no-progress-bar"], cwd=cwd, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        assert (figures / "table1.png").exists(), f"from {cwd}: no figure in {figures}"
        first = next(o["text"] for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("name") == "stdout")
        assert first.startswith(f"profile smoke (given), seed 0, data: synthetic avatars; runs in {figures.parent}")
