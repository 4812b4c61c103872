"""The anime style: flat cel colours with one shadow tone, dark outlines, big eyes with highlights, pointy bangs.

Drawn hard-edged on a canvas supersampled 2-8x; ``render`` reduces it with ``INTER_AREA``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

from animelib.data.synthetic.geometry import HeadGeometry, background_layout, ellipse, through
from animelib.data.synthetic.painter import Painter, mix, skin_color

_OUTLINE = (52, 30, 32)  # eye lashes; mixed with the skin for the face's outlines


class _Palette(NamedTuple):
    """The colours of one anime face (float32 RGB)."""

    skin: np.ndarray
    shadow: np.ndarray  # the one shadow tone on the skin
    outline: np.ndarray  # face, ears, neck, mouth
    hair: np.ndarray
    hair_dark: np.ndarray  # the back hair
    hair_outline: np.ndarray  # hair outlines and brows
    hair_shine: np.ndarray


def _palette(attrs: dict) -> _Palette:
    skin = mix(skin_color(attrs["skin_tone"]), (255, 240, 232), 0.3)
    hair = np.asarray(attrs["hair_color"], np.float32)
    if hair.max() < 70:  # anime "black" hair is a dark blue-grey
        hair = mix(hair, (70, 72, 104), 0.55)
    return _Palette(skin=skin, shadow=skin * np.array([0.93, 0.8, 0.8], np.float32),
                    outline=mix(_OUTLINE, skin * 0.3, 0.25), hair=hair, hair_dark=hair * 0.72,
                    hair_outline=np.minimum(hair * 0.35, 72), hair_shine=mix(hair, (255, 255, 255), 0.5))


def draw_anime(head: HeadGeometry, attrs: dict, canvas_size: int, size: int) -> np.ndarray:
    """The anime avatar on a (canvas_size, canvas_size, 3) uint8 canvas, for an output of ``size`` pixels."""
    line_width = max(1.0, size / 96) * (canvas_size / size)  # canvas pixels
    background = mix(attrs["background_color"], (255, 255, 255), 0.3)
    canvas = np.empty((canvas_size, canvas_size, 3), np.uint8)
    canvas[:] = np.round(background).astype(np.uint8)
    _draw_background(canvas, attrs, background)
    painter = Painter(canvas, head.to_image, head.scale)
    palette = _palette(attrs)
    _draw_back_hair(painter, head, palette, line_width)
    _draw_body(painter, head, attrs, palette, line_width)
    _draw_face(painter, head, palette, line_width)
    _draw_blush(painter, head, attrs, line_width)
    for side in (-1, 1):
        _draw_eye(painter, head, attrs, side, palette, line_width)
    # nose: a tiny mark at the tip
    painter.stroke([(0.004, head.nose_y - 0.016), (0.0, head.nose_y)], palette.shadow * 0.7, line_width * 0.8)
    _draw_mouth(painter, head, attrs, palette.outline, line_width)
    _draw_front_hair(painter, head, attrs, palette, line_width)
    return canvas


def _draw_background(canvas: np.ndarray, attrs: dict, background: np.ndarray) -> None:
    """Flat pattern shapes in a lighter or darker tone of ``background`` over the whole canvas."""
    size = canvas.shape[0]
    layout = background_layout(attrs)
    light = tuple(float(c) for c in mix(background, (255, 255, 255), 0.45))
    dark = tuple(float(c) for c in background * 0.88)
    if layout["pattern"] == "dots":
        for (x, y), radius in zip(layout["dots"], layout["dot_radii"], strict=True):
            cv2.circle(canvas, (int(x * size * 16), int(y * size * 16)), int(radius * 0.6 * size * 16), light, -1,
                       cv2.LINE_AA, 4)
    elif layout["pattern"] == "split":
        x, tilt = layout["split"]
        points = np.array([(x + tilt * 0.5, -0.01), (1.01, -0.01), (1.01, 1.01), (x - tilt * 0.5, 1.01)]) * size
        cv2.fillPoly(canvas, [np.round(points * 16).astype(np.int32)], dark, cv2.LINE_AA, 4)
    elif layout["pattern"] == "stripes":
        count, phase = layout["stripes"]
        width = size / count
        for i in range(-1, count + 1):
            x0 = (i + phase) * width
            points = np.array([(x0, 0), (x0 + width / 2, 0), (x0 + width / 2, size), (x0, size)])
            cv2.fillPoly(canvas, [np.round(points * 16).astype(np.int32)], light, cv2.LINE_AA, 4)


def _draw_back_hair(painter: Painter, head: HeadGeometry, palette: _Palette, line_width: float) -> None:
    for poly in head.hair_behind:
        painter.fill(poly, palette.hair)
        painter.stroke(poly, palette.hair_outline, line_width, True)
    painter.fill(head.back_hair, palette.hair_dark)
    painter.stroke(head.back_hair, palette.hair_outline, line_width, True)


def _draw_body(painter: Painter, head: HeadGeometry, attrs: dict, palette: _Palette, line_width: float) -> None:
    """Clothes, the neck with the chin's shadow on it, and the ears."""
    clothes = np.asarray(attrs["clothes_color"], np.float32)
    painter.fill(head.body, clothes)
    painter.stroke(head.body, clothes * 0.3, line_width, True)
    painter.fill(head.neck, palette.skin)
    painter.layer(fills=[head.jaw_outline + (0.0, 0.07)], color=palette.shadow, clip=[head.neck])
    painter.stroke(head.neck[:3], palette.outline, line_width)
    painter.stroke(head.neck[2:], palette.outline, line_width)
    for cx, cy, rx, ry in head.ears:
        ear = ellipse(cx, cy, rx, ry)
        painter.fill(ear, palette.skin)
        painter.fill(ellipse(cx + 0.25 * rx * np.sign(cx), cy + 0.1 * ry, rx * 0.45, ry * 0.55), palette.shadow)
        painter.stroke(ear, palette.outline, line_width * 0.8, True)


def _draw_face(painter: Painter, head: HeadGeometry, palette: _Palette, line_width: float) -> None:
    """The face, the cel shadow cast on it by the bangs and the side locks, and the jaw line."""
    painter.fill(head.face_outline, palette.skin)
    casters = [head.fringe + (0.012, 0.035)] + [lock + (-0.025 * np.sign(lock[0, 0]), 0.01) for lock in head.side_locks]
    painter.layer(fills=casters, color=palette.shadow, clip=[head.face_outline])
    painter.stroke(head.jaw_outline, palette.outline, line_width)


def _draw_blush(painter: Painter, head: HeadGeometry, attrs: dict, line_width: float) -> None:
    """Pink cheeks above a blush of 0.35, with three hatch lines each above 0.7."""
    if attrs["blush"] <= 0.35:
        return
    for side in (-1, 1):
        cx = side * (head.eye_x + 0.02)
        painter.layer(fills=[ellipse(cx, 0.095, 0.05, 0.022)], color=(255, 120, 140), alpha=0.45 * attrs["blush"])
        if attrs["blush"] > 0.7:
            for k in (-1, 0, 1):
                x = cx + 0.02 * k
                painter.stroke([(x + 0.006, 0.085), (x - 0.006, 0.105)], (230, 90, 110), line_width * 0.7)


def _draw_eye(painter: Painter, head: HeadGeometry, attrs: dict, side: int, palette: _Palette,
              line_width: float) -> None:
    """The brow, then the eye of one side (-1 left, +1 right): white, iris, pupil, highlights, lashes."""
    iris = np.asarray(attrs["eye_color"], np.float32)
    half_width, half_height = head.anime_eye_half_width, head.anime_eye_half_height
    x = side * head.eye_x
    brow_y = -half_height - 0.035
    painter.stroke(through((x - 0.7 * half_width, brow_y), (x, -half_height - 0.05), (x + 0.7 * half_width, brow_y), 8),
                   palette.hair_outline, line_width * 0.8)
    painter.fill(ellipse(x, 0.0, half_width, half_height), (255, 255, 255))
    painter.fill(ellipse(x, 0.05 * half_height, 0.6 * half_width, 0.9 * half_height), iris * 0.55)
    painter.fill(ellipse(x, 0.2 * half_height, 0.5 * half_width, 0.7 * half_height), iris)
    painter.fill(ellipse(x, 0.05 * half_height, 0.27 * half_width, 0.42 * half_height), iris * 0.22)  # pupil
    painter.fill(ellipse(x - 0.25 * half_width, -0.3 * half_height, 0.2 * half_width, 0.2 * half_width),
                 (255, 255, 255))
    painter.fill(ellipse(x + 0.22 * half_width, 0.4 * half_height, 0.09 * half_width, 0.09 * half_width),
                 (255, 255, 255))
    # upper lash: a thick band along the top of the eye with a flick at the outer corner
    t = np.linspace(math.pi + 0.2, 2 * math.pi - 0.05, 14)
    arc_x, arc_y = 1.06 * half_width * np.cos(t), 1.03 * half_height * np.sin(t)
    thickness = (0.012 + 0.014 * np.linspace(0, 1, 14)) * (0.8 + 0.4 * attrs["eye_size"])
    top = np.stack([x + side * arc_x, arc_y], 1)
    bottom = np.stack([x + side * arc_x, arc_y + thickness], 1)
    flick = np.array([[x + side * 1.22 * half_width, -0.12 * half_height]])
    painter.fill(np.concatenate([top, flick, bottom[::-1]]), _OUTLINE)
    # lower lash: a thin line along the outer part of the bottom
    t = np.linspace(0.2, 1.1, 8)
    painter.stroke(np.stack([x + side * half_width * np.cos(t), 0.98 * half_height * np.sin(t)], 1), _OUTLINE,
                   line_width * 0.7)


def _draw_mouth(painter: Painter, head: HeadGeometry, attrs: dict, outline, line_width: float) -> None:
    """A line, or above ``mouth_open`` 0.55 an open mouth with a tongue."""
    left, right = (-head.mouth_half_width, head.mouth_corner_y), (head.mouth_half_width, head.mouth_corner_y)
    top = through(left, (0.0, head.mouth_line_y), right, 10)
    if attrs["mouth_open"] <= 0.55:
        painter.stroke(top, outline, line_width * 0.8)
        return
    depth = 0.012 + 0.05 * (attrs["mouth_open"] - 0.55)
    bottom = through(right, (0.0, head.mouth_line_y + depth), left, 10)
    mouth = np.concatenate([top, bottom[1:-1]])
    painter.fill(mouth, (150, 44, 56))
    tongue = ellipse(0.0, head.mouth_line_y + depth * 0.95, head.mouth_half_width * 0.55, depth * 0.5)
    painter.layer(fills=[tongue], color=(236, 124, 134), clip=[mouth])
    painter.stroke(mouth, outline, line_width * 0.8, True)


def _draw_front_hair(painter: Painter, head: HeadGeometry, attrs: dict, palette: _Palette, line_width: float) -> None:
    """Side locks, the bangs with their shine, and the hair ties."""
    for lock in head.side_locks:
        painter.fill(lock, palette.hair)
        painter.stroke(lock, palette.hair_outline, line_width, True)
    painter.fill(head.fringe, palette.hair)
    for shine in head.shine_strokes:
        painter.fill(shine, palette.hair_shine)
    painter.stroke(head.fringe, palette.hair_outline, line_width, True)
    for cx, cy, radius in head.hair_ties:
        tie = ellipse(cx, cy, radius, radius * 1.2)
        painter.fill(tie, attrs["accent_color"])
        painter.stroke(tie, np.asarray(attrs["accent_color"], np.float32) * 0.35, line_width * 0.8, True)
