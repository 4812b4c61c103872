"""Uncertainty on every verdict: per-image metric values, paired bootstrap intervals and the verdict rule.

A verdict compares two models (or settings) on the *same* held-out images, so the per-image differences
are what varies; :func:`paired_bootstrap` resamples training seeds (when there are several) and then images
(the same draw for both) and gives a percentile interval for the difference of means, widened with several seeds
to at least a Student t interval on the per-seed differences. :func:`verdict` then
reads "supported" only when the interval lies entirely on the claimed side of zero (or of an agreed
tolerance), "not supported" when it lies entirely on the other side, and "inconclusive" otherwise.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from animelib.errors import ConfigError

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"


class Interval(NamedTuple):
    """A difference of means (a - b) and its bootstrap confidence interval."""

    difference: float
    low: float
    high: float


def _values(name: str, values) -> np.ndarray:
    v = np.asarray(values, np.float64)
    if v.ndim != 1 or len(v) < 2:
        raise ConfigError(f"{name} must be a 1-D sequence of at least 2 per-image values, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ConfigError(f"{name} holds non-finite values (NaN or inf)")
    return v


def _per_seed(name: str, values) -> np.ndarray:
    """Per-image values as (seeds, images): a 1-D sequence is one seed's."""
    v = np.asarray(values, np.float64)
    if v.ndim == 1:
        v = v[None]
    if v.ndim != 2 or v.shape[1] < 2:
        raise ConfigError(f"{name} must hold at least 2 per-image values (per seed: a row), got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ConfigError(f"{name} holds non-finite values (NaN or inf)")
    return v


def paired_bootstrap(per_image_a, per_image_b, n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> Interval:
    """Difference of means ``mean(a) - mean(b)`` of per-image values on the same images, with a percentile
    bootstrap interval (``n_boot`` resamples, drawn from ``seed``; ``ci`` coverage).

    Each of ``a`` and ``b`` is one training seed's values (N,) or several seeds' (S, N), row s of ``a`` paired
    with row s of ``b`` (a single row is paired with every row of the other). With several seeds each resample
    draws S seeds with replacement and then, within each, N images with replacement (the same draw for a and b):
    the interval holds the spread between training seeds as well as between images. A handful of seeds resampled
    with replacement understates that spread (with three, the percentile interval is about the range of the three
    seeds' means), so the interval is widened to hold at least the Student t interval on the per-seed mean
    differences (:func:`seed_t_interval`)."""
    a, b = _per_seed("per_image_a", per_image_a), _per_seed("per_image_b", per_image_b)
    if a.shape[1] != b.shape[1] or (len(a) != len(b) and 1 not in (len(a), len(b))):
        raise ConfigError(f"paired values must come from the same images and seeds: {a.shape} vs {b.shape}")
    if not 0 < ci < 1 or n_boot < 1:
        raise ConfigError(f"ci={ci} must lie between 0 and 1 and n_boot={n_boot} be at least 1")
    d = a - b  # (S, N)
    rng = np.random.default_rng(seed)
    if len(d) == 1:
        means = d[0][rng.integers(0, d.shape[1], (n_boot, d.shape[1]))].mean(1)  # (n_boot,)
    else:
        seeds = rng.integers(0, len(d), (n_boot, len(d), 1))  # (n_boot, S, 1)
        means = d[seeds, rng.integers(0, d.shape[1], (n_boot, len(d), d.shape[1]))].mean((1, 2))
    low, high = np.quantile(means, [(1 - ci) / 2, (1 + ci) / 2])
    if len(d) > 1:
        _, t_low, t_high = seed_t_interval(d.mean(1), ci)
        low, high = min(low, t_low), max(high, t_high)
    return Interval(float(d.mean()), float(low), float(high))


def seed_t_interval(per_seed, ci: float = 0.95) -> Interval:
    """Mean of per-seed values (at least two) with a Student t interval: mean +- t(ci, S-1) * sd / sqrt(S)."""
    v = np.asarray(per_seed, np.float64)
    if v.ndim != 1 or len(v) < 2:
        raise ConfigError(f"per_seed must hold at least 2 values, got shape {v.shape}")
    half = t_quantile((1 + ci) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return Interval(float(v.mean()), float(v.mean() - half), float(v.mean() + half))


def t_quantile(p: float, df: int) -> float:
    """The p-quantile (0.5 <= p < 1) of Student's t with ``df`` degrees of freedom: e.g. 4.303 for p=0.975, df=2.

    With x = sqrt(df) tan(u), the density becomes c cos(u)^(df-1) on [0, pi/2), smooth and bounded for every df,
    so a fixed grid integrates it well even in the far tails; the quantile is found by bisection on u."""
    if not 0.5 <= p < 1 or df < 1:
        raise ConfigError(f"need 0.5 <= p < 1 and df >= 1, got p={p}, df={df}")
    scale = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(math.pi)

    def cdf(u: float) -> float:
        grid = np.linspace(0.0, u, 4001)
        density = scale * np.cos(grid) ** (df - 1)
        return 0.5 + float(((density[1:] + density[:-1]) / 2 * np.diff(grid)).sum())

    low, high = 0.0, math.pi / 2
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if cdf(mid) < p else (low, mid)
    return math.sqrt(df) * math.tan((low + high) / 2)


def verdict(low: float, high: float, tolerance: float = 0.0, higher_is_better: bool = True) -> str:
    """The claim "a is better than b (by more than ``tolerance``)" read from an interval of ``a - b``.

    "supported" when the whole interval lies beyond the tolerance in the claimed direction (above it when
    higher is better, below ``-tolerance`` when lower is better); "not supported" when the whole interval lies
    on the other side of it; else "inconclusive". With ``tolerance=0`` that is: the interval excludes zero.
    """
    if low > high:
        raise ConfigError(f"interval low={low} is above high={high}")
    if tolerance < 0:
        raise ConfigError(f"tolerance={tolerance} must not be negative")
    if not higher_is_better:
        low, high = -high, -low
    if low > tolerance:
        return SUPPORTED
    if high < tolerance:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def equivalence_verdict(low: float, high: float, tolerance: float) -> str:
    """The claim "a and b are the same (within ``tolerance``)" read from an interval of ``a - b``: supported
    when the whole interval lies within [-tolerance, tolerance], not supported when it lies wholly outside."""
    if low > high or tolerance < 0:
        raise ConfigError(f"need low <= high and tolerance >= 0, got {low}, {high}, {tolerance}")
    if -tolerance <= low and high <= tolerance:
        return SUPPORTED
    if low > tolerance or high < -tolerance:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def bootstrap_measure(images: np.ndarray, measure, n_boot: int = 200, seed: int = 0, ci: float = 0.95,
                      distinct: bool = False) -> Interval:
    """A set-level measure (``measure(images) -> float``, e.g. a spectral distance to fixed real images) and a
    percentile interval from resampling ``images`` with replacement (``n_boot`` times, from ``seed``).

    ``distinct``: each resample keeps one copy of every image drawn (about 63 % of the set), for measures that
    copies would bias, such as the mean distance between two samples (a copy is at distance 0); the interval is
    then somewhat wider than the full set's, on the safe side."""
    rng = np.random.default_rng(seed)
    draws = (rng.integers(0, len(images), len(images)) for _ in range(n_boot))
    values = [measure(images[np.unique(d) if distinct else d]) for d in draws]
    low, high = np.quantile(values, [(1 - ci) / 2, (1 + ci) / 2])
    return Interval(float(measure(images)), float(low), float(high))


def block_bootstrap_mean(values, block: int = 10, n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> Interval:
    """Mean of a series of training losses and a moving-block bootstrap interval: blocks of ``block``
    consecutive steps are resampled, so the correlation between neighbouring steps is kept."""
    v = _values("values", values)
    block = max(1, min(block, len(v) // 4))  # a short series: shorter blocks, so resamples differ
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(v) - block + 1, (n_boot, -(-len(v) // block)))  # (n_boot, blocks)
    means = np.concatenate([v[(chunk[:, :, None] + np.arange(block)).reshape(len(chunk), -1)[:, :len(v)]].mean(1)
                            for chunk in np.array_split(starts, max(1, n_boot // 100))])  # (n_boot,)
    low, high = np.quantile(means, [(1 - ci) / 2, (1 + ci) / 2])
    return Interval(float(v.mean()), float(low), float(high))


def trend(values, part: float = 0.2, block: int = 10, n_boot: int = 2000, seed: int = 0) -> Interval:
    """How a training loss moved: the mean of its last ``part`` of the steps minus the mean of its first, with an
    interval from block-bootstrapping both parts independently."""
    v = _values("values", values)
    k = max(2, int(len(v) * part))
    first = block_bootstrap_mean(v[:k], block, n_boot, seed)
    last = block_bootstrap_mean(v[-k:], block, n_boot, seed + 1)
    spread = np.hypot(last.high - last.low, first.high - first.low) / 2  # the two intervals' half-widths, combined
    difference = last.difference - first.difference
    return Interval(difference, difference - spread, difference + spread)
