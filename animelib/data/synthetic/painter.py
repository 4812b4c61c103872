"""Drawing head-local shapes onto a canvas (shared by both styles) and the colour helpers they share."""

from __future__ import annotations

import math

import cv2
import numpy as np

# light -> dark; ``skin_color`` interpolates along it
_SKIN_TONES = np.array([(255, 229, 208), (247, 210, 182), (236, 190, 154), (214, 160, 120), (174, 118, 82),
                        (120, 80, 56)], np.float32)


def mix(color0, color1, t: float) -> np.ndarray:
    """``color0`` blended towards ``color1`` by ``t`` (float32 RGB)."""
    return np.asarray(color0, np.float32) * (1 - t) + np.asarray(color1, np.float32) * t


def skin_color(tone: float) -> np.ndarray:
    """The skin colour (float32 RGB) of ``tone`` in 0..1, light -> dark."""
    position = float(np.clip(tone, 0, 1)) * (len(_SKIN_TONES) - 1)
    i = min(int(position), len(_SKIN_TONES) - 2)
    return mix(_SKIN_TONES[i], _SKIN_TONES[i + 1], position - i)


def desaturate(color, amount: float) -> np.ndarray:
    """``color`` moved towards its grey (luminance) by ``amount`` (float32 RGB)."""
    color = np.asarray(color, np.float32)
    luminance = float(color @ np.array([0.3, 0.59, 0.11], np.float32))
    return color + (luminance - color) * amount


def fixed_point(pixels, x0: int = 0, y0: int = 0) -> np.ndarray:
    """Canvas pixel coordinates, relative to (x0, y0), in OpenCV's fixed point (shift=4)."""
    return np.round((pixels - (x0, y0)) * 16).astype(np.int32)


class Painter:
    """Maps head-local shapes to a (size, size, 3) canvas and draws them (anti-aliased OpenCV)."""

    def __init__(self, canvas: np.ndarray, to_image: np.ndarray, scale: float):
        """``to_image``: the head's (2, 3) local -> normalised image map; ``scale``: the head's scale."""
        self.canvas = canvas
        self.size = canvas.shape[0]
        self.to_canvas = to_image * self.size  # local -> canvas pixels, pixel centres at integers
        self.to_canvas[:, 2] -= 0.5
        self.to_canvas_fixed = self.to_canvas * 16
        self.pixels_per_unit = self.size * scale
        self.to_local = np.linalg.inv(np.vstack([self.to_canvas, (0, 0, 1)]))[:2]

    def to_pixels(self, points) -> np.ndarray:
        """(N, 2) canvas pixel coordinates of local points."""
        points = np.asarray(points, np.float64).reshape(-1, 2)
        return points @ self.to_canvas[:, :2].T + self.to_canvas[:, 2]

    def to_fixed_point(self, points) -> np.ndarray:
        """Canvas coordinates in OpenCV's fixed point (shift=4) of local points."""
        points = np.asarray(points, np.float64).reshape(-1, 2)
        return np.rint(points @ self.to_canvas_fixed[:, :2].T + self.to_canvas_fixed[:, 2]).astype(np.int32)

    def fill(self, points, color) -> None:
        cv2.fillPoly(self.canvas, [self.to_fixed_point(points)], tuple(float(c) for c in color), cv2.LINE_AA, 4)

    def stroke(self, points, color, width: float, closed: bool = False) -> None:
        cv2.polylines(self.canvas, [self.to_fixed_point(points)], closed, tuple(float(c) for c in color),
                      max(1, int(round(width))), cv2.LINE_AA, 4)

    def local_grid(self, roi) -> tuple[np.ndarray, np.ndarray]:
        """Local coordinates (x, y) of the canvas pixels in ``roi`` = (y0, y1, x0, x1)."""
        y0, y1, x0, x1 = roi
        xs = np.arange(x0, x1, dtype=np.float32)[None, :]
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        m = self.to_local.astype(np.float32)
        return m[0, 0] * xs + m[0, 1] * ys + m[0, 2], m[1, 0] * xs + m[1, 1] * ys + m[1, 2]

    def layer(self, fills, color, alpha: float = 1.0, clip=None) -> None:
        """Paint ``color`` with opacity ``alpha`` over the union of ``fills``, limited to the union of ``clip``.

        Works on the bounding box only. Opaque layers use a hard mask: the canvas is supersampled.
        """
        shapes = [self.to_pixels(p) for p in fills]
        all_points = np.concatenate(shapes)
        lo, hi = all_points.min(0) - 2, all_points.max(0) + 2
        clips = None
        if clip is not None:
            clips = [self.to_pixels(p) for p in clip]
            clip_points = np.concatenate(clips)
            lo, hi = np.maximum(lo, clip_points.min(0) - 2), np.minimum(hi, clip_points.max(0) + 2)
        x0, y0 = (max(int(math.floor(v)), 0) for v in lo)
        x1, y1 = (min(int(math.ceil(v)) + 1, self.size) for v in hi)
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for p in shapes:
            cv2.fillPoly(mask, [fixed_point(p, x0, y0)], 255, cv2.LINE_AA, 4)
        if clips is not None:
            clip_mask = np.zeros_like(mask)
            for p in clips:
                cv2.fillPoly(clip_mask, [fixed_point(p, x0, y0)], 255, cv2.LINE_AA, 4)
            mask = np.minimum(mask, clip_mask)
        region = self.canvas[y0:y1, x0:x1]
        if alpha >= 1:
            np.copyto(region, np.asarray(np.round(color), region.dtype), where=(mask > 127)[..., None])
            return
        weight = (mask.astype(np.float32) * np.float32(alpha / 255.0))[..., None]
        out = region.astype(np.float32)
        out += (np.asarray(color, np.float32) - out) * weight
        region[...] = np.clip(out + 0.5, 0, 255).astype(region.dtype) if region.dtype == np.uint8 else out
