"""The extra losses, each switched off and on (report 3.4's face landmark, grayscale and colour losses).

Every variant starts from the same trained run (its last checkpoint, copied into the variant's own run
folder) and trains the same number of further epochs, with one extra loss switched on, or none for the
baseline. The variants therefore differ only in that loss, and each costs only the extra epochs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from animelib.config import Config
from animelib.models import train
from animelib.runs import CHECKPOINT_FILE, Run

# by profile: further epochs per variant, and the models ablated. The quick profile ablates CycleGAN alone (the
# landmark loss comes from a landmark-assisted CycleGAN); its four CartoonGAN forks would add about a tenth to
# the quick profile's training. The smoke and full profiles ablate both models.
PLANS: dict[str, tuple[int, tuple[str, ...]]] = {
    "smoke": (1, ("CycleGAN", "CartoonGAN")),
    "quick": (1, ("CycleGAN",)),
    "full": (20, ("CycleGAN", "CartoonGAN")),
}

VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "+landmark": {"landmark_loss": True},
    "+gray": {"gray_loss": True},
    "+color": {"color_loss": True},
}


def variant_config(base: Config, name: str, extra_epochs: int) -> Config:
    """Variant ``name`` of ``base``, trained ``extra_epochs`` further."""
    return base.replace(**VARIANTS[name], epochs=base.epochs + extra_epochs)


def variant_folder(base: Config, runs_dir: str | Path, name: str) -> Path:
    """The run folder of variant ``name`` of the run of ``base``: ``<runs_dir>/<run name>-ablation-<name>``."""
    return Path(runs_dir) / f"{base.run_name}-ablation-{name.lstrip('+')}"


def fork_variant(base_run_dir: str | Path, folder: str | Path, cfg: Config) -> None:
    """Start the variant's run folder from the base run's last checkpoint, unless it has one of its own already."""
    if not (Path(folder) / CHECKPOINT_FILE).exists():  # a fork killed half-way has no checkpoint yet
        Run.fork(base_run_dir, folder, cfg)


def run_ablation(base: Config, base_run_dir: str | Path, runs_dir: str | Path, extra_epochs: int,
                 variants: list[str] | None = None, progress: bool = True) -> dict[str, Path]:
    """Train every variant (resuming or skipping finished ones); returns variant name -> run folder."""
    folders = {}
    for name in variants or list(VARIANTS):
        cfg = variant_config(base, name, extra_epochs)
        folder = variant_folder(base, runs_dir, name)
        fork_variant(base_run_dir, folder, cfg)
        train(cfg, folder, progress=progress)
        folders[name] = folder
    return folders


def ablation_findings(rows: list[dict[str, Any]]) -> str:
    """One line per model and extra loss: what switching it on changed against that model's baseline."""
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows):
        base = next(r for r in rows if r["model"] == model and r["variant"] == "baseline")
        for r in rows:
            if r["model"] != model or r["variant"] == "baseline":
                continue
            parts = []
            for key, label, lower in (("ssim", "SSIM", False), ("l1", "L1", True),
                                      ("landmark_error", "landmark error", True)):
                if r.get(key) is None or base.get(key) is None:
                    continue
                delta = r[key] - base[key]
                verdict = "same" if abs(delta) < 5e-4 else ("better" if (delta < 0) == lower else "worse")
                parts.append(f"{label} {base[key]:.3f} -> {r[key]:.3f} ({verdict})")
            lines.append(f"{model} {r['variant']}: " + ("; ".join(parts) if parts else "no paired metrics (real data)"))
    return "\n".join(lines)
