"""Embedded synthetic face avatars: a procedural, deterministic renderer in two styles.

``anime``: flat cel colours with one shadow tone, dark outlines, big eyes with highlights, pointy bangs.
``photo``: soft radial light, skin texture, small realistic eyes, nose shading, coloured lips, soft hair
edges and a blurred background, no outlines.

Both styles draw the same attribute vector (``sample_attributes``) with the same geometry, so
``render_pair`` gives aligned (photo, anime) pairs whose five landmarks are identical. Landmarks are
(x, y) in pixels of the output image, pixel centres at integers (``LANDMARK_NAMES``; left = smaller x).

Everything is drawn with OpenCV in head-local units mapped by the pose (offset, scale, roll) onto a
supersampled canvas (anime 2-8x, photo 1.5x then blurred), reduced with ``INTER_AREA``. About 300
images/s at 64 px on one CPU core; ``render_set`` caches whole sets on disk.
"""

from __future__ import annotations

import colorsys
import math
import os
import tempfile
from functools import lru_cache
from numbers import Integral
from pathlib import Path

import cv2
import numpy as np

from animelib.errors import ConfigError

STYLES = ("anime", "photo")
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
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
RENDERER_VERSION = 2
MIN_SIZE, MAX_SIZE = 32, 256

_SKIN = np.array([(255, 229, 208), (247, 210, 182), (236, 190, 154), (214, 160, 120), (174, 118, 82),
                  (120, 80, 56)], np.float32)
_HAIR_NATURAL = ((28, 24, 30), (64, 42, 32), (108, 70, 44), (152, 106, 68), (224, 192, 122), (238, 226, 196),
                 (152, 60, 38), (170, 170, 176))
_HAIR_VIVID = ((246, 150, 188), (86, 124, 222), (140, 200, 244), (148, 98, 198), (98, 178, 126), (210, 58, 68),
               (214, 220, 238), (244, 148, 64), (64, 174, 174), (250, 212, 92))
_EYES = ((130, 76, 42), (198, 140, 50), (142, 122, 62), (64, 152, 88), (64, 122, 214), (106, 184, 234),
         (130, 142, 154), (152, 86, 206), (206, 46, 58), (234, 106, 166), (234, 192, 64))
_LINE = (52, 30, 32)  # anime outline colour (skin, eyes, mouth)


# ----------------------------------------------------------------------------------------------------------
# attributes


def _jitter(rng: np.random.Generator, color, amount: float) -> tuple[int, int, int]:
    c = np.asarray(color, np.float64) + rng.uniform(-amount, amount, 3)
    return tuple(int(v) for v in np.clip(np.round(c), 0, 255))


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def sample_attributes(seed: int, index: int) -> dict[str, float | int | tuple]:
    """The attributes of avatar ``index`` of ``seed`` (deterministic, plain Python values)."""
    _check_int("seed", seed, 0)
    _check_int("index", index, 0)
    rng = np.random.default_rng([int(seed), int(index)])
    u = lambda lo=0.0, hi=1.0: float(rng.uniform(lo, hi))  # noqa: E731
    vivid = rng.random() < 0.45
    palette = _HAIR_VIVID if vivid else _HAIR_NATURAL
    hair = _jitter(rng, palette[int(rng.integers(len(palette)))], 16)
    attrs = {
        "face_width": u(),
        "face_length": u(),
        "jaw": u(),
        "skin_tone": float(rng.beta(1.2, 2.2)),
        "hair_style": int(rng.integers(len(HAIR_STYLES))),
        "hair_length": u(),
        "hair_volume": u(),
        "hair_color": hair,
        "fringe_locks": int(rng.integers(3, 9)),
        "fringe_part": u(-1, 1),
        "fringe_length": u(),
        "eye_color": _jitter(rng, _EYES[int(rng.integers(len(_EYES)))], 18),
        "eye_size": u(),
        "eye_spacing": u(),
        "mouth_width": u(),
        "mouth_open": u(),
        "smile": u(-0.4, 1.0),
        "blush": u(),
        "clothes_color": _hsv(u(), u(0.25, 0.85), u(0.35, 0.95)),
        "accent_color": _hsv(u(), u(0.5, 0.9), u(0.75, 1.0)),
        "background_color": _hsv(u(), u(0.15, 0.6), u(0.7, 1.0)),
        "background_pattern": int(rng.integers(len(BACKGROUND_PATTERNS))),
        "offset_x": u(-0.035, 0.035),
        "offset_y": u(-0.03, 0.03),
        "scale": u(0.92, 1.05),
        "roll": u(-9.0, 9.0),
        "texture_seed": int(rng.integers(2**31 - 1)),
    }
    return attrs


# ----------------------------------------------------------------------------------------------------------
# geometry: every shape in head-local units (1 = image width at scale 1; origin between the eyes; y down)


@lru_cache(maxsize=64)
def _bezier_weights(n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    return np.stack([(1 - t) ** 2, 2 * (1 - t) * t, t**2], 1)  # (n, 3)


@lru_cache(maxsize=64)
def _unit_circle(n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    return np.cos(t), np.sin(t)


def _bezier(p0, p1, p2, n: int = 12) -> np.ndarray:
    """(n, 2) points of the quadratic Bezier p0 -> p2 with control p1."""
    return _bezier_weights(n) @ np.array([p0, p1, p2], np.float64)


def _through(p0, mid, p2, n: int = 12) -> np.ndarray:
    """A quadratic Bezier from p0 to p2 passing through ``mid`` at t = 0.5."""
    p0, mid, p2 = (np.asarray(p, np.float64) for p in (p0, mid, p2))
    return _bezier(p0, 2 * mid - 0.5 * (p0 + p2), p2, n)


def _ellipse(cx, cy, rx, ry, n: int = 28) -> np.ndarray:
    """(n, 2) points around an axis-aligned ellipse."""
    c, s = _unit_circle(n)
    out = np.empty((n, 2))
    out[:, 0] = cx + rx * c
    out[:, 1] = cy + ry * s
    return out


def _strand(p0, p1, p2, width: float, n: int = 16, root: float = 0.6) -> np.ndarray:
    """A tapered lock of hair along a Bezier centreline: ``root`` x width at p0, widest early, a point at p2."""
    c = _bezier(p0, p1, p2, n)
    d = np.gradient(c, axis=0)
    normal = np.stack([-d[:, 1], d[:, 0]], 1) / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-12)
    t = np.linspace(0.0, 1.0, n)
    w = width * np.sin(np.pi * (math.asin(root) / np.pi + (1 - math.asin(root) / np.pi) * t)) ** 0.8
    return np.concatenate([c + normal * w[:, None], (c - normal * w[:, None])[::-1]])


class _Geometry:
    """All shapes of one avatar, shared by both styles, in head-local units."""

    def __init__(self, a: dict):
        rng = np.random.default_rng([int(a["texture_seed"]), 1])
        self.style = HAIR_STYLES[int(a["hair_style"]) % len(HAIR_STYLES)]
        L = float(a["hair_length"])
        fw = self.fw = 0.255 + 0.05 * a["face_width"]  # half width at the cheeks
        self.yc, self.top = 0.035, -0.33
        chin = self.chin = 0.285 + 0.065 * a["face_length"]
        jaw = float(a["jaw"])
        self.cw, self.ja, self.jb = 0.06 - 0.045 * jaw, 2.4 - 0.7 * jaw, 0.5 + 0.45 * jaw
        self.nose_y = 0.115 + 0.03 * a["face_length"]
        self.mouth_y = 0.2 + 0.045 * a["face_length"]
        self.ex = 0.105 + 0.03 * a["eye_spacing"]
        self.ew_a = min(0.067 + 0.022 * a["eye_size"], self.face_x(0.0) - self.ex - 0.035)
        self.eh_a = self.ew_a * 1.12
        self.ew_p = 0.05 + 0.012 * a["eye_size"]
        self.eh_p = 0.42 * self.ew_p
        self.mw = 0.04 + 0.025 * a["mouth_width"]
        smile = float(a["smile"])
        self.corner_y = self.mouth_y - 0.014 * smile  # the mouth corners (landmarks) rise with a smile
        self.line_y = self.mouth_y + 0.006 * smile  # middle of the mouth line

        # pose: local -> normalised image coordinates (0..1)
        s, r = float(a["scale"]), math.radians(float(a["roll"]))
        c, sn = math.cos(r) * s, math.sin(r) * s
        self.scale = s
        self.M = np.array([[c, -sn, 0.5 + a["offset_x"]], [sn, c, 0.445 + a["offset_y"]]], np.float64)

        # face, ears, neck, body
        t = np.linspace(0.0, math.pi, 25)
        upper = np.stack([fw * np.cos(t), self.yc - (self.yc - self.top) * np.sin(t)], 1)
        sl = np.linspace(0.0, 1.0, 22)[1:]
        ys = self.yc + (chin - self.yc) * sl
        xs = self.face_x(ys)
        self.face_lower = np.concatenate([np.stack([-xs, ys], 1), np.stack([xs, ys], 1)[::-1]])
        self.face = np.concatenate([upper, self.face_lower])
        ear_x = self.face_x(0.04) - 0.006
        self.ears = [(side * ear_x, 0.045, 0.032, 0.056) for side in (-1, 1)]
        nw = 0.082 + 0.02 * a["face_width"]
        self.neck = np.array([(-nw, self.yc), (-nw * 1.08, chin + 0.14), (0, chin + 0.2), (nw * 1.08, chin + 0.14),
                              (nw, self.yc)])
        self.body = _ellipse(0, chin + 0.43, 0.46 + 0.05 * a["face_width"], 0.31, 40)

        # hair
        vol = float(a["hair_volume"]) * (1.6 if self.style == "spiky" else 1.0)
        rx = self.rx = fw + 0.04 + 0.025 * vol
        ccy = self.ccy = -0.07
        ht = self.top - 0.06 - 0.035 * vol
        ry = self.ry = ccy - ht
        t = np.linspace(math.pi, 2 * math.pi, 41)
        crown = np.stack([rx * np.cos(t), ccy + ry * np.sin(t)], 1)
        if self.style == "spiky":
            k = int(rng.integers(7, 11))
            bounds = np.linspace(math.pi - 0.25, 2 * math.pi + 0.25, k + 1)
            pts = []
            for i in range(k):
                t0, t1 = bounds[i], bounds[i + 1]
                amp = 1.16 + 0.14 * rng.random() + 0.06 * vol
                tm = 0.5 * (t0 + t1) + 0.25 * (t1 - t0) * math.cos(0.5 * (t0 + t1))
                pts += [(rx * math.cos(t0), ccy + ry * math.sin(t0)),
                        (amp * rx * math.cos(tm), ccy + amp * ry * math.sin(tm))]
            pts.append((rx * math.cos(bounds[-1]), ccy + ry * math.sin(bounds[-1])))
            crown = np.array(pts)
        self.crown = crown

        side = self._side_profile(L)
        left = side[::-1] * (-1, 1)
        self.back = np.concatenate([crown, side, left])

        self.behind: list[np.ndarray] = []  # drawn behind the back hair
        self.ties: list[tuple[float, float, float]] = []
        sgn = 1.0 if a["fringe_part"] >= 0 else -1.0
        if self.style == "twintails":
            for sd in (-1, 1):
                p0 = (sd * (rx - 0.01), -0.2)
                p1 = (sd * (rx + 0.19 + 0.03 * vol), -0.1)
                p2 = (sd * (rx + 0.12 + 0.05 * L), 0.28 + 0.32 * L)
                self.behind.append(_strand(p0, p1, p2, 0.075 + 0.02 * vol, 18))
                self.ties.append((sd * (rx + 0.005), -0.2, 0.028))
        elif self.style == "ponytail":
            p0 = (sgn * 0.3 * rx, ccy - 0.8 * ry)
            p1 = (sgn * (rx + 0.26), ccy - 0.95 * ry)
            p2 = (sgn * (rx + 0.13 + 0.05 * L), 0.2 + 0.3 * L)
            self.behind.append(_strand(p0, p1, p2, 0.085 + 0.02 * vol, 18, root=0.8))
        elif self.style == "buns":
            for sd in (-1, 1):
                r = 0.08 + 0.02 * L
                self.behind.append(_ellipse(sd * 0.62 * rx, ccy - 0.86 * ry + 0.01, r, r, 24))

        # side locks in front of the face
        tip = {"short": 0.02 + 0.06 * L, "spiky": 0.05 + 0.06 * L, "bob": chin - 0.05 + 0.08 * L,
               "long": 0.4 + 0.2 * L, "twintails": 0.12 + 0.12 * L, "ponytail": 0.06 + 0.08 * L,
               "buns": 0.1 + 0.1 * L}[self.style]
        self.locks = [self._lock(sd, tip) for sd in (-1, 1)]

        # bangs: the crown on top, a zigzag of pointed locks at the bottom
        self.fringe = self._fringe(a, rng)

        # hair shine strokes (anime)
        self.shine = []
        m = int(rng.integers(4, 7))
        for ti in np.linspace(math.pi + 0.6, 2 * math.pi - 0.6, m) + rng.uniform(-0.06, 0.06, m):
            p_top = np.array((0.8 * rx * math.cos(ti), ccy + 0.8 * ry * math.sin(ti)))
            p_bot = np.array((0.6 * rx * math.cos(ti), ccy + 0.6 * ry * math.sin(ti)))
            d = p_bot - p_top
            nrm = np.array((-d[1], d[0])) / (np.linalg.norm(d) + 1e-12) * (0.013 + 0.006 * rng.random())
            mid = p_top + 0.35 * d
            self.shine.append(np.array([p_top, mid + nrm, p_bot, mid - nrm]))

    def face_x(self, y):
        """Half width of the face outline at height ``y`` (local units)."""
        y = np.asarray(y, np.float64)
        up = self.fw * np.sqrt(np.clip(1 - ((self.yc - y) / (self.yc - self.top)) ** 2, 0, 1))
        s = np.clip((y - self.yc) / (self.chin - self.yc), 0, 1)
        low = self.cw + (self.fw - self.cw) * (1 - s**self.ja) ** self.jb
        return np.where(y < self.yc, up, np.where(y <= self.chin, low, 0.0))

    def _side_profile(self, L: float) -> np.ndarray:
        """Right side of the back hair, from the crown down and back in (left side is its mirror)."""
        rx, fw, chin, st = self.rx, self.fw, self.chin, self.style
        if st in ("short", "spiky", "ponytail"):
            yb = 0.02 + 0.07 * L
            pts = [(rx + 0.004, self.ccy + 0.06), (rx - 0.006, yb), (fw - 0.03, yb + 0.05)]
        elif st == "bob":
            yb = chin - 0.03 + 0.09 * L
            pts = [(rx + 0.015, 0.02), (rx + 0.03, yb - 0.06), (rx + 0.012, yb), (rx - 0.05, yb + 0.012),
                   (0.05, yb + 0.01)]
        elif st == "long":
            pts = [(rx + 0.02, 0.02), (rx + 0.05 + 0.03 * L, 0.28), (rx + 0.08 + 0.05 * L, 0.8), (0.05, 0.8)]
        elif st == "twintails":
            pts = [(rx + 0.004, 0.0), (rx - 0.01, chin - 0.1), (fw * 0.6, chin - 0.03), (0.05, chin - 0.03)]
        else:  # buns
            yb = chin - 0.12 + 0.06 * L
            pts = [(rx + 0.01, 0.0), (rx + 0.005, yb), (fw * 0.5, yb + 0.01), (0.05, yb + 0.01)]
        return np.array(pts, np.float64)

    def _lock(self, sd: int, tip: float) -> np.ndarray:
        """The lock of hair hanging at one side of the face (sd = -1 left, +1 right)."""
        y0 = -0.15
        ys = np.linspace(y0, tip, 14)
        u = (ys - y0) / (tip - y0)
        xo = np.maximum(self.face_x(ys), 0.62 * self.fw) + 0.03 + 0.15 * np.clip(ys - self.chin, 0, None)
        xi = xo - 0.075 * (1 - u) ** 0.75
        outer = np.stack([xo, ys], 1)
        inner = np.stack([xi, ys], 1)[::-1]
        tip_pt = np.array([[xo[-1] - 0.012, tip + 0.015]])
        pts = np.concatenate([outer, tip_pt, inner[1:]])
        pts[:, 0] *= sd
        return pts

    def _fringe(self, a: dict, rng: np.random.Generator) -> np.ndarray:
        """The bangs: the crown on top, a zigzag of pointed locks (blunt teeth for a bob) at the bottom."""
        fw = self.fw
        blunt = self.style == "bob"
        n = int(a["fringe_locks"]) + (4 if blunt else 0)
        part = float(a["fringe_part"])
        tip_c = -self.eh_a - 0.012 - 0.035 * (1.0 - float(a["fringe_length"]))
        xl, xr = -(fw + 0.02), fw + 0.02
        b = np.linspace(xl, xr, n + 1)
        span = (xr - xl) / n
        b[1:-1] += rng.uniform(-0.18, 0.18, n - 1) * span
        # the part: move the nearest interior boundary onto it
        xp = 0.55 * part * fw
        j = 1 + int(np.argmin(np.abs(b[1:-1] - xp)))
        b[j] = 0.5 * (b[j] + xp)
        lean = 0.25 * abs(part)  # tips sweep away from the part
        edge = [(xl, -0.04)]
        for i in range(n):
            x0, x1 = b[i], b[i + 1]
            xm = 0.5 * (x0 + x1)
            tx = xm + lean * (x1 - x0) * (1.0 if xm > xp else -1.0)
            ty = tip_c + 0.1 * min(abs(tx) / fw, 1.0) ** 2.2 + rng.uniform(-0.008, 0.008)
            depth = (0.018 if blunt else 0.06 + 0.035 * rng.random())
            if self.style == "spiky":
                depth += 0.02
            ny0 = edge[-1][1] if i == 0 else ty - depth
            ny1 = -0.04 if i == n - 1 else ty - depth
            p0 = np.array((x0, ny0))
            if i > 0:
                edge.append(tuple(p0))
            if blunt:
                seg = [(x0 + 0.15 * (x1 - x0), ty), (x1 - 0.15 * (x1 - x0), ty)]
            else:
                c0 = (x0 + 0.1 * (tx - x0), ny0 + 0.75 * (ty - ny0))
                c1 = (x1 + 0.1 * (tx - x1), ny1 + 0.75 * (ty - ny1))
                seg = list(_bezier(p0, c0, (tx, ty), 7)[1:]) + list(_bezier((tx, ty), c1, (x1, ny1), 7)[1:-1])
            edge += [tuple(p) for p in seg]
        edge.append((xr, -0.04))
        edge = np.array(edge, np.float64)
        return np.concatenate([self.crown, edge[::-1]])

    def landmarks(self, size: int) -> np.ndarray:
        """(5, 2) float32 pixel (x, y) in a ``size`` image: eyes, nose tip, mouth corners."""
        local = np.array([(-self.ex, 0.0), (self.ex, 0.0), (0.0, self.nose_y), (-self.mw, self.corner_y),
                          (self.mw, self.corner_y)])
        A = self.M * size
        return (local @ A[:, :2].T + A[:, 2] - 0.5).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------
# painting


class _Painter:
    """Maps head-local shapes to an (S, S, 3) canvas and draws them (anti-aliased OpenCV on uint8)."""

    def __init__(self, img: np.ndarray, M: np.ndarray, scale: float):
        self.img = img
        self.S = img.shape[0]
        self.A = M * self.S
        self.A[:, 2] -= 0.5
        self.A16 = self.A * 16
        self.unit = self.S * scale  # canvas pixels per local unit
        self.Ainv = np.linalg.inv(np.vstack([self.A, (0, 0, 1)]))[:2]

    def px(self, pts) -> np.ndarray:
        """(N, 2) canvas pixel coordinates of local points."""
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        return pts @ self.A[:, :2].T + self.A[:, 2]

    def ipx(self, pts) -> np.ndarray:
        """Canvas coordinates in OpenCV's fixed point (shift=4) of local points."""
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        return np.rint(pts @ self.A16[:, :2].T + self.A16[:, 2]).astype(np.int32)

    @staticmethod
    def _int(px, x0: int = 0, y0: int = 0) -> np.ndarray:
        return np.round((px - (x0, y0)) * 16).astype(np.int32)

    def fill(self, pts, color) -> None:
        cv2.fillPoly(self.img, [self.ipx(pts)], tuple(float(c) for c in color), cv2.LINE_AA, 4)

    def stroke(self, pts, color, width: float, closed: bool = False) -> None:
        cv2.polylines(self.img, [self.ipx(pts)], closed, tuple(float(c) for c in color),
                      max(1, int(round(width))), cv2.LINE_AA, 4)

    def local_grid(self, roi) -> tuple[np.ndarray, np.ndarray]:
        """Local coordinates (x, y) of the canvas pixels in ``roi`` = (y0, y1, x0, x1)."""
        y0, y1, x0, x1 = roi
        xs = np.arange(x0, x1, dtype=np.float32)[None, :]
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        B = self.Ainv.astype(np.float32)
        return B[0, 0] * xs + B[0, 1] * ys + B[0, 2], B[1, 0] * xs + B[1, 1] * ys + B[1, 2]

    def layer(self, fills, color, alpha: float = 1.0, clip=None) -> None:
        """Paint ``color`` with opacity ``alpha`` over the union of ``fills``, limited to the union of ``clip``.

        Works on the bounding box only. Opaque layers use a hard mask: the canvas is supersampled.
        """
        shapes = [self.px(p) for p in fills]
        allp = np.concatenate(shapes)
        lo, hi = allp.min(0) - 2, allp.max(0) + 2
        clips = None
        if clip is not None:
            clips = [self.px(p) for p in clip]
            cp = np.concatenate(clips)
            lo, hi = np.maximum(lo, cp.min(0) - 2), np.minimum(hi, cp.max(0) + 2)
        x0, y0 = (max(int(math.floor(v)), 0) for v in lo)
        x1, y1 = (min(int(math.ceil(v)) + 1, self.S) for v in hi)
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for p in shapes:
            cv2.fillPoly(mask, [self._int(p, x0, y0)], 255, cv2.LINE_AA, 4)
        if clips is not None:
            cm = np.zeros_like(mask)
            for p in clips:
                cv2.fillPoly(cm, [self._int(p, x0, y0)], 255, cv2.LINE_AA, 4)
            mask = np.minimum(mask, cm)
        region = self.img[y0:y1, x0:x1]
        if alpha >= 1:
            np.copyto(region, np.asarray(np.round(color), region.dtype), where=(mask > 127)[..., None])
            return
        a = (mask.astype(np.float32) * np.float32(alpha / 255.0))[..., None]
        out = region.astype(np.float32)
        out += (np.asarray(color, np.float32) - out) * a
        region[...] = np.clip(out + 0.5, 0, 255).astype(region.dtype) if region.dtype == np.uint8 else out


def _mix(c0, c1, t: float) -> np.ndarray:
    return np.asarray(c0, np.float32) * (1 - t) + np.asarray(c1, np.float32) * t


def _skin(tone: float) -> np.ndarray:
    x = float(np.clip(tone, 0, 1)) * (len(_SKIN) - 1)
    i = min(int(x), len(_SKIN) - 2)
    return _mix(_SKIN[i], _SKIN[i + 1], x - i)


def _desaturate(c, amount: float) -> np.ndarray:
    c = np.asarray(c, np.float32)
    lum = float(c @ np.array([0.3, 0.59, 0.11], np.float32))
    return c + (lum - c) * amount


def _pattern_geometry(a: dict) -> dict:
    """Background pattern placement in normalised image coordinates (shared by both styles)."""
    rng = np.random.default_rng([int(a["texture_seed"]), 2])
    return {
        "dots": rng.uniform(0, 1, (14, 2)),
        "dot_r": rng.uniform(0.03, 0.08, 14),
        "split": (rng.uniform(0.15, 0.85), rng.uniform(-0.3, 0.3)),
        "stripes": (int(rng.integers(4, 9)), rng.uniform(0, 1)),
        "grad": rng.uniform(-1, 1, (3, 3)),
    }


# ----------------------------------------------------------------------------------------------------------
# anime style


def _draw_anime(g: _Geometry, a: dict, S: int, size: int) -> np.ndarray:
    ss = S / size
    lw = max(1.0, size / 96) * ss  # outline width, canvas pixels
    bg = _mix(a["background_color"], (255, 255, 255), 0.3)
    img = np.empty((S, S, 3), np.uint8)
    img[:] = np.round(bg).astype(np.uint8)
    _anime_background(img, a, bg)
    p = _Painter(img, g.M, g.scale)

    skin = _mix(_skin(a["skin_tone"]), (255, 240, 232), 0.3)
    shadow = skin * np.array([0.93, 0.8, 0.8], np.float32)  # the one shadow tone
    line = _mix(_LINE, skin * 0.3, 0.25)
    hair = np.asarray(a["hair_color"], np.float32)
    if hair.max() < 70:  # anime "black" hair is a dark blue-grey
        hair = _mix(hair, (70, 72, 104), 0.55)
    hair_dark = hair * 0.72
    hair_line = np.minimum(hair * 0.35, 72)
    shine = _mix(hair, (255, 255, 255), 0.5)

    for poly in g.behind:
        p.fill(poly, hair)
        p.stroke(poly, hair_line, lw, True)
    p.fill(g.back, hair_dark)
    p.stroke(g.back, hair_line, lw, True)

    clothes = np.asarray(a["clothes_color"], np.float32)
    p.fill(g.body, clothes)
    p.stroke(g.body, clothes * 0.3, lw, True)
    p.fill(g.neck, skin)
    neck_shadow = g.face_lower + (0.0, 0.07)
    p.layer(fills=[neck_shadow], color=shadow, clip=[g.neck])
    p.stroke(g.neck[:3], line, lw)
    p.stroke(g.neck[2:], line, lw)
    for cx, cy, rx, ry in g.ears:
        e = _ellipse(cx, cy, rx, ry)
        p.fill(e, skin)
        p.fill(_ellipse(cx + 0.25 * rx * np.sign(cx), cy + 0.1 * ry, rx * 0.45, ry * 0.55), shadow)
        p.stroke(e, line, lw * 0.8, True)
    p.fill(g.face, skin)
    # cel shadow cast by the bangs and the side locks
    p.layer(fills=[g.fringe + (0.012, 0.035)] + [lk + (-0.025 * np.sign(lk[0, 0]), 0.01) for lk in g.locks],
            color=shadow, clip=[g.face])
    p.stroke(g.face_lower, line, lw)

    if a["blush"] > 0.35:
        for sd in (-1, 1):
            cx = sd * (g.ex + 0.02)
            p.layer(fills=[_ellipse(cx, 0.095, 0.05, 0.022)], color=(255, 120, 140), alpha=0.45 * a["blush"])
            if a["blush"] > 0.7:
                for k in (-1, 0, 1):
                    x = cx + 0.02 * k
                    p.stroke([(x + 0.006, 0.085), (x - 0.006, 0.105)], (230, 90, 110), lw * 0.7)

    eye = np.asarray(a["eye_color"], np.float32)
    ew, eh = g.ew_a, g.eh_a
    for sd in (-1, 1):
        ex = sd * g.ex
        p.stroke(_through((ex - 0.7 * ew, -eh - 0.035), (ex, -eh - 0.05), (ex + 0.7 * ew, -eh - 0.035), 8),
                 hair_line, lw * 0.8)
        p.fill(_ellipse(ex, 0.0, ew, eh), (255, 255, 255))
        p.fill(_ellipse(ex, 0.05 * eh, 0.6 * ew, 0.9 * eh), eye * 0.55)
        p.fill(_ellipse(ex, 0.2 * eh, 0.5 * ew, 0.7 * eh), eye)
        p.fill(_ellipse(ex, 0.05 * eh, 0.27 * ew, 0.42 * eh), eye * 0.22)
        p.fill(_ellipse(ex - 0.25 * ew, -0.3 * eh, 0.2 * ew, 0.2 * ew), (255, 255, 255))
        p.fill(_ellipse(ex + 0.22 * ew, 0.4 * eh, 0.09 * ew, 0.09 * ew), (255, 255, 255))
        # upper lash: a thick band along the top of the eye with a flick at the outer corner
        t = np.linspace(math.pi + 0.2, 2 * math.pi - 0.05, 14)
        u, v = 1.06 * ew * np.cos(t), 1.03 * eh * np.sin(t)
        th = (0.012 + 0.014 * np.linspace(0, 1, 14)) * (0.8 + 0.4 * a["eye_size"])
        top = np.stack([ex + sd * u, v], 1)
        bot = np.stack([ex + sd * u, v + th], 1)
        flick = np.array([[ex + sd * 1.22 * ew, -0.12 * eh]])
        p.fill(np.concatenate([top, flick, bot[::-1]]), _LINE)
        t = np.linspace(0.2, 1.1, 8)
        p.stroke(np.stack([ex + sd * ew * np.cos(t), 0.98 * eh * np.sin(t)], 1), _LINE, lw * 0.7)

    # nose: a tiny mark at the tip
    p.stroke([(0.004, g.nose_y - 0.016), (0.0, g.nose_y)], shadow * 0.7, lw * 0.8)
    _anime_mouth(p, g, a, line, lw)

    for lk in g.locks:
        p.fill(lk, hair)
        p.stroke(lk, hair_line, lw, True)
    p.fill(g.fringe, hair)
    for s in g.shine:
        p.fill(s, shine)
    p.stroke(g.fringe, hair_line, lw, True)
    for cx, cy, r in g.ties:
        e = _ellipse(cx, cy, r, r * 1.2)
        p.fill(e, a["accent_color"])
        p.stroke(e, np.asarray(a["accent_color"], np.float32) * 0.35, lw * 0.8, True)
    return img


def _anime_background(img: np.ndarray, a: dict, bg: np.ndarray) -> None:
    S = img.shape[0]
    pat = BACKGROUND_PATTERNS[int(a["background_pattern"]) % len(BACKGROUND_PATTERNS)]
    pg = _pattern_geometry(a)
    light = tuple(float(c) for c in _mix(bg, (255, 255, 255), 0.45))
    dark = tuple(float(c) for c in bg * 0.88)
    if pat == "dots":
        for (x, y), r in zip(pg["dots"], pg["dot_r"], strict=True):
            cv2.circle(img, (int(x * S * 16), int(y * S * 16)), int(r * 0.6 * S * 16), light, -1, cv2.LINE_AA, 4)
    elif pat == "split":
        x, tilt = pg["split"]
        pts = np.array([(x + tilt * 0.5, -0.01), (1.01, -0.01), (1.01, 1.01), (x - tilt * 0.5, 1.01)]) * S
        cv2.fillPoly(img, [np.round(pts * 16).astype(np.int32)], dark, cv2.LINE_AA, 4)
    elif pat == "stripes":
        k, ph = pg["stripes"]
        w = S / k
        for i in range(-1, k + 1):
            x0 = (i + ph) * w
            pts = np.array([(x0, 0), (x0 + w / 2, 0), (x0 + w / 2, S), (x0, S)])
            cv2.fillPoly(img, [np.round(pts * 16).astype(np.int32)], light, cv2.LINE_AA, 4)


def _anime_mouth(p: _Painter, g: _Geometry, a: dict, line, lw: float) -> None:
    lc, rc = (-g.mw, g.corner_y), (g.mw, g.corner_y)
    top = _through(lc, (0.0, g.line_y), rc, 10)
    if a["mouth_open"] > 0.55:
        depth = 0.012 + 0.05 * (a["mouth_open"] - 0.55)
        bottom = _through(rc, (0.0, g.line_y + depth), lc, 10)
        mouth = np.concatenate([top, bottom[1:-1]])
        p.fill(mouth, (150, 44, 56))
        p.layer(fills=[_ellipse(0.0, g.line_y + depth * 0.95, g.mw * 0.55, depth * 0.5)], color=(236, 124, 134),
                clip=[mouth])
        p.stroke(mouth, line, lw * 0.8, True)
    else:
        p.stroke(top, line, lw * 0.8)


# ----------------------------------------------------------------------------------------------------------
# photo style


class _Sticker:
    """A colour + alpha scratch layer drawn with hard anti-aliased shapes, then blended in one go (photo style).

    ``colour_only`` shapes change the colour under an existing alpha (an iris stays inside the eye white).
    """

    def __init__(self, p: _Painter):
        self.p = p
        self.col = np.zeros((p.S, p.S, 3), np.uint8)
        self.alpha = np.zeros((p.S, p.S), np.uint8)
        self.lo, self.hi = np.full(2, np.inf), np.full(2, -np.inf)

    def _pts(self, poly) -> list[np.ndarray]:
        px = self.p.px(poly)
        self.lo = np.minimum(self.lo, px.min(0))
        self.hi = np.maximum(self.hi, px.max(0))
        return [self.p._int(px)]

    def fill(self, polys, color, alpha: float = 1.0, colour_only: bool = False) -> None:
        color = tuple(float(c) for c in np.clip(color, 0, 255))
        for poly in polys:
            pts = self._pts(poly)
            cv2.fillPoly(self.col, pts, color, cv2.LINE_AA, 4)
            if not colour_only:
                cv2.fillPoly(self.alpha, pts, 255.0 * alpha, cv2.LINE_AA, 4)

    def stroke(self, lines, color, width: float, alpha: float = 1.0) -> None:
        color = tuple(float(c) for c in np.clip(color, 0, 255))
        w = max(1, int(round(width)))
        for line in lines:
            pts = self._pts(line)
            cv2.polylines(self.col, pts, False, color, w, cv2.LINE_AA, 4)
            cv2.polylines(self.alpha, pts, False, 255.0 * alpha, w, cv2.LINE_AA, 4)
        self.lo -= w
        self.hi += w

    def apply(self, img: np.ndarray, sigma: float, shade=None, add=None) -> None:
        """Blend onto ``img`` (float32, in place): colours times ``shade`` plus ``add``, edges blurred by ``sigma``.

        Only the bounding box of the drawn shapes is touched; ``shade`` and ``add`` are full-canvas arrays.
        """
        S = self.p.S
        pad = 3 * sigma + 2
        x0, y0 = (max(int(v - pad), 0) for v in self.lo)
        x1, y1 = (min(int(v + pad) + 2, S) for v in self.hi)
        if x1 <= x0 or y1 <= y0:
            return
        box = np.s_[y0:y1, x0:x1]
        a = self.alpha[box].astype(np.float32) * np.float32(1 / 255)
        col = self.col[box].astype(np.float32)
        if shade is not None:
            col *= shade[box] if shade.ndim == 3 else shade[box][..., None]
        if add is not None:
            col += add[box]
        region = img[box]
        if sigma > 0:
            col *= a[..., None]  # premultiplied, so that blurred edges do not fade to black
            a = cv2.GaussianBlur(a, (0, 0), sigma)
            region *= 1.0 - a[..., None]
            region += cv2.GaussianBlur(col, (0, 0), sigma)
        else:
            col -= region
            col *= a[..., None]
            region += col


def _shade_map(S: int) -> np.ndarray:
    return np.ones((S, S, 3), np.float32)


def _shade_fill(p: _Painter, shade: np.ndarray, polys, factor) -> None:
    factor = tuple(float(f) for f in np.broadcast_to(np.asarray(factor, np.float32), (3,)))
    for poly in polys:
        cv2.fillPoly(shade, [p.ipx(poly)], factor, cv2.LINE_8, 4)


def _draw_photo(g: _Geometry, a: dict, S: int, size: int) -> np.ndarray:
    ss = S / size
    rng = np.random.default_rng([int(a["texture_seed"]), 3, S])
    img = _photo_background(a, S)
    p = _Painter(img, g.M, g.scale)
    u = p.unit
    soft_hair = 0.0075 * u  # hair edge blur, canvas pixels

    # smooth fields, computed at half resolution: hair shade, clothes shade, face light, skin blotches
    L = max(32, S // 2)
    q = _Painter(np.empty((L, L, 3), np.float32), g.M, g.scale)
    lx, ly = q.local_grid((0, L, 0, L))
    fields = np.empty((L, L, 4), np.float32)
    streak = cv2.resize(rng.uniform(0.84, 1.1, (5, max(4, L // 2))).astype(np.float32), (L, L),
                        interpolation=cv2.INTER_CUBIC)
    r = np.sqrt((lx / g.rx) ** 2 + ((ly - g.ccy) / g.ry) ** 2)
    sheen = 1.0 + 0.32 * np.exp(-(((r - 0.68) / 0.1) ** 2)) * (ly < g.ccy)
    fields[..., 0] = streak * sheen * np.clip(1.05 - 0.35 * ly, 0.6, 1.15)
    fields[..., 1] = np.clip(1.1 - 0.9 * (ly - g.chin - 0.12) - 0.6 * lx**2, 0.55, 1.1)
    light_x, light_y = -0.06 + 0.06 * (a["texture_seed"] % 3 - 1), -0.04
    d2 = ((lx - light_x) / g.fw) ** 2 + ((ly - light_y) / (0.55 * (g.chin - g.top))) ** 2
    fields[..., 2] = np.clip(0.1 - 0.32 * d2, -0.42, 0.12)
    fields[..., 3] = cv2.resize(rng.standard_normal((12, 12), np.float32), (L, L), interpolation=cv2.INTER_CUBIC)
    fields = cv2.resize(fields, (S, S), interpolation=cv2.INTER_LINEAR)
    hair_shade = fields[..., 0]

    skin = _skin(a["skin_tone"])
    hair = _desaturate(a["hair_color"], 0.3) * 0.9
    back = _Sticker(p)
    back.fill(g.behind, hair)
    back.fill([g.back], hair * 0.72)
    back.apply(img, soft_hair, hair_shade)

    body = _Sticker(p)
    body.fill([g.body], _desaturate(a["clothes_color"], 0.2))
    body.fill([g.neck], skin * 0.86)
    body.fill([_ellipse(cx, cy, rx, ry, 20) for cx, cy, rx, ry in g.ears], skin * 0.88)
    body.apply(img, 0.0, fields[..., 1])

    # face: radial soft light (warmer in the shadows) and skin texture
    shade = 1.0 + fields[..., 2:3] * np.array([0.9, 1.0, 1.1], np.float32)
    tex = 3.0 * fields[..., 3] + 14.0 * (rng.random((S, S), np.float32) - 0.5)
    face = _Sticker(p)
    face.fill([g.face], skin)
    face.apply(img, 0.0, shade, tex[..., None])

    _photo_features(p, g, a, skin, hair, ss)

    # soft shadows on the skin, at half resolution: broad (eye sockets, cheeks, under the chin, under the
    # bangs) and fine (nose, lips, eyelids, ears)
    broad, fine = np.ones((L, L, 3), np.float32), np.ones((L, L, 3), np.float32)
    _shade_fill(q, broad, [g.face_lower + (0.0, 0.05)], (0.62, 0.6, 0.64))
    _shade_fill(q, broad, [g.face], 1.0)
    _shade_fill(q, broad, [_ellipse(sd * g.ex, -0.25 * g.eh_p, 1.45 * g.ew_p, 2.0 * g.eh_p, 20) for sd in (-1, 1)],
                (0.84, 0.8, 0.82))
    blush = 0.05 + 0.13 * a["blush"]
    _shade_fill(q, broad, [_ellipse(sd * (g.ex + 0.03), 0.1, 0.055, 0.035, 20) for sd in (-1, 1)],
                (1.0, 1.0 - blush, 1.0 - blush))
    _shade_fill(q, broad, [g.fringe + (0.01, 0.025)] + [lk + (-0.02 * np.sign(lk[0, 0]), 0.0) for lk in g.locks],
                (0.6, 0.56, 0.6))
    side = 1 if a["texture_seed"] % 3 != 0 else -1  # the nose's shadow side
    _shade_fill(q, broad, [np.array([(side * 0.008, -0.02), (side * 0.03, -0.02), (side * 0.036, g.nose_y - 0.012),
                                     (side * 0.012, g.nose_y - 0.004)])], (0.84, 0.8, 0.82))
    _photo_fine_shading(q, g, a, fine)
    skin_mask = np.zeros((L, L), np.uint8)
    for poly in [g.face, g.neck] + [_ellipse(cx, cy, rx, ry, 20) for cx, cy, rx, ry in g.ears]:
        cv2.fillPoly(skin_mask, [q.ipx(poly)], 255, cv2.LINE_AA, 4)
    broad = cv2.GaussianBlur(broad, (0, 0), 0.018 * q.unit)
    fine = cv2.GaussianBlur(fine, (0, 0), max(0.5, 0.006 * q.unit))
    broad *= fine
    broad -= 1.0
    broad *= skin_mask.astype(np.float32)[..., None] * np.float32(1 / 255)
    broad += 1.0
    img *= cv2.resize(broad, (S, S), interpolation=cv2.INTER_LINEAR)

    front = _Sticker(p)
    front.fill(g.locks + [g.fringe], hair)
    front.fill([_ellipse(cx, cy, r, r * 1.2, 16) for cx, cy, r in g.ties], _desaturate(a["accent_color"], 0.3))
    front.apply(img, soft_hair, hair_shade)
    return cv2.GaussianBlur(img, (0, 0), (0.6 if size >= 64 else 0.4) * ss)  # soft focus


@lru_cache(maxsize=8)
def _vignette(S: int) -> np.ndarray:
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) / S - 0.5
    return (1.0 - 0.5 * (xx**2 + yy**2))[..., None]


def _photo_background(a: dict, S: int) -> np.ndarray:
    """A blurred scene (smooth gradient plus bokeh, a window edge or shelves), drawn small and enlarged."""
    low = 32
    base = _mix(_desaturate(a["background_color"], 0.35), (110, 110, 110), 0.25) * 0.9
    pat = BACKGROUND_PATTERNS[int(a["background_pattern"]) % len(BACKGROUND_PATTERNS)]
    pg = _pattern_geometry(a)
    grad = cv2.resize(pg["grad"].astype(np.float32), (low, low), interpolation=cv2.INTER_CUBIC)
    layer = np.zeros((low, low), np.float32)
    amp = 0.0
    if pat == "dots":  # bokeh
        for (x, y), r in zip(pg["dots"], pg["dot_r"], strict=True):
            cv2.circle(layer, (int(x * low * 16), int(y * low * 16)), int(r * low * 16), 1.0, -1, cv2.LINE_8, 4)
        amp = 70.0
    elif pat == "split":  # a wall and a window
        x, tilt = pg["split"]
        pts = np.array([(x + tilt * 0.5, 0), (1, 0), (1, 1), (x - tilt * 0.5, 1)]) * low
        cv2.fillPoly(layer, [np.round(pts).astype(np.int32)], 1.0)
        amp = -45.0
    elif pat == "stripes":  # shelves / blinds
        k, ph = pg["stripes"]
        for i in range(-1, k + 1):
            x0 = int((i + ph) * low / k)
            cv2.rectangle(layer, (x0, 0), (x0 + int(low / (2 * k)), low), 1.0, -1)
        amp = 35.0
    if amp:
        layer = cv2.GaussianBlur(layer, (0, 0), 1.2)
    small = (base * (1.0 + 0.18 * grad[..., None]) + amp * layer[..., None]) * _vignette(low)
    return cv2.resize(small.astype(np.float32), (S, S), interpolation=cv2.INTER_CUBIC)


def _photo_fine_shading(p: _Painter, g: _Geometry, a: dict, fine: np.ndarray) -> None:
    """Nose, nostrils, under the lower lip, eyelid creases and inner ears, into the ``fine`` shade map."""
    ny, ew, eh = g.nose_y, g.ew_p, g.eh_p
    _shade_fill(p, fine, [_ellipse(sd * 0.027, ny - 0.008, 0.018, 0.016, 16) for sd in (-1, 1)]
                + [_ellipse(0.0, ny + 0.014, 0.03, 0.008, 16)], (0.84, 0.8, 0.82))
    _shade_fill(p, fine, [_ellipse(sd * 0.02, ny + 0.002, 0.011, 0.006, 12) for sd in (-1, 1)], (0.45, 0.4, 0.42))
    opening = _mouth_opening(a)
    _shade_fill(p, fine, [_ellipse(0.0, g.line_y + opening + 0.036, 0.6 * g.mw, 0.008, 16)], 0.84)
    crease = [_bezier((sd * g.ex - ew, -0.2 * eh), (sd * g.ex, -2.6 * eh), (sd * g.ex + ew, -0.2 * eh), 10)
              for sd in (-1, 1)]
    for c in crease:
        cv2.polylines(fine, [p.ipx(c)], False, (0.8, 0.76, 0.78), max(1, int(round(0.005 * p.unit))),
                      cv2.LINE_8, 4)
    _shade_fill(p, fine, [_ellipse(cx + 0.2 * rx * np.sign(cx), cy, 0.45 * rx, 0.55 * ry, 12)
                          for cx, cy, rx, ry in g.ears], 0.8)


def _mouth_opening(a: dict) -> float:
    return 0.0 if a["mouth_open"] <= 0.55 else 0.008 + 0.04 * (a["mouth_open"] - 0.55)


def _photo_features(p: _Painter, g: _Geometry, a: dict, skin, hair, ss: float) -> None:
    """Brows, eyes, nose tip highlight and lips, as one soft sticker."""
    u = p.unit
    st = _Sticker(p)
    ew, eh = g.ew_p, g.eh_p
    sides = (-1, 1)
    st.fill([_ellipse(-0.004, g.nose_y - 0.012, 0.012, 0.01, 12)], (255, 248, 240), alpha=0.25)
    iris = _desaturate(a["eye_color"], 0.35) * 0.75
    brows, almonds, uppers = [], [], []
    for sd in sides:
        ex = sd * g.ex
        by = -eh - 0.032
        c = _bezier((ex - sd * 1.0 * ew, by + 0.004), (ex + sd * 0.2 * ew, by - 0.02),
                    (ex + sd * 1.3 * ew, by + 0.01), 10)
        d = np.gradient(c, axis=0)
        nrm = np.stack([-d[:, 1], d[:, 0]], 1) / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-12)
        w = np.linspace(0.009, 0.003, 10)[:, None]
        brows.append(np.concatenate([c + nrm * w, (c - nrm * w)[::-1]]))
        upper = _bezier((ex - ew, 0.15 * eh), (ex, -2.1 * eh), (ex + ew, 0.15 * eh), 10)
        lower = _bezier((ex + ew, 0.15 * eh), (ex, 1.65 * eh), (ex - ew, 0.15 * eh), 10)
        almonds.append(np.concatenate([upper, lower[1:-1]]))
        uppers.append(upper)
    ri = 0.98 * eh
    st.fill(brows, hair * 0.55 + 10, alpha=0.85)
    st.fill(almonds, (232, 228, 224))
    st.fill([_ellipse(sd * g.ex, 0.0, ri, ri, 20) for sd in sides], iris * 0.7, colour_only=True)
    st.fill([_ellipse(sd * g.ex, 0.0, 0.75 * ri, 0.75 * ri, 16) for sd in sides], iris, colour_only=True)
    st.fill([_ellipse(sd * g.ex, 0.0, 0.4 * ri, 0.4 * ri, 12) for sd in sides], (22, 16, 16), colour_only=True)
    st.fill([_ellipse(sd * g.ex - 0.35 * ri, -0.35 * ri, 0.2 * ri, 0.2 * ri, 8) for sd in sides], (250, 250, 250),
            colour_only=True)
    st.stroke(uppers, (52, 36, 32), 0.007 * u, alpha=0.9)

    lip = _mix(skin, (190, 70, 86), 0.55)
    lc, rc = np.array((-g.mw, g.corner_y)), np.array((g.mw, g.corner_y))
    opening = _mouth_opening(a)
    m_top = _through(lc, (0.0, g.line_y), rc, 12)  # the mouth line, left to right
    m_bot = _through(rc, (0.0, g.line_y + opening), lc, 12)  # the lower lip's top, right to left
    ul = 0.012 + 0.004 * a["mouth_width"]
    upper = np.concatenate([rc[None], _through(rc, (0.45 * g.mw, g.line_y - ul), (0.0, g.line_y - ul * 0.7), 6),
                            _through((0.0, g.line_y - ul * 0.7), (-0.45 * g.mw, g.line_y - ul), lc, 6)[1:],
                            m_top[1:-1]])
    lower = np.concatenate([m_bot, _through(lc, (0.0, g.line_y + opening + 0.025), rc, 12)[1:-1]])
    if opening > 0:
        inside = np.concatenate([m_top, m_bot[1:-1]])
        st.fill([inside], (58, 22, 26))
        st.fill([_ellipse(0.0, g.line_y + 0.002, 0.7 * g.mw, min(0.008, 0.45 * opening), 16)], (226, 220, 208),
                colour_only=True)
    st.fill([upper], lip * 0.86)
    st.fill([lower], lip)
    st.fill([_ellipse(0.0, g.line_y + opening + 0.011, 0.4 * g.mw, 0.004, 12)], _mix(lip, (255, 235, 235), 0.4),
            colour_only=True)
    st.stroke([m_top], lip * 0.5, 0.004 * u, alpha=0.75)
    st.apply(p.img, 0.0)


# ----------------------------------------------------------------------------------------------------------
# public API


def _check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ConfigError(f"{name}={value!r} must be an integer")
    if lo is not None and value < lo:
        raise ConfigError(f"{name}={value!r} must be at least {lo}")
    if hi is not None and value > hi:
        raise ConfigError(f"{name}={value!r} must be at most {hi}")


def _check_style(style) -> None:
    if style not in STYLES:
        raise ConfigError(f"style={style!r} is not one of {', '.join(STYLES)}")


def _check_size(size) -> None:
    if isinstance(size, bool) or not isinstance(size, Integral) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ConfigError(f"size={size!r} must be an integer from {MIN_SIZE} to {MAX_SIZE} pixels")


def render(attrs: dict, style: str, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """One avatar: image (size, size, 3) uint8 RGB and landmarks (5, 2) float32 pixel (x, y)."""
    _check_style(style)
    _check_size(size)
    missing = [k for k in ATTRIBUTE_NAMES if k not in attrs]
    if missing:
        raise ConfigError(f"attrs is missing {', '.join(missing)} (see sample_attributes)")
    size = int(size)
    g = _Geometry(attrs)
    if style == "anime":
        ss = int(min(8, max(2, round(256 / size))))
        canvas = _draw_anime(g, attrs, size * ss, size)
    else:
        canvas = _draw_photo(g, attrs, max(96, (3 * size) // 2), size)  # soft anyway: 1.5x is enough
    img = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    if style == "photo":
        rng = np.random.default_rng([int(attrs["texture_seed"]), 4, size])
        img = img + rng.normal(0.0, 2.0, img.shape).astype(np.float32)
        img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    return img, g.landmarks(size)


def render_avatar(seed: int, index: int, style: str, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Avatar ``index`` of ``seed`` in ``style``: image (size, size, 3) uint8 and landmarks (5, 2)."""
    _check_style(style)
    _check_size(size)
    return render(sample_attributes(seed, index), style, size)


def render_pair(seed: int, index: int, size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same face as a photo and as anime: (photo, anime, landmarks), landmarks shared by both."""
    _check_size(size)
    attrs = sample_attributes(seed, index)
    photo, marks = render(attrs, "photo", size)
    anime, _ = render(attrs, "anime", size)
    return photo, anime, marks


def _cache_file(style: str, n: int, size: int, seed: int, start: int) -> Path:
    from animelib.paths import cache_dir

    name = f"{style}_n{n}_s{size}_seed{seed}_start{start}_v{RENDERER_VERSION}.npz"
    return cache_dir("synthetic") / name


def render_set(style: str, n: int, size: int = 64, seed: int = 0, start: int = 0, cache: bool = True,
               progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Avatars ``start`` .. ``start + n - 1``: images (n, size, size, 3) uint8, landmarks (n, 5, 2) float32.

    With ``cache``, the arrays are kept in ``cache_dir("synthetic")`` and loaded from there next time.
    """
    _check_style(style)
    _check_int("n", n, 0)
    _check_size(size)
    _check_int("seed", seed, 0)
    _check_int("start", start, 0)
    n, size, seed, start = int(n), int(size), int(seed), int(start)
    path = _cache_file(style, n, size, seed, start) if cache and n > 0 else None
    if path is not None and path.is_file():
        try:
            with np.load(path) as f:
                images, marks = f["images"], f["landmarks"]
            if images.shape == (n, size, size, 3) and marks.shape == (n, 5, 2):
                return images, marks
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache file: render again and overwrite it
    images = np.empty((n, size, size, 3), np.uint8)
    marks = np.empty((n, 5, 2), np.float32)
    indices = range(start, start + n)
    if progress and n > 500:
        from tqdm.auto import tqdm

        indices = tqdm(indices, desc=f"rendering {n} {style} avatars ({size} px)", unit="img", leave=False)
    for i, index in enumerate(indices):
        images[i], marks[i] = render(sample_attributes(seed, index), style, size)
    if path is not None:
        fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, images=images, landmarks=marks)
            os.chmod(tmp, 0o644)  # mkstemp makes it private
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return images, marks
