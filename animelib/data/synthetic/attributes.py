"""What an avatar looks like, as numbers: the attribute vector, its palettes and ``sample_attributes``.

Both styles draw the same attribute vector, which is what makes (photo, anime) pairs aligned.
"""

from __future__ import annotations

import colorsys
from numbers import Integral

import numpy as np

from animelib.errors import ConfigError

HAIR_STYLES = ("short", "bob", "long", "spiky", "twintails", "ponytail", "buns")
BACKGROUND_PATTERNS = ("plain", "dots", "split", "stripes")
ATTRIBUTE_NAMES = (
    "face_width",  # 0..1, narrow -> wide
    "face_length",  # 0..1, short -> long (moves nose, mouth and chin down)
    "jaw",  # 0..1, round -> pointed chin
    "skin_tone",  # 0..1, light -> dark
    "hair_style",  # int, index into HAIR_STYLES
    "hair_length",  # 0..1
    "hair_volume",  # 0..1
    "hair_color",  # (r, g, b) 0..255
    "fringe_locks",  # int 3..8, number of locks in the bangs
    "fringe_part",  # -1..1, where the bangs part
    "fringe_length",  # 0..1
    "eye_color",  # (r, g, b)
    "eye_size",  # 0..1
    "eye_spacing",  # 0..1
    "mouth_width",  # 0..1
    "mouth_open",  # 0..1 (open above 0.55)
    "smile",  # -0.4..1, corners down -> up
    "blush",  # 0..1
    "clothes_color",  # (r, g, b)
    "accent_color",  # (r, g, b), hair ties
    "background_color",  # (r, g, b)
    "background_pattern",  # int, index into BACKGROUND_PATTERNS
    "offset_x",  # head translation, fraction of the image width
    "offset_y",
    "scale",  # head scale
    "roll",  # head roll, degrees
    "texture_seed",  # int, seeds pattern positions and pixel noise
)

# base colours (r, g, b); each face jitters the one it draws
NATURAL_HAIR = ((28, 24, 30), (64, 42, 32), (108, 70, 44), (152, 106, 68), (224, 192, 122), (238, 226, 196),
                 (152, 60, 38), (170, 170, 176))
VIVID_HAIR = ((246, 150, 188), (86, 124, 222), (140, 200, 244), (148, 98, 198), (98, 178, 126), (210, 58, 68),
               (214, 220, 238), (244, 148, 64), (64, 174, 174), (250, 212, 92))
EYE_COLORS = ((130, 76, 42), (198, 140, 50), (142, 122, 62), (64, 152, 88), (64, 122, 214), (106, 184, 234),
                (130, 142, 154), (152, 86, 206), (206, 46, 58), (234, 106, 166), (234, 192, 64))


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> None:
    """Raise ``ConfigError`` unless ``value`` is an integer (not a bool) within [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ConfigError(f"{name}={value!r} must be an integer")
    if lo is not None and value < lo:
        raise ConfigError(f"{name}={value!r} must be at least {lo}")
    if hi is not None and value > hi:
        raise ConfigError(f"{name}={value!r} must be at most {hi}")


def _jitter(rng: np.random.Generator, color, amount: float) -> tuple[int, int, int]:
    """``color`` with each channel moved by up to ``amount``, as plain ints in 0..255."""
    jittered = np.asarray(color, np.float64) + rng.uniform(-amount, amount, 3)
    return tuple(int(v) for v in np.clip(np.round(jittered), 0, 255))


def _hsv(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    """An HSV colour (each 0..1, hue wrapping) as plain (r, g, b) ints in 0..255."""
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue % 1.0, saturation, value))


def sample_attributes(seed: int, index: int) -> dict[str, float | int | tuple]:
    """The attributes of avatar ``index`` of ``seed`` (deterministic, plain Python values)."""
    check_int("seed", seed, 0)
    check_int("index", index, 0)
    rng = np.random.default_rng([int(seed), int(index)])
    uniform = lambda lo=0.0, hi=1.0: float(rng.uniform(lo, hi))
    vivid = rng.random() < 0.45
    palette = VIVID_HAIR if vivid else NATURAL_HAIR
    hair = _jitter(rng, palette[int(rng.integers(len(palette)))], 16)
    # the dict's order is the order of the draws: do not reorder (every face would change)
    return {
        "face_width": uniform(),
        "face_length": uniform(),
        "jaw": uniform(),
        "skin_tone": float(rng.beta(1.2, 2.2)),
        "hair_style": int(rng.integers(len(HAIR_STYLES))),
        "hair_length": uniform(),
        "hair_volume": uniform(),
        "hair_color": hair,
        "fringe_locks": int(rng.integers(3, 9)),
        "fringe_part": uniform(-1, 1),
        "fringe_length": uniform(),
        "eye_color": _jitter(rng, EYE_COLORS[int(rng.integers(len(EYE_COLORS)))], 18),
        "eye_size": uniform(),
        "eye_spacing": uniform(),
        "mouth_width": uniform(),
        "mouth_open": uniform(),
        "smile": uniform(-0.4, 1.0),
        "blush": uniform(),
        "clothes_color": _hsv(uniform(), uniform(0.25, 0.85), uniform(0.35, 0.95)),
        "accent_color": _hsv(uniform(), uniform(0.5, 0.9), uniform(0.75, 1.0)),
        "background_color": _hsv(uniform(), uniform(0.15, 0.6), uniform(0.7, 1.0)),
        "background_pattern": int(rng.integers(len(BACKGROUND_PATTERNS))),
        "offset_x": uniform(-0.035, 0.035),
        "offset_y": uniform(-0.03, 0.03),
        "scale": uniform(0.92, 1.05),
        "roll": uniform(-9.0, 9.0),
        "texture_seed": int(rng.integers(2**31 - 1)),
    }
