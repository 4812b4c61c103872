"""The shapes of one avatar, shared by both styles, in head-local units; curve helpers; landmarks.

Head-local units: 1 = the image width at scale 1, origin between the eyes, y down. ``HeadGeometry.to_image``
(the pose: offset, scale, roll) maps them onto the image, so both styles draw the same head in the same place
and share its five landmarks.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from animelib.data.synthetic.attributes import BACKGROUND_PATTERNS, HAIR_STYLES

# ----------------------------------------------------------------------------------------------------------
# curves


@lru_cache(maxsize=64)
def _bezier_weights(n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    return np.stack([(1 - t) ** 2, 2 * (1 - t) * t, t**2], 1)  # (n, 3)


@lru_cache(maxsize=64)
def _unit_circle(n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    return np.cos(t), np.sin(t)


def bezier(p0, p1, p2, n: int = 12) -> np.ndarray:
    """(n, 2) points of the quadratic Bezier p0 -> p2 with control p1."""
    return _bezier_weights(n) @ np.array([p0, p1, p2], np.float64)


def through(p0, mid, p2, n: int = 12) -> np.ndarray:
    """A quadratic Bezier from p0 to p2 passing through ``mid`` at t = 0.5."""
    p0, mid, p2 = (np.asarray(p, np.float64) for p in (p0, mid, p2))
    return bezier(p0, 2 * mid - 0.5 * (p0 + p2), p2, n)


def ellipse(cx, cy, rx, ry, n: int = 28) -> np.ndarray:
    """(n, 2) points around an axis-aligned ellipse."""
    cos, sin = _unit_circle(n)
    out = np.empty((n, 2))
    out[:, 0] = cx + rx * cos
    out[:, 1] = cy + ry * sin
    return out


def _strand(p0, p1, p2, width: float, n: int = 16, root: float = 0.6) -> np.ndarray:
    """A tapered lock of hair along a Bezier centreline: ``root`` x width at p0, widest early, a point at p2."""
    centre = bezier(p0, p1, p2, n)
    tangent = np.gradient(centre, axis=0)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1) / (np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-12)
    t = np.linspace(0.0, 1.0, n)
    half_width = width * np.sin(np.pi * (math.asin(root) / np.pi + (1 - math.asin(root) / np.pi) * t)) ** 0.8
    return np.concatenate([centre + normal * half_width[:, None], (centre - normal * half_width[:, None])[::-1]])


def background_layout(attrs: dict) -> dict:
    """The background pattern's name and placement in normalised image coordinates (shared by both styles)."""
    rng = np.random.default_rng([int(attrs["texture_seed"]), 2])
    return {
        "pattern": BACKGROUND_PATTERNS[int(attrs["background_pattern"]) % len(BACKGROUND_PATTERNS)],
        "dots": rng.uniform(0, 1, (14, 2)),  # centres (x, y)
        "dot_radii": rng.uniform(0.03, 0.08, 14),
        "split": (rng.uniform(0.15, 0.85), rng.uniform(-0.3, 0.3)),  # (x of the edge, tilt)
        "stripes": (int(rng.integers(4, 9)), rng.uniform(0, 1)),  # (count, phase)
        "gradient": rng.uniform(-1, 1, (3, 3)),  # a coarse brightness field
    }


# ----------------------------------------------------------------------------------------------------------
# the head


class HeadGeometry:
    """All shapes of one avatar, shared by both styles, in head-local units (polygons as (N, 2) arrays)."""

    def __init__(self, attrs: dict):
        rng = np.random.default_rng([int(attrs["texture_seed"]), 1])  # spikes, bangs, shine (in this order)
        self.hair_style = HAIR_STYLES[int(attrs["hair_style"]) % len(HAIR_STYLES)]
        self._set_proportions(attrs)
        self._set_pose(attrs)
        self._build_face_and_body(attrs)
        self._build_hair(attrs, rng)

    def _set_proportions(self, attrs: dict) -> None:
        """Face outline parameters and the positions and sizes of eyes, nose and mouth."""
        self.cheek_half_width = 0.255 + 0.05 * attrs["face_width"]  # the face's widest half width
        self.cheek_y, self.skull_top = 0.035, -0.33  # the cheeks' height; the top of the skull
        self.chin_y = 0.285 + 0.065 * attrs["face_length"]
        jaw = float(attrs["jaw"])
        # below the cheeks the half width falls to chin_half_width along (1 - s ** inner) ** outer (s: 0..1)
        self.chin_half_width = 0.06 - 0.045 * jaw
        self.jaw_power_inner, self.jaw_power_outer = 2.4 - 0.7 * jaw, 0.5 + 0.45 * jaw
        self.nose_y = 0.115 + 0.03 * attrs["face_length"]
        mouth_y = 0.2 + 0.045 * attrs["face_length"]
        self.eye_x = 0.105 + 0.03 * attrs["eye_spacing"]  # each eye's distance from the midline
        self.anime_eye_half_width = min(0.067 + 0.022 * attrs["eye_size"],
                                        self.face_half_width(0.0) - self.eye_x - 0.035)
        self.anime_eye_half_height = self.anime_eye_half_width * 1.12
        self.photo_eye_half_width = 0.05 + 0.012 * attrs["eye_size"]
        self.photo_eye_half_height = 0.42 * self.photo_eye_half_width
        self.mouth_half_width = 0.04 + 0.025 * attrs["mouth_width"]
        smile = float(attrs["smile"])
        self.mouth_corner_y = mouth_y - 0.014 * smile  # the mouth corners (landmarks) rise with a smile
        self.mouth_line_y = mouth_y + 0.006 * smile  # middle of the mouth line

    def _set_pose(self, attrs: dict) -> None:
        """``to_image``: the (2, 3) affine map from local to normalised image coordinates (0..1)."""
        scale, roll = float(attrs["scale"]), math.radians(float(attrs["roll"]))
        cos, sin = math.cos(roll) * scale, math.sin(roll) * scale
        self.scale = scale
        self.to_image = np.array([[cos, -sin, 0.5 + attrs["offset_x"]], [sin, cos, 0.445 + attrs["offset_y"]]],
                                 np.float64)

    def _build_face_and_body(self, attrs: dict) -> None:
        """Face outline (and its lower part, the jaw line), ears, neck and shoulders."""
        half_width, cheek_y, chin_y = self.cheek_half_width, self.cheek_y, self.chin_y
        t = np.linspace(0.0, math.pi, 25)
        skull = np.stack([half_width * np.cos(t), cheek_y - (cheek_y - self.skull_top) * np.sin(t)], 1)
        ys = cheek_y + (chin_y - cheek_y) * np.linspace(0.0, 1.0, 22)[1:]
        xs = self.face_half_width(ys)
        self.jaw_outline = np.concatenate([np.stack([-xs, ys], 1), np.stack([xs, ys], 1)[::-1]])
        self.face_outline = np.concatenate([skull, self.jaw_outline])
        ear_x = self.face_half_width(0.04) - 0.006
        self.ears = [(side * ear_x, 0.045, 0.032, 0.056) for side in (-1, 1)]  # (cx, cy, rx, ry)
        neck_half_width = 0.082 + 0.02 * attrs["face_width"]
        self.neck = np.array([(-neck_half_width, cheek_y), (-neck_half_width * 1.08, chin_y + 0.14), (0, chin_y + 0.2),
                              (neck_half_width * 1.08, chin_y + 0.14), (neck_half_width, cheek_y)])
        self.body = ellipse(0, chin_y + 0.43, 0.46 + 0.05 * attrs["face_width"], 0.31, 40)

    def _build_hair(self, attrs: dict, rng: np.random.Generator) -> None:
        """Crown, back hair, what hangs behind it (tails, buns), side locks, bangs and shine strokes.

        The crown is an upper half ellipse around (0, hair_centre_y) with radii (hair_radius_x, hair_radius_y).
        """
        length = float(attrs["hair_length"])
        volume = float(attrs["hair_volume"]) * (1.6 if self.hair_style == "spiky" else 1.0)
        self.hair_radius_x = self.cheek_half_width + 0.04 + 0.025 * volume
        self.hair_centre_y = -0.07
        self.hair_radius_y = self.hair_centre_y - (self.skull_top - 0.06 - 0.035 * volume)
        self.crown = self._crown(volume, rng)
        right_side = self._back_hair_side(length)
        self.back_hair = np.concatenate([self.crown, right_side, right_side[::-1] * (-1, 1)])
        self.hair_behind: list[np.ndarray] = []  # drawn behind the back hair
        self.hair_ties: list[tuple[float, float, float]] = []  # (cx, cy, r)
        self._build_tails_and_buns(attrs, volume, length)
        self.side_locks = [self._side_lock(side, self._side_lock_tip(length)) for side in (-1, 1)]
        self.fringe = self._fringe(attrs, rng)  # the bangs: the crown on top, a zigzag of pointed locks below
        self.shine_strokes = self._shine_strokes(rng)  # (anime)

    def _crown(self, volume: float, rng: np.random.Generator) -> np.ndarray:
        """The top of the hair, left to right: a half ellipse, or a ring of spikes for ``spiky``."""
        rx, cy, ry = self.hair_radius_x, self.hair_centre_y, self.hair_radius_y
        if self.hair_style != "spiky":
            t = np.linspace(math.pi, 2 * math.pi, 41)
            return np.stack([rx * np.cos(t), cy + ry * np.sin(t)], 1)
        spikes = int(rng.integers(7, 11))
        bounds = np.linspace(math.pi - 0.25, 2 * math.pi + 0.25, spikes + 1)
        points = []
        for i in range(spikes):
            t0, t1 = bounds[i], bounds[i + 1]
            reach = 1.16 + 0.14 * rng.random() + 0.06 * volume
            t_tip = 0.5 * (t0 + t1) + 0.25 * (t1 - t0) * math.cos(0.5 * (t0 + t1))
            points += [(rx * math.cos(t0), cy + ry * math.sin(t0)),
                       (reach * rx * math.cos(t_tip), cy + reach * ry * math.sin(t_tip))]
        points.append((rx * math.cos(bounds[-1]), cy + ry * math.sin(bounds[-1])))
        return np.array(points)

    def _build_tails_and_buns(self, attrs: dict, volume: float, length: float) -> None:
        """Twin tails (with ties), a ponytail on the side of the part, or two buns, into ``hair_behind``."""
        rx, cy, ry = self.hair_radius_x, self.hair_centre_y, self.hair_radius_y
        part_side = 1.0 if attrs["fringe_part"] >= 0 else -1.0
        if self.hair_style == "twintails":
            for side in (-1, 1):
                p0 = (side * (rx - 0.01), -0.2)
                p1 = (side * (rx + 0.19 + 0.03 * volume), -0.1)
                p2 = (side * (rx + 0.12 + 0.05 * length), 0.28 + 0.32 * length)
                self.hair_behind.append(_strand(p0, p1, p2, 0.075 + 0.02 * volume, 18))
                self.hair_ties.append((side * (rx + 0.005), -0.2, 0.028))
        elif self.hair_style == "ponytail":
            p0 = (part_side * 0.3 * rx, cy - 0.8 * ry)
            p1 = (part_side * (rx + 0.26), cy - 0.95 * ry)
            p2 = (part_side * (rx + 0.13 + 0.05 * length), 0.2 + 0.3 * length)
            self.hair_behind.append(_strand(p0, p1, p2, 0.085 + 0.02 * volume, 18, root=0.8))
        elif self.hair_style == "buns":
            for side in (-1, 1):
                radius = 0.08 + 0.02 * length
                self.hair_behind.append(ellipse(side * 0.62 * rx, cy - 0.86 * ry + 0.01, radius, radius, 24))

    def face_half_width(self, y):
        """Half width of the face outline at height ``y`` (local units; 0 below the chin)."""
        y = np.asarray(y, np.float64)
        half_width, cheek_y, chin_y = self.cheek_half_width, self.cheek_y, self.chin_y
        skull = half_width * np.sqrt(np.clip(1 - ((cheek_y - y) / (cheek_y - self.skull_top)) ** 2, 0, 1))
        s = np.clip((y - cheek_y) / (chin_y - cheek_y), 0, 1)
        jaw = (self.chin_half_width
               + (half_width - self.chin_half_width) * (1 - s**self.jaw_power_inner) ** self.jaw_power_outer)
        return np.where(y < cheek_y, skull, np.where(y <= chin_y, jaw, 0.0))

    def _back_hair_side(self, length: float) -> np.ndarray:
        """Right side of the back hair, from the crown down and back in (the left side is its mirror)."""
        rx, half_width, chin_y, style = self.hair_radius_x, self.cheek_half_width, self.chin_y, self.hair_style
        if style in ("short", "spiky", "ponytail"):
            bottom = 0.02 + 0.07 * length
            points = [(rx + 0.004, self.hair_centre_y + 0.06), (rx - 0.006, bottom), (half_width - 0.03, bottom + 0.05)]
        elif style == "bob":
            bottom = chin_y - 0.03 + 0.09 * length
            points = [(rx + 0.015, 0.02), (rx + 0.03, bottom - 0.06), (rx + 0.012, bottom), (rx - 0.05, bottom + 0.012),
                      (0.05, bottom + 0.01)]
        elif style == "long":
            points = [(rx + 0.02, 0.02), (rx + 0.05 + 0.03 * length, 0.28), (rx + 0.08 + 0.05 * length, 0.8),
                      (0.05, 0.8)]
        elif style == "twintails":
            points = [(rx + 0.004, 0.0), (rx - 0.01, chin_y - 0.1), (half_width * 0.6, chin_y - 0.03),
                      (0.05, chin_y - 0.03)]
        else:  # buns
            bottom = chin_y - 0.12 + 0.06 * length
            points = [(rx + 0.01, 0.0), (rx + 0.005, bottom), (half_width * 0.5, bottom + 0.01), (0.05, bottom + 0.01)]
        return np.array(points, np.float64)

    def _side_lock_tip(self, length: float) -> float:
        """How far down (local y) the side locks reach."""
        return {"short": 0.02 + 0.06 * length, "spiky": 0.05 + 0.06 * length, "bob": self.chin_y - 0.05 + 0.08 * length,
                "long": 0.4 + 0.2 * length, "twintails": 0.12 + 0.12 * length, "ponytail": 0.06 + 0.08 * length,
                "buns": 0.1 + 0.1 * length}[self.hair_style]

    def _side_lock(self, side: int, tip: float) -> np.ndarray:
        """The lock of hair hanging at one side of the face (side = -1 left, +1 right) down to ``tip``."""
        top = -0.15
        ys = np.linspace(top, tip, 14)
        along = (ys - top) / (tip - top)
        outer_x = (np.maximum(self.face_half_width(ys), 0.62 * self.cheek_half_width) + 0.03
                   + 0.15 * np.clip(ys - self.chin_y, 0, None))
        inner_x = outer_x - 0.075 * (1 - along) ** 0.75
        outer = np.stack([outer_x, ys], 1)
        inner = np.stack([inner_x, ys], 1)[::-1]
        tip_point = np.array([[outer_x[-1] - 0.012, tip + 0.015]])
        points = np.concatenate([outer, tip_point, inner[1:]])
        points[:, 0] *= side
        return points

    def _fringe(self, attrs: dict, rng: np.random.Generator) -> np.ndarray:
        """The bangs: the crown on top, a zigzag of pointed locks (blunt teeth for a bob) at the bottom."""
        half_width = self.cheek_half_width
        blunt = self.hair_style == "bob"
        locks = int(attrs["fringe_locks"]) + (4 if blunt else 0)
        part = float(attrs["fringe_part"])
        tip_y = -self.anime_eye_half_height - 0.012 - 0.035 * (1.0 - float(attrs["fringe_length"]))
        left, right = -(half_width + 0.02), half_width + 0.02
        bounds = np.linspace(left, right, locks + 1)  # where neighbouring locks meet
        bounds[1:-1] += rng.uniform(-0.18, 0.18, locks - 1) * ((right - left) / locks)
        # the part: move the nearest interior boundary onto it
        part_x = 0.55 * part * half_width
        j = 1 + int(np.argmin(np.abs(bounds[1:-1] - part_x)))
        bounds[j] = 0.5 * (bounds[j] + part_x)
        lean = 0.25 * abs(part)  # tips sweep away from the part
        edge = [(left, -0.04)]
        for i in range(locks):
            x0, x1 = bounds[i], bounds[i + 1]
            mid_x = 0.5 * (x0 + x1)
            tip_x = mid_x + lean * (x1 - x0) * (1.0 if mid_x > part_x else -1.0)
            lock_tip_y = tip_y + 0.1 * min(abs(tip_x) / half_width, 1.0) ** 2.2 + rng.uniform(-0.008, 0.008)
            depth = (0.018 if blunt else 0.06 + 0.035 * rng.random())
            if self.hair_style == "spiky":
                depth += 0.02
            notch_y0 = edge[-1][1] if i == 0 else lock_tip_y - depth
            notch_y1 = -0.04 if i == locks - 1 else lock_tip_y - depth
            p0 = np.array((x0, notch_y0))
            if i > 0:
                edge.append(tuple(p0))
            if blunt:
                segment = [(x0 + 0.15 * (x1 - x0), lock_tip_y), (x1 - 0.15 * (x1 - x0), lock_tip_y)]
            else:
                tip = (tip_x, lock_tip_y)
                c0 = (x0 + 0.1 * (tip_x - x0), notch_y0 + 0.75 * (lock_tip_y - notch_y0))
                c1 = (x1 + 0.1 * (tip_x - x1), notch_y1 + 0.75 * (lock_tip_y - notch_y1))
                segment = list(bezier(p0, c0, tip, 7)[1:]) + list(bezier(tip, c1, (x1, notch_y1), 7)[1:-1])
            edge += [tuple(p) for p in segment]
        edge.append((right, -0.04))
        return np.concatenate([self.crown, np.array(edge, np.float64)[::-1]])

    def _shine_strokes(self, rng: np.random.Generator) -> list[np.ndarray]:
        """Narrow quads radiating across the crown: the anime hair highlights."""
        rx, cy, ry = self.hair_radius_x, self.hair_centre_y, self.hair_radius_y
        strokes = []
        count = int(rng.integers(4, 7))
        for t in np.linspace(math.pi + 0.6, 2 * math.pi - 0.6, count) + rng.uniform(-0.06, 0.06, count):
            top = np.array((0.8 * rx * math.cos(t), cy + 0.8 * ry * math.sin(t)))
            bottom = np.array((0.6 * rx * math.cos(t), cy + 0.6 * ry * math.sin(t)))
            direction = bottom - top
            normal = (np.array((-direction[1], direction[0])) / (np.linalg.norm(direction) + 1e-12)
                      * (0.013 + 0.006 * rng.random()))
            mid = top + 0.35 * direction
            strokes.append(np.array([top, mid + normal, bottom, mid - normal]))
        return strokes

    def landmarks(self, size: int) -> np.ndarray:
        """(5, 2) float32 pixel (x, y) in a ``size`` image: eyes, nose tip, mouth corners."""
        local = np.array([(-self.eye_x, 0.0), (self.eye_x, 0.0), (0.0, self.nose_y),
                          (-self.mouth_half_width, self.mouth_corner_y), (self.mouth_half_width, self.mouth_corner_y)])
        to_pixels = self.to_image * size
        return (local @ to_pixels[:, :2].T + to_pixels[:, 2] - 0.5).astype(np.float32)
