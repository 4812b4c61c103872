"""Class labels of the synthetic avatars' attributes, for the attribute evaluator and the content network.

:func:`attribute_labels` turns one avatar's attributes (``animelib.data.synthetic.sample_attributes``) into
coarse classes an image shows (hair style and colour, eye colour, skin tone, face shape, background, mouth);
:func:`attribute_table` gives them for a range of synthetic avatars.
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping
from typing import Any

import numpy as np

from animelib.data.synthetic import BACKGROUND_PATTERNS, HAIR_STYLES, sample_attributes

# Coarse colour classes from an RGB value: achromatic classes first, then hue sectors (hue in [0, 1)).
_HUE_SECTORS = ((0.02, "red/pink"), (0.2, "warm"), (0.45, "green"), (0.7, "blue"), (0.85, "purple"),
                (1.01, "red/pink"))


HAIR_COLOURS = ("dark", "pale", "brown", "blonde/orange", "red/pink", "green", "blue", "purple")


EYE_COLOURS = ("grey", "brown/amber", "red/pink", "green", "blue", "purple")


SKIN_TONES = ("light", "medium", "dark")


FACE_SHAPES = ("narrow round", "narrow pointed", "wide round", "wide pointed")


MOUTHS = ("closed", "open")


def attribute_classes() -> dict[str, tuple[str, ...]]:
    """{attribute: its class names}, in the order of the labels of :func:`attribute_labels`."""
    return {"hair_style": HAIR_STYLES, "hair_colour": HAIR_COLOURS, "eye_colour": EYE_COLOURS,
            "skin_tone": SKIN_TONES, "face_shape": FACE_SHAPES, "background": BACKGROUND_PATTERNS,
            "mouth": MOUTHS}


ATTRIBUTES = ("hair_style", "hair_colour", "eye_colour", "skin_tone", "face_shape", "background", "mouth")


def _hue_sector(h: float) -> str:
    return next(name for bound, name in _HUE_SECTORS if h < bound)


def hair_colour_class(rgb) -> int:
    """Index into ``HAIR_COLOURS``: dark (value < 0.33), pale (saturation < 0.25), else by hue; warm hues split
    into brown (value < 0.75) and blonde/orange. The renderer's palette colours sit well inside their class."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    if v < 0.33:
        return HAIR_COLOURS.index("dark")
    if s < 0.25:
        return HAIR_COLOURS.index("pale")
    sector = _hue_sector(h)
    if sector == "warm":
        return HAIR_COLOURS.index("brown" if v < 0.75 else "blonde/orange")
    return HAIR_COLOURS.index(sector)


def eye_colour_class(rgb) -> int:
    """Index into ``EYE_COLOURS``: grey (saturation < 0.3), else by hue (brown, amber, hazel, gold are warm)."""
    h, s, _ = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    if s < 0.3:
        return EYE_COLOURS.index("grey")
    sector = _hue_sector(h)
    return EYE_COLOURS.index("brown/amber" if sector == "warm" else sector)


def attribute_labels(attrs: Mapping[str, Any]) -> dict[str, int]:
    """Class labels of one avatar, from its attributes (``animelib.data.synthetic.sample_attributes``).

    - ``hair_style``: the renderer's 7 styles (``HAIR_STYLES``);
    - ``hair_colour``: 8 coarse classes of the RGB hair colour (:func:`hair_colour_class`);
    - ``eye_colour``: 6 coarse classes of the RGB eye colour (:func:`eye_colour_class`);
    - ``skin_tone``: light (< 0.2), medium (< 0.45), dark: about a third of the faces each;
    - ``face_shape``: narrow / wide (face_width < 0.5) times round / pointed (jaw < 0.5) chin;
    - ``background``: the 4 patterns (``BACKGROUND_PATTERNS``);
    - ``mouth``: closed / open (the renderer opens it above mouth_open 0.55).
    """
    tone = float(attrs["skin_tone"])
    return {
        "hair_style": int(attrs["hair_style"]),
        "hair_colour": hair_colour_class(attrs["hair_color"]),
        "eye_colour": eye_colour_class(attrs["eye_color"]),
        "skin_tone": 0 if tone < 0.2 else 1 if tone < 0.45 else 2,
        "face_shape": 2 * int(attrs["face_width"] >= 0.5) + int(attrs["jaw"] >= 0.5),
        "background": int(attrs["background_pattern"]),
        "mouth": int(attrs["mouth_open"] > 0.55),
    }


def attribute_table(n: int, start: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Labels of synthetic avatars ``start`` .. ``start + n - 1`` of ``seed``: {attribute: (n,) int64}.

    For a translation's held-out inputs pass the range they were rendered from (for the models' test pairs:
    ``start=animelib.data.INDEX_OFFSET["test"]``, ``seed=cfg.data_seed``).
    """
    rows = [attribute_labels(sample_attributes(seed, i)) for i in range(start, start + n)]
    return {name: np.array([r[name] for r in rows], np.int64) for name in ATTRIBUTES}


def chance_accuracy(labels: Mapping[str, Any]) -> dict[str, float]:
    """Accuracy of always guessing the most frequent class, per attribute and their mean: the floor."""
    out = {name: round(float(np.bincount(np.asarray(labels[name])).max() / len(labels[name])), 4)
           for name in ATTRIBUTES}
    out["mean"] = round(float(np.mean(list(out.values()))), 4)
    return out
