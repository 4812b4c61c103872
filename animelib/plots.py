"""Plot functions: each takes data (usually read from a run folder) and returns a matplotlib Figure."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyBboxPatch

from animelib.formatting import format_value

KIND_COLOURS = {"Input": "#dddddd", "Conv": "#9ecae1", "ConvT": "#fdae6b", "ResBlock": "#a1d99b"}


def _fmt_shape(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape)


def plot_architecture(rows: list[dict[str, Any]], title: str, ax=None) -> plt.Figure:
    """A chain of boxes, one per layer, labelled like the report's Figure 2: layer, k, n (output), s.

    ``rows`` come from :func:`animelib.nets.blocks.layer_table`; box height grows with the output's
    spatial size so down- and up-sampling are visible at a glance. Repeated residual blocks are merged.
    """
    merged: list[dict[str, Any]] = []
    for r in rows:
        if merged and r["kind"] == "ResBlock" and merged[-1]["kind"] == "ResBlock" and merged[-1]["out"] == r["out"]:
            merged[-1]["repeat"] += 1
        else:
            merged.append({**r, "repeat": 1})
    n = len(merged)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6, 1.45 * n), 3.2))
    else:
        fig = ax.figure
    sizes = [r["out"][-1] if len(r["out"]) == 3 else 1 for r in merged]
    top = np.log2(max(sizes)) + 1
    for i, r in enumerate(merged):
        h = 0.25 + 0.75 * (np.log2(sizes[i]) + 1) / top
        colour = KIND_COLOURS.get(r["kind"], "#cccccc")
        ax.add_patch(FancyBboxPatch((i + 0.1, 0.5 - h / 2), 0.8, h, boxstyle="round,pad=0.02",
                                    fc=colour, ec="#333333", lw=1))
        name = r["kind"] + (f" x{r['repeat']}" if r["repeat"] > 1 else "")
        ax.text(i + 0.5, 0.5 + h / 2 + 0.06, name, ha="center", va="bottom", fontsize=9, weight="bold")
        lines = [f"n={_fmt_shape(r['out'])}"]
        if r["k"] is not None:
            lines.insert(0, f"k={r['k']}  s={r['s']}")
        ax.text(i + 0.5, 0.5, "\n".join(lines), ha="center", va="center", fontsize=7.5)
        if r["post"]:
            ax.text(i + 0.5, 0.5 - h / 2 - 0.05, r["post"], ha="center", va="top", fontsize=7, color="#555555")
        if i:
            ax.annotate("", (i + 0.1, 0.5), (i - 0.1, 0.5), arrowprops=dict(arrowstyle="->", lw=1))
    ax.set_xlim(0, n)
    ax.set_ylim(-0.15, 1.2)
    ax.axis("off")
    ax.set_title(title, fontsize=11)
    return fig


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Moving average with a window that shrinks at the start (same length as the input).

    Missing values (NaN, e.g. a GAN loss during pre-training) stay missing and do not spread.
    """
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    if not finite.all():
        out = np.full_like(values, np.nan)
        out[finite] = smooth(values[finite], window)
        return out
    if window <= 1 or len(values) < 2:
        return values
    c = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def step_records(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in history if "event" not in r]


def events(history: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in history if r.get("event") == kind]


def plot_losses(history: list[dict[str, Any]], groups: dict[str, Sequence[str]], title: str = "",
                window: int | None = None, marks: dict[str, list[int]] | None = None,
                log_y: bool = False) -> plt.Figure:
    """Loss curves per iteration, one panel per group: raw values faint, moving average bold.

    ``marks`` maps a label to iterations to draw as vertical lines (resume points, end of pre-training).
    """
    steps = step_records(history)
    x = np.array([r["step"] for r in steps])
    window = window or max(1, len(steps) // 25)
    cols = len(groups) if len(groups) <= 3 else 2
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(groups):]:
        ax.axis("off")
    for ax, (panel, names) in zip(axes.flat, groups.items(), strict=False):  # spare panels are off
        for j, name in enumerate(names):
            y = np.array([r.get(name, np.nan) for r in steps], dtype=float)
            colour = f"C{j}"
            ax.plot(x, y, color=colour, alpha=0.25, lw=0.8)
            ax.plot(x, smooth(y, window), color=colour, lw=1.8, label=name)
        for k, (label, where) in enumerate((marks or {}).items()):
            for i, s in enumerate(where):
                ax.axvline(s, color="k", ls=["--", ":", "-."][k % 3], lw=1, label=label if i == 0 else None)
        ax.set_title(panel)
        ax.set_xlabel("iteration")
        if log_y:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _finish(fig, title)


def image_grid(images: np.ndarray, nrow: int, title: str = "", pad: int = 2, scale: float = 1.0,
               row_labels: Sequence[str] | None = None, col_labels: Sequence[str] | None = None,
               landmarks: np.ndarray | None = None) -> plt.Figure:
    """(N, H, W, 3) uint8 images in rows of ``nrow``, on a white background; optional (N, 5, 2) landmarks."""
    n, h, w, _ = images.shape
    rows = -(-n // nrow)
    canvas = _canvas(images, nrow, pad)
    inches = scale * canvas.shape[1] / 100, scale * canvas.shape[0] / 100
    fig, ax = plt.subplots(figsize=(max(inches[0], 2.5), max(inches[1], 1.0) + (0.4 if title else 0)))
    ax.imshow(canvas, interpolation="nearest")
    if landmarks is not None:
        for i, marks in enumerate(landmarks):
            r, c = divmod(i, nrow)
            ax.scatter(pad + c * (w + pad) + marks[:, 0] - 0.5, pad + r * (h + pad) + marks[:, 1] - 0.5,
                       s=6, c=["#ff2020", "#ff2020", "#20c020", "#2060ff", "#2060ff"], linewidths=0)
    ax.set_xticks([pad + c * (w + pad) + w / 2 for c in range(nrow)] if col_labels else [])
    if col_labels:
        ax.set_xticklabels(col_labels, fontsize=8)
        ax.xaxis.tick_top()
    ax.set_yticks([pad + r * (h + pad) + h / 2 for r in range(rows)] if row_labels else [])
    if row_labels:
        ax.set_yticklabels(row_labels, fontsize=8)
    for s in ax.spines.values():
        s.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def _canvas(images: np.ndarray, nrow: int, pad: int = 2) -> np.ndarray:
    """(N, H, W, 3) uint8 images pasted in rows of ``nrow`` on a white canvas, ``pad`` pixels apart."""
    n, h, w, _ = images.shape
    rows = -(-n // nrow)
    canvas = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, nrow)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = im
    return canvas


def recipes_figure(grids: dict[str, np.ndarray], nrow: int, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                   title: str = "", scale: float = 1.5) -> plt.Figure:
    """Two or more recipes of one model side by side: each one's images (``grids``: its title -> (N, H, W, 3)
    uint8, in rows of ``nrow``, ``scale`` as in :func:`image_grid`) above a table of their measures (one row each)."""
    canvases = [_canvas(images, nrow) for images in grids.values()]
    chars = [max(len(str(c)), *(len(format_value(r[i])) for r in rows)) + 2 for i, c in enumerate(columns)]
    table_height = 0.32 * (len(rows) + 1) + 0.3
    width = max(10.0, scale * sum(c.shape[1] for c in canvases) / 100, 0.08 * sum(chars))  # the table's text fits
    image_height = scale * max(c.shape[0] for c in canvases) / 100
    fig = plt.figure(figsize=(width, image_height + table_height + (0.5 if title else 0.2)))
    grid = fig.add_gridspec(2, len(canvases), height_ratios=[image_height + 0.3, table_height])
    for i, (name, canvas) in enumerate(zip(grids, canvases, strict=True)):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(canvas, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    ax.axis("off")
    _table(ax, [[format_value(v) for v in r] for r in rows], columns, [c / sum(chars) for c in chars], 8)
    return _finish(fig, title)


def _table(ax, cells: Sequence[Sequence[str]], columns: Sequence[str], widths: Sequence[float], fontsize: int):
    """A matplotlib table on ``ax``, its header row shaded and bold."""
    table = ax.table(cellText=cells, colLabels=list(columns), loc="center", cellLoc="center", colWidths=widths)
    table.auto_set_font_size(False)
    table.set_fontsize(fontsize)
    table.scale(1, 1.35)
    for (r, _c), cell in table.get_celld().items():
        if r == 0:
            cell.set_facecolor("#e8e8e8")
            cell.set_text_props(weight="bold")
    return table


def plot_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "",
               wrap: Sequence[int | None] | None = None) -> plt.Figure:
    """A table as a figure (Table 1, Table 2, the ablation, the verdicts); column widths follow their longest
    line. ``wrap``: per column, the width in characters to wrap its texts at (None: one line)."""
    wrap = list(wrap or [None] * len(columns))
    cells = [["\n".join(textwrap.wrap(format_value(v), w)) if w else format_value(v) for v, w in zip(row, wrap,
                                                                                                    strict=True)]
             for row in rows]
    lines = [max(c.count("\n") + 1 for c in row) for row in cells]
    chars = [max(len(str(c)), *(len(line) for r in cells for line in r[i].split("\n"))) + 2
             for i, c in enumerate(columns)]
    widths = [c / sum(chars) for c in chars]
    height = 0.32 * (sum(lines) + 1) + (0.45 if title else 0.1)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.085 * sum(chars)), height))
    ax.axis("off")
    table = _table(ax, cells, columns, widths, 9)
    for (r, _c), cell in table.get_celld().items():
        if r > 0 and lines[r - 1] > 1:
            cell.set_height(cell.get_height() * lines[r - 1])
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_paired_metrics(history: list[dict[str, Any]], title: str = "") -> plt.Figure:
    """Per-epoch paired metrics of a translation run: G_A2B(A) vs truth, the identity baseline, and vs input."""
    metrics = events(history, "metrics")
    epochs = [m["epoch"] for m in metrics]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
    for ax, (key, label) in zip(axes, (("l1", "L1 (lower is better)"), ("psnr", "PSNR dB (higher is better)"),
                                       ("ssim", "SSIM (higher is better)")), strict=True):
        ax.plot(epochs, [m[f"A2B_{key}"] for m in metrics], "o-", label="G_A2B(A) vs ground truth")
        ax.plot(epochs, [m[f"identity_{key}"] for m in metrics], "--", color="grey",
                label="identity baseline: A vs ground truth")
        if f"input_{key}" in metrics[0] and key == "ssim":
            ax.plot(epochs, [m[f"input_{key}"] for m in metrics], ":", color="C3", label="G_A2B(A) vs its input A")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8)
    return _finish(fig, title)


def architecture_figure(parts: list[tuple[list[dict[str, Any]], str]]) -> plt.Figure:
    """Several networks' layer tables stacked, one row each (generator above discriminator)."""
    width = max(len(rows) for rows, _ in parts)
    fig, axes = plt.subplots(len(parts), 1, figsize=(max(6, 1.45 * width), 3.0 * len(parts)), squeeze=False)
    for ax, (rows, title) in zip(axes[:, 0], parts, strict=True):
        plot_architecture(rows, title, ax=ax)
    fig.tight_layout()
    return fig


QUALITY_PANELS = (  # key, title, the level that means "as good as real" or a threshold, its label
    ("spectral", "spectral distance to real (lower is better)", None, None),
    ("colour_spectral", "colour spectral distance to real\n(colour noise; lower is better)", None, None),
    ("diversity", "structure diversity / real's (collapse: towards 0)", 0.8, "collapse below 0.8"),
    ("c2st", "C2ST accuracy (0.5: indistinguishable)", 0.5, "chance"),
    ("nn_ratio", "nearest-training-image distance / real's\n(below 1: copying)", 1.0, "real images"),
)


def plot_quality(history: list[dict[str, Any]], title: str = "", panels=QUALITY_PANELS) -> plt.Figure:
    """Per-evaluation quality of a run (epoch 0 = untrained) against held-out real images: one panel per
    measure, its real-vs-real floor dashed, a reference level dotted; ``warning`` events (collapse) marked."""
    metrics = [m for m in events(history, "metrics") if any(m.get(k) is not None for k, *_ in panels)]
    warned = sorted({w["epoch"] for w in events(history, "warning")})
    epochs = [m["epoch"] for m in metrics]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (key, label, level, level_label) in zip(axes[0], panels, strict=True):
        values = np.array([np.nan if m.get(key) is None else m[key] for m in metrics], dtype=float)
        ax.plot(epochs, values, "o-", color="C0", label="generated")
        if any(m.get(f"{key}_floor") is not None for m in metrics):
            floor = [np.nan if m.get(f"{key}_floor") is None else m[f"{key}_floor"] for m in metrics]
            ax.plot(epochs, floor, "--", color="grey", label="floor: real vs real")
        if level is not None:
            ax.axhline(level, color="k", ls=":", lw=1, label=level_label)
        for e in warned:
            ax.axvline(e, color="C3", alpha=0.3, lw=6, label="warning" if e == warned[0] else None)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("epoch (0: untrained)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _finish(fig, title)


def _finish(fig: plt.Figure, title: str = "") -> plt.Figure:
    """The figure's title, if any, and a tight layout."""
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
