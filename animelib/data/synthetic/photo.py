"""The photo style: soft radial light, skin texture, small realistic eyes, nose shading, coloured lips, soft
hair edges and a blurred background, no outlines.

Drawn in float32 on a canvas of 1.5x the output (at least 96 px) and blurred; ``render`` reduces it with
``INTER_AREA`` and adds sensor noise (``add_sensor_noise``).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from animelib.data.synthetic.geometry import HeadGeometry, background_layout, bezier, ellipse, through
from animelib.data.synthetic.painter import Painter, desaturate, fixed_point, mix, skin_color


class _Sticker:
    """A color + alpha scratch layer drawn with hard anti-aliased shapes, then blended in one go.

    ``color_only`` shapes change the colour under an existing alpha (an iris stays inside the eye white).
    """

    def __init__(self, painter: Painter):
        self.painter = painter
        self.color = np.zeros((painter.size, painter.size, 3), np.uint8)
        self.alpha = np.zeros((painter.size, painter.size), np.uint8)
        self.box_min, self.box_max = np.full(2, np.inf), np.full(2, -np.inf)  # of everything drawn, canvas pixels

    def _fixed_point(self, poly) -> list[np.ndarray]:
        pixels = self.painter.to_pixels(poly)
        self.box_min = np.minimum(self.box_min, pixels.min(0))
        self.box_max = np.maximum(self.box_max, pixels.max(0))
        return [fixed_point(pixels)]

    def fill(self, polys, color, alpha: float = 1.0, color_only: bool = False) -> None:
        color = tuple(float(c) for c in np.clip(color, 0, 255))
        for poly in polys:
            points = self._fixed_point(poly)
            cv2.fillPoly(self.color, points, color, cv2.LINE_AA, 4)
            if not color_only:
                cv2.fillPoly(self.alpha, points, 255.0 * alpha, cv2.LINE_AA, 4)

    def stroke(self, lines, color, width: float, alpha: float = 1.0) -> None:
        color = tuple(float(c) for c in np.clip(color, 0, 255))
        width = max(1, int(round(width)))
        for line in lines:
            points = self._fixed_point(line)
            cv2.polylines(self.color, points, False, color, width, cv2.LINE_AA, 4)
            cv2.polylines(self.alpha, points, False, 255.0 * alpha, width, cv2.LINE_AA, 4)
        self.box_min -= width
        self.box_max += width

    def apply(self, canvas: np.ndarray, sigma: float, shade=None, add=None) -> None:
        """Blend onto ``canvas`` (float32, in place): colors times ``shade`` plus ``add``, edges blurred by ``sigma``.

        Only the bounding box of the drawn shapes is touched; ``shade`` and ``add`` are full-canvas arrays.
        """
        size = self.painter.size
        pad = 3 * sigma + 2
        x0, y0 = (max(int(v - pad), 0) for v in self.box_min)
        x1, y1 = (min(int(v + pad) + 2, size) for v in self.box_max)
        if x1 <= x0 or y1 <= y0:
            return
        box = np.s_[y0:y1, x0:x1]
        alpha = self.alpha[box].astype(np.float32) * np.float32(1 / 255)
        color = self.color[box].astype(np.float32)
        if shade is not None:
            color *= shade[box] if shade.ndim == 3 else shade[box][..., None]
        if add is not None:
            color += add[box]
        region = canvas[box]
        if sigma > 0:
            color *= alpha[..., None]  # premultiplied, so that blurred edges do not fade to black
            alpha = cv2.GaussianBlur(alpha, (0, 0), sigma)
            region *= 1.0 - alpha[..., None]
            region += cv2.GaussianBlur(color, (0, 0), sigma)
        else:
            color -= region
            color *= alpha[..., None]
            region += color


def _shade_fill(painter: Painter, shade: np.ndarray, polys, factor) -> None:
    """Set ``shade`` (a multiplier map) to ``factor`` (one or three numbers) inside ``polys``."""
    factor = tuple(float(f) for f in np.broadcast_to(np.asarray(factor, np.float32), (3,)))
    for poly in polys:
        cv2.fillPoly(shade, [painter.to_fixed_point(poly)], factor, cv2.LINE_8, 4)


def _mouth_opening(attrs: dict) -> float:
    """How far the lips part (local units): 0 up to ``mouth_open`` 0.55."""
    return 0.0 if attrs["mouth_open"] <= 0.55 else 0.008 + 0.04 * (attrs["mouth_open"] - 0.55)


def _ear_ellipses(head: HeadGeometry) -> list[np.ndarray]:
    return [ellipse(cx, cy, rx, ry, 20) for cx, cy, rx, ry in head.ears]


def draw_photo(head: HeadGeometry, attrs: dict, canvas_size: int, size: int) -> np.ndarray:
    """The photo avatar on a (canvas_size, canvas_size, 3) float32 canvas, for an output of ``size`` pixels."""
    rng = np.random.default_rng([int(attrs["texture_seed"]), 3, canvas_size])  # streaks, blotches, pores
    canvas = _draw_background(attrs, canvas_size)
    painter = Painter(canvas, head.to_image, head.scale)
    soft_hair = 0.0075 * painter.pixels_per_unit  # hair edge blur, canvas pixels
    half_size = max(32, canvas_size // 2)  # smooth fields and shadows are computed at this size
    half = Painter(np.empty((half_size, half_size, 3), np.float32), head.to_image, head.scale)
    fields = _smooth_fields(half, head, attrs, rng, canvas_size)
    hair_shade = fields[..., 0]

    skin = skin_color(attrs["skin_tone"])
    hair = desaturate(attrs["hair_color"], 0.3) * 0.9
    back = _Sticker(painter)
    back.fill(head.hair_behind, hair)
    back.fill([head.back_hair], hair * 0.72)
    back.apply(canvas, soft_hair, hair_shade)

    body = _Sticker(painter)
    body.fill([head.body], desaturate(attrs["clothes_color"], 0.2))
    body.fill([head.neck], skin * 0.86)
    body.fill(_ear_ellipses(head), skin * 0.88)
    body.apply(canvas, 0.0, fields[..., 1])

    # face: radial soft light (warmer in the shadows) and skin texture
    light = 1.0 + fields[..., 2:3] * np.array([0.9, 1.0, 1.1], np.float32)
    texture = 3.0 * fields[..., 3] + 14.0 * (rng.random((canvas_size, canvas_size), np.float32) - 0.5)
    face = _Sticker(painter)
    face.fill([head.face_outline], skin)
    face.apply(canvas, 0.0, light, texture[..., None])

    features = _Sticker(painter)
    _draw_eyes_and_brows(features, head, attrs, hair)
    _draw_lips(features, head, attrs, skin)
    features.apply(canvas, 0.0)

    canvas *= _skin_shadows(half, head, attrs, canvas_size)

    front = _Sticker(painter)
    front.fill(head.side_locks + [head.fringe], hair)
    ties = [ellipse(cx, cy, r, r * 1.2, 16) for cx, cy, r in head.hair_ties]
    front.fill(ties, desaturate(attrs["accent_color"], 0.3))
    front.apply(canvas, soft_hair, hair_shade)
    return cv2.GaussianBlur(canvas, (0, 0), (0.6 if size >= 64 else 0.4) * (canvas_size / size))  # soft focus


def add_sensor_noise(image: np.ndarray, attrs: dict, size: int) -> np.ndarray:
    """The reduced (size, size, 3) uint8 image with a little Gaussian pixel noise, as uint8."""
    rng = np.random.default_rng([int(attrs["texture_seed"]), 4, size])
    image = image + rng.normal(0.0, 2.0, image.shape).astype(np.float32)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def _smooth_fields(half: Painter, head: HeadGeometry, attrs: dict, rng: np.random.Generator,
                   canvas_size: int) -> np.ndarray:
    """(canvas_size, canvas_size, 4) float32: hair shade, clothes shade, face light, skin blotches.

    Computed on ``half``'s grid and enlarged: they are smooth.
    """
    half_size = half.size
    x, y = half.local_grid((0, half_size, 0, half_size))
    fields = np.empty((half_size, half_size, 4), np.float32)
    streaks = cv2.resize(rng.uniform(0.84, 1.1, (5, max(4, half_size // 2))).astype(np.float32),
                         (half_size, half_size), interpolation=cv2.INTER_CUBIC)
    radius = np.sqrt((x / head.hair_radius_x) ** 2 + ((y - head.hair_centre_y) / head.hair_radius_y) ** 2)
    sheen = 1.0 + 0.32 * np.exp(-(((radius - 0.68) / 0.1) ** 2)) * (y < head.hair_centre_y)
    fields[..., 0] = streaks * sheen * np.clip(1.05 - 0.35 * y, 0.6, 1.15)
    fields[..., 1] = np.clip(1.1 - 0.9 * (y - head.chin_y - 0.12) - 0.6 * x**2, 0.55, 1.1)
    light_x, light_y = -0.06 + 0.06 * (attrs["texture_seed"] % 3 - 1), -0.04
    distance2 = (((x - light_x) / head.cheek_half_width) ** 2
                 + ((y - light_y) / (0.55 * (head.chin_y - head.skull_top))) ** 2)
    fields[..., 2] = np.clip(0.1 - 0.32 * distance2, -0.42, 0.12)
    fields[..., 3] = cv2.resize(rng.standard_normal((12, 12), np.float32), (half_size, half_size),
                                interpolation=cv2.INTER_CUBIC)
    return cv2.resize(fields, (canvas_size, canvas_size), interpolation=cv2.INTER_LINEAR)


@lru_cache(maxsize=8)
def _vignette(size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    return (1.0 - 0.5 * (xx**2 + yy**2))[..., None]


def _draw_background(attrs: dict, canvas_size: int) -> np.ndarray:
    """A blurred scene (smooth gradient plus bokeh, a window edge or shelves), drawn small and enlarged."""
    small_size = 32
    base = mix(desaturate(attrs["background_color"], 0.35), (110, 110, 110), 0.25) * 0.9
    layout = background_layout(attrs)
    gradient = cv2.resize(layout["gradient"].astype(np.float32), (small_size, small_size),
                          interpolation=cv2.INTER_CUBIC)
    shapes = np.zeros((small_size, small_size), np.float32)
    brightness = 0.0  # what the shapes add
    if layout["pattern"] == "dots":  # bokeh
        for (x, y), radius in zip(layout["dots"], layout["dot_radii"], strict=True):
            cv2.circle(shapes, (int(x * small_size * 16), int(y * small_size * 16)), int(radius * small_size * 16),
                       1.0, -1, cv2.LINE_8, 4)
        brightness = 70.0
    elif layout["pattern"] == "split":  # a wall and a window
        x, tilt = layout["split"]
        points = np.array([(x + tilt * 0.5, 0), (1, 0), (1, 1), (x - tilt * 0.5, 1)]) * small_size
        cv2.fillPoly(shapes, [np.round(points).astype(np.int32)], 1.0)
        brightness = -45.0
    elif layout["pattern"] == "stripes":  # shelves / blinds
        count, phase = layout["stripes"]
        for i in range(-1, count + 1):
            x0 = int((i + phase) * small_size / count)
            cv2.rectangle(shapes, (x0, 0), (x0 + int(small_size / (2 * count)), small_size), 1.0, -1)
        brightness = 35.0
    if brightness:
        shapes = cv2.GaussianBlur(shapes, (0, 0), 1.2)
    small = (base * (1.0 + 0.18 * gradient[..., None]) + brightness * shapes[..., None]) * _vignette(small_size)
    return cv2.resize(small.astype(np.float32), (canvas_size, canvas_size), interpolation=cv2.INTER_CUBIC)


def _skin_shadows(half: Painter, head: HeadGeometry, attrs: dict, canvas_size: int) -> np.ndarray:
    """(canvas_size, canvas_size, 3) float32 multiplier: soft shadows on the skin, 1 elsewhere.

    Broad (eye sockets, cheeks, under the chin, under the bangs) and fine (nose, lips, eyelids, ears), drawn
    hard on ``half``'s grid, blurred, limited to the skin and enlarged.
    """
    half_size = half.size
    broad, fine = np.ones((half_size, half_size, 3), np.float32), np.ones((half_size, half_size, 3), np.float32)
    _shade_fill(half, broad, [head.jaw_outline + (0.0, 0.05)], (0.62, 0.6, 0.64))
    _shade_fill(half, broad, [head.face_outline], 1.0)
    eye_half_width, eye_half_height = head.photo_eye_half_width, head.photo_eye_half_height
    _shade_fill(half, broad, [ellipse(side * head.eye_x, -0.25 * eye_half_height, 1.45 * eye_half_width,
                                      2.0 * eye_half_height, 20) for side in (-1, 1)], (0.84, 0.8, 0.82))
    blush = 0.05 + 0.13 * attrs["blush"]
    _shade_fill(half, broad, [ellipse(side * (head.eye_x + 0.03), 0.1, 0.055, 0.035, 20) for side in (-1, 1)],
                (1.0, 1.0 - blush, 1.0 - blush))
    casters = [head.fringe + (0.01, 0.025)] + [lock + (-0.02 * np.sign(lock[0, 0]), 0.0) for lock in head.side_locks]
    _shade_fill(half, broad, casters, (0.6, 0.56, 0.6))
    side = 1 if attrs["texture_seed"] % 3 != 0 else -1  # the nose's shadow side
    nose_y = head.nose_y
    _shade_fill(half, broad, [np.array([(side * 0.008, -0.02), (side * 0.03, -0.02), (side * 0.036, nose_y - 0.012),
                                        (side * 0.012, nose_y - 0.004)])], (0.84, 0.8, 0.82))
    _fine_shading(half, head, attrs, fine)
    skin_mask = np.zeros((half_size, half_size), np.uint8)
    for poly in [head.face_outline, head.neck] + _ear_ellipses(head):
        cv2.fillPoly(skin_mask, [half.to_fixed_point(poly)], 255, cv2.LINE_AA, 4)
    broad = cv2.GaussianBlur(broad, (0, 0), 0.018 * half.pixels_per_unit)
    fine = cv2.GaussianBlur(fine, (0, 0), max(0.5, 0.006 * half.pixels_per_unit))
    broad *= fine
    broad -= 1.0
    broad *= skin_mask.astype(np.float32)[..., None] * np.float32(1 / 255)
    broad += 1.0
    return cv2.resize(broad, (canvas_size, canvas_size), interpolation=cv2.INTER_LINEAR)


def _fine_shading(half: Painter, head: HeadGeometry, attrs: dict, fine: np.ndarray) -> None:
    """Nose, nostrils, under the lower lip, eyelid creases and inner ears, into the ``fine`` shade map."""
    nose_y, eye_half_width, eye_half_height = head.nose_y, head.photo_eye_half_width, head.photo_eye_half_height
    _shade_fill(half, fine, [ellipse(side * 0.027, nose_y - 0.008, 0.018, 0.016, 16) for side in (-1, 1)]
                + [ellipse(0.0, nose_y + 0.014, 0.03, 0.008, 16)], (0.84, 0.8, 0.82))
    _shade_fill(half, fine, [ellipse(side * 0.02, nose_y + 0.002, 0.011, 0.006, 12) for side in (-1, 1)],
                (0.45, 0.4, 0.42))
    opening = _mouth_opening(attrs)
    _shade_fill(half, fine, [ellipse(0.0, head.mouth_line_y + opening + 0.036, 0.6 * head.mouth_half_width, 0.008, 16)],
                0.84)
    for side in (-1, 1):
        x = side * head.eye_x
        crease = bezier((x - eye_half_width, -0.2 * eye_half_height), (x, -2.6 * eye_half_height),
                        (x + eye_half_width, -0.2 * eye_half_height), 10)
        cv2.polylines(fine, [half.to_fixed_point(crease)], False, (0.8, 0.76, 0.78),
                      max(1, int(round(0.005 * half.pixels_per_unit))), cv2.LINE_8, 4)
    _shade_fill(half, fine, [ellipse(cx + 0.2 * rx * np.sign(cx), cy, 0.45 * rx, 0.55 * ry, 12)
                             for cx, cy, rx, ry in head.ears], 0.8)


def _draw_eyes_and_brows(features: _Sticker, head: HeadGeometry, attrs: dict, hair: np.ndarray) -> None:
    """The nose tip's highlight, brows, eye whites, irises, pupils, glints and upper lids."""
    half_width, half_height = head.photo_eye_half_width, head.photo_eye_half_height
    sides = (-1, 1)
    features.fill([ellipse(-0.004, head.nose_y - 0.012, 0.012, 0.01, 12)], (255, 248, 240), alpha=0.25)
    iris = desaturate(attrs["eye_color"], 0.35) * 0.75
    brows, whites, lids = [], [], []
    for side in sides:
        x = side * head.eye_x
        brow_y = -half_height - 0.032
        centre = bezier((x - side * 1.0 * half_width, brow_y + 0.004), (x + side * 0.2 * half_width, brow_y - 0.02),
                        (x + side * 1.3 * half_width, brow_y + 0.01), 10)
        tangent = np.gradient(centre, axis=0)
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1) / (np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-12)
        brow_half_width = np.linspace(0.009, 0.003, 10)[:, None]
        brows.append(np.concatenate([centre + normal * brow_half_width, (centre - normal * brow_half_width)[::-1]]))
        corner_y = 0.15 * half_height
        upper = bezier((x - half_width, corner_y), (x, -2.1 * half_height), (x + half_width, corner_y), 10)
        lower = bezier((x + half_width, corner_y), (x, 1.65 * half_height), (x - half_width, corner_y), 10)
        whites.append(np.concatenate([upper, lower[1:-1]]))  # an almond
        lids.append(upper)
    iris_radius = 0.98 * half_height
    features.fill(brows, hair * 0.55 + 10, alpha=0.85)
    features.fill(whites, (232, 228, 224))
    rings = ((iris_radius, iris * 0.7, 20), (0.75 * iris_radius, iris, 16), (0.4 * iris_radius, (22, 16, 16), 12))
    for radius, color, points in rings:  # iris rim, iris, pupil
        features.fill([ellipse(side * head.eye_x, 0.0, radius, radius, points) for side in sides], color,
                      color_only=True)
    features.fill([ellipse(side * head.eye_x - 0.35 * iris_radius, -0.35 * iris_radius, 0.2 * iris_radius,
                           0.2 * iris_radius, 8) for side in sides], (250, 250, 250), color_only=True)
    features.stroke(lids, (52, 36, 32), 0.007 * features.painter.pixels_per_unit, alpha=0.9)


def _draw_lips(features: _Sticker, head: HeadGeometry, attrs: dict, skin: np.ndarray) -> None:
    """Teeth and the inside of an open mouth, upper and lower lip, the lower lip's shine, the mouth line."""
    lip = mix(skin, (190, 70, 86), 0.55)
    half_width, line_y = head.mouth_half_width, head.mouth_line_y
    left, right = np.array((-half_width, head.mouth_corner_y)), np.array((half_width, head.mouth_corner_y))
    opening = _mouth_opening(attrs)
    mouth_line = through(left, (0.0, line_y), right, 12)  # left to right
    lower_top = through(right, (0.0, line_y + opening), left, 12)  # the lower lip's top, right to left
    upper_height = 0.012 + 0.004 * attrs["mouth_width"]
    peak_y, dip_y = line_y - upper_height, line_y - upper_height * 0.7  # the upper lip's two peaks, the dip between
    upper = np.concatenate([right[None], through(right, (0.45 * half_width, peak_y), (0.0, dip_y), 6),
                            through((0.0, dip_y), (-0.45 * half_width, peak_y), left, 6)[1:], mouth_line[1:-1]])
    lower = np.concatenate([lower_top, through(left, (0.0, line_y + opening + 0.025), right, 12)[1:-1]])
    if opening > 0:
        features.fill([np.concatenate([mouth_line, lower_top[1:-1]])], (58, 22, 26))
        features.fill([ellipse(0.0, line_y + 0.002, 0.7 * half_width, min(0.008, 0.45 * opening), 16)], (226, 220, 208),
                      color_only=True)  # teeth
    features.fill([upper], lip * 0.86)
    features.fill([lower], lip)
    features.fill([ellipse(0.0, line_y + opening + 0.011, 0.4 * half_width, 0.004, 12)], mix(lip, (255, 235, 235), 0.4),
                  color_only=True)
    features.stroke([mouth_line], lip * 0.5, 0.004 * features.painter.pixels_per_unit, alpha=0.75)
