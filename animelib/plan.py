"""What each notebook trains: one table, read by the notebooks and by the scheduler that trains ahead of them.

A notebook asks :func:`plan_for` for its runs and trains each with :meth:`PlannedRun.train`; ``animelib run``
trains the same runs ahead of the notebooks (:func:`animelib.schedule.plan` lists them from here), so a notebook
then finds them finished. Every config comes from :func:`model_config`: the profile's, with the seed, data and crop
of the notebook's places.

- a model's own notebook (``SPEC.notebook``) trains its run at every seed (``seed``, ``seed + 1``, ... ``seeds``
  of them): its findings are measured over all of them, as notebook 04's are, so both print the same number;
- ``03_cartoongan`` also trains CycleGAN's runs (it compares the two) and the ablation variants of the models its
  profile ablates (:data:`animelib.ablation.PLANS`), each forked from its model's run at the first seed;
- ``04_comparison`` trains every model at every seed;
- the notebooks of the models in :data:`REPORT_RECIPE` and ``04_comparison`` also train that model's *report
  recipe* at the first seed (:meth:`animelib.config.Config.report_recipe`: every lever off, the same budget): the
  dynamics claims are about the report's recipe, and its samples beside the profile's show what the levers buy.

A model's run at the first seed is trained in the sessions of its ``SPEC.interrupt_at`` (Figure 7's interrupted and
resumed run) whichever notebook trains it first; the further seeds are trained in one session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from animelib.ablation import PLANS, VARIANTS, fork_variant, variant_config, variant_folder
from animelib.config import Config
from animelib.errors import ConfigError
from animelib.models import MODELS, spec, train
from animelib.paths import NotebookPlaces
from animelib.training import FinishedRun, Trainer

ABLATION_NOTEBOOK, COMPARISON_NOTEBOOK = "03_cartoongan", "04_comparison"
# beyond its own model, the models a notebook trains because it compares its own with them
COMPARES_WITH: dict[str, tuple[str, ...]] = {ABLATION_NOTEBOOK: ("cyclegan",)}
# the notebooks that measure nothing with the evaluation-only networks (the DCGAN's compares with real avatars only)
NO_EVALUATORS = frozenset({"00_datasets", "01_dcgan"})
# the models trained once more with the report's recipe (their dynamics claims are read from that run)
REPORT_RECIPE = ("dcgan", "cyclegan")


def model_config(model: str, where: NotebookPlaces, device: str = "auto", seed: int | None = None) -> Config:
    """The config of ``model`` that the notebooks train: the profile's, with the places' settings (``seed``: another
    seed than the places' first)."""
    settings = {**where.settings, **({} if seed is None else {"seed": seed})}
    return spec(model).config_class.from_profile(where.profile, device=device, **settings)


@dataclass(frozen=True)
class PlannedRun:
    """One run a notebook trains: its config and folder, the epochs its sessions end at, and for an ablation
    variant, the variant's name and the run it forks."""

    model: str  # the registry name ("cyclegan"), also of a variant's model
    config: Config
    run_dir: Path
    interrupt_at: tuple[int, ...] = ()  # a session ends after each of these epochs; a new one resumes
    variant: str | None = None  # an ablation variant ("baseline", "+landmark", ...)
    base_run_dir: Path | None = None  # the run a variant starts from (its last checkpoint)
    report_recipe: bool = False  # the model with every lever off (Config.report_recipe), at the profile's budget

    @property
    def name(self) -> str:
        """The run folder's name."""
        return self.run_dir.name

    @property
    def seed(self) -> int:
        return self.config.seed

    def train(self, progress: bool = True, **options) -> Trainer | FinishedRun:
        """Train the run as its notebook does (a variant first forked from its base run); a finished run is only
        opened (:func:`animelib.models.train`, which takes ``options``)."""
        if self.base_run_dir is not None:
            fork_variant(self.base_run_dir, self.run_dir, self.config)
        return train(self.config, self.run_dir, progress=progress, interrupt_at=self.interrupt_at, **options)


@dataclass(frozen=True)
class NotebookPlan:
    """The runs one notebook trains, in the order it trains them, and whether it measures with the evaluators."""

    notebook: str  # its file stem ("01_dcgan")
    runs: tuple[PlannedRun, ...]
    evaluators: bool  # it measures with the evaluation-only networks (built ahead of it by the scheduler)

    def run(self, model: str, seed: int | None = None, report_recipe: bool = False) -> PlannedRun:
        """The run of ``model`` at ``seed`` (the first seed when None), not an ablation variant; with
        ``report_recipe``, the run of the report's recipe."""
        found = [r for r in self.runs if r.model == model and r.variant is None and r.report_recipe == report_recipe
                 and (seed is None or r.seed == seed)]
        if not found:
            raise ConfigError(f"{self.notebook} trains no {model} run" + (" of the report's recipe" if report_recipe
                              else "") + (f" at seed {seed}" if seed is not None else ""))
        return found[0]

    def config(self, model: str, seed: int | None = None) -> Config:
        return self.run(model, seed).config

    @property
    def seeds(self) -> list[int]:
        """The seeds it trains, first to last."""
        return sorted({r.seed for r in self.runs})

    def ablation(self, base: PlannedRun) -> dict[str, PlannedRun]:
        """The ablation variants forked from ``base``'s run, by variant name (none where it is not ablated)."""
        return {r.variant: r for r in self.runs if r.base_run_dir == base.run_dir}


def notebook_stem(notebook: str | Path) -> str:
    """``01_dcgan`` from ``01_dcgan``, ``01_dcgan.ipynb`` or a path to it."""
    return Path(notebook).stem if str(notebook).endswith(".ipynb") else Path(notebook).name


def plan_for(notebook: str | Path, where: NotebookPlaces, device: str = "auto") -> NotebookPlan:
    """The runs that ``notebook`` (its file name or stem) trains with ``where``'s profile, settings and folders."""
    book = notebook_stem(notebook)
    seeds = range(where.seed, where.seed + where.seeds)
    models = [m for m, s in MODELS.items() if book == COMPARISON_NOTEBOOK or notebook_stem(s.notebook) == book
              or m in COMPARES_WITH.get(book, ())]
    if book == ABLATION_NOTEBOOK:  # its own model first, as it trains them
        models.sort(key=lambda m: notebook_stem(MODELS[m].notebook) != book)
    runs = [_model_run(model, seed, where, device) for model in models for seed in seeds]
    runs += [_report_run(model, where, device) for model in models if model in REPORT_RECIPE
             and (book == COMPARISON_NOTEBOOK or notebook_stem(MODELS[model].notebook) == book)]
    if book == ABLATION_NOTEBOOK:
        epochs, ablated = PLANS[where.profile]
        for model in (m for m, s in MODELS.items() if s.label in ablated):
            base = _model_run(model, where.seed, where, device)
            if base not in runs:  # a variant forks its model's run: trained here first when not listed above
                runs.append(base)
            runs += [PlannedRun(model, variant_config(base.config, v, epochs),
                                variant_folder(base.config, where.run_dir, v), variant=v, base_run_dir=base.run_dir)
                     for v in VARIANTS]
    return NotebookPlan(book, tuple(runs), evaluators=where.data_dir is None and book not in NO_EVALUATORS)


def _report_run(model: str, where: NotebookPlaces, device: str) -> PlannedRun:
    cfg = model_config(model, where, device).report_recipe()
    return PlannedRun(model, cfg, where.run_dir / f"{cfg.run_name}-report-recipe", report_recipe=True)


def _model_run(model: str, seed: int, where: NotebookPlaces, device: str) -> PlannedRun:
    cfg = model_config(model, where, device, seed)
    first = seed == where.seed
    return PlannedRun(model, cfg, where.run_dir / cfg.run_name,
                      interrupt_at=MODELS[model].interrupt_at.get(where.profile, ()) if first else ())
