"""Random street layout of one SynthCity frame.

A frame is a straight street along +Z seen from a car in one of its right-hand
lanes: road with lane markings (optional parking lanes), raised sidewalks (and
optional lawn strips), building facades with gaps (walls, fences, hedges,
trees), an optional cross street or T-junction with a facade across the road,
a background skyline, parked and moving cars / trucks / buses, cyclists,
pedestrians, poles with signs, traffic lights and street lamps, trees. Every
draw comes from the frame's own ``np.random.Generator``.

Colours are drawn per object from class distributions that overlap on purpose
(grey cars, buildings, walls, road and sidewalks; green cars and fences next to
vegetation; ...), so an image model has to use shape, position and texture.
"""
import colorsys
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from . import labels as L
from .camera import PinholeCamera, scaled_intrinsics
from .primitives import Material, PrimitiveBuilder, Primitives


@dataclass
class Street:
    """Ground-plane layout used to label and texture ground hits.

    Args:
        road_x (tuple): road extent ``(x_left, x_right)`` (m).
        lane_width (float): lane width (m); lane lines at multiples of it.
        lanes (int): driving lanes per direction.
        band (tuple | None): ``(z0, z1)`` of a cross street (road for all x).
        lot_labels (tuple): label id of the ground beyond the road on the left
            and right side (SIDEWALK: paved lot, TERRAIN: grass).
        lot_colours (tuple): their albedos.
        road_colour (np.ndarray): asphalt albedo (3,).
        marking_colour (np.ndarray): lane-marking albedo (3,).
        dashed_centre (bool): dashed (True) or solid centre line.
    """

    road_x: Tuple[float, float]
    lane_width: float
    lanes: int
    band: Optional[Tuple[float, float]]
    lot_labels: Tuple[int, int]
    lot_colours: Tuple[np.ndarray, np.ndarray]
    road_colour: np.ndarray
    marking_colour: np.ndarray
    dashed_centre: bool


@dataclass
class Style:
    """Global photometric parameters of a frame (lighting, sky, camera).

    Args:
        sun (np.ndarray): unit vector towards the sun (world, (3,)).
        sun_strength (float): direct light factor.
        ambient (float): sky light factor.
        zenith, horizon (np.ndarray): sky colours (3,); the horizon colour is
            also the fog colour.
        clouds (float): cloud cover in [0, 1].
        fog_distance (float): e-folding distance of the haze (m).
        exposure (float): global gain.
        white_balance (np.ndarray): per-channel gains (3,).
        grain (float): std of the sensor noise (in [0, 1] units).
    """

    sun: np.ndarray
    sun_strength: float
    ambient: float
    zenith: np.ndarray
    horizon: np.ndarray
    clouds: float
    fog_distance: float
    exposure: float
    white_balance: np.ndarray
    grain: float


@dataclass
class Scene:
    """Everything needed to render one frame."""

    camera: PinholeCamera
    prims: Primitives
    street: Street
    style: Style


def _unit(x: float) -> float:
    return min(1.0, max(0.0, float(x)))


def _hsv(h: float, s: float, v: float) -> Tuple[float, float, float]:
    return colorsys.hsv_to_rgb(h % 1.0, _unit(s), _unit(v))


def _grey(rng: np.random.Generator, lo: float, hi: float, tint: float = 0.04):
    """A grey of brightness in [lo, hi] with a small random tint."""
    g = rng.uniform(lo, hi)
    return tuple(_unit(g * (1 + t)) for t in rng.uniform(-tint, tint, 3).tolist())


def _building_colour(rng):
    r = rng.random()
    if r < 0.35:
        return _grey(rng, 0.3, 0.8)
    if r < 0.6:   # beige / sand
        return _hsv(rng.uniform(0.07, 0.14), rng.uniform(0.15, 0.45), rng.uniform(0.5, 0.9))
    if r < 0.8:   # brick
        return _hsv(rng.uniform(0.0, 0.06), rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65))
    return _hsv(rng.uniform(0.0, 1.0), rng.uniform(0.1, 0.35), rng.uniform(0.45, 0.9))


def _vehicle_colour(rng):
    r = rng.random()
    if r < 0.55:
        return _grey(rng, 0.05, 0.85)
    return _hsv(rng.uniform(0, 1), rng.uniform(0.4, 0.9), rng.uniform(0.2, 0.8))


def _cloth_colour(rng):
    if rng.random() < 0.5:
        return _grey(rng, 0.04, 0.6)
    return _hsv(rng.uniform(0, 1), rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.75))


def _foliage_colour(rng):
    if rng.random() < 0.15:  # autumn
        return _hsv(rng.uniform(0.06, 0.14), rng.uniform(0.45, 0.8), rng.uniform(0.3, 0.6))
    return _hsv(rng.uniform(0.17, 0.33), rng.uniform(0.3, 0.75), rng.uniform(0.15, 0.5))


def _grass_colour(rng):
    return _hsv(rng.uniform(0.12, 0.3), rng.uniform(0.25, 0.6), rng.uniform(0.25, 0.55))


def _metal_colour(rng):
    if rng.random() < 0.25:
        return _hsv(rng.uniform(0.25, 0.45), rng.uniform(0.3, 0.6), rng.uniform(0.15, 0.35))
    return _grey(rng, 0.1, 0.65)


class _Occupancy:
    """Footprints (x0, x1, z0, z1) of placed objects, to avoid overlaps."""

    def __init__(self) -> None:
        self.boxes: List[Tuple[float, float, float, float]] = []

    def free(self, x0, x1, z0, z1, margin=0.3) -> bool:
        return all(x1 + margin <= b[0] or b[1] + margin <= x0 or z1 + margin <= b[2]
                   or b[3] + margin <= z0 for b in self.boxes)

    def take(self, x0, x1, z0, z1) -> None:
        self.boxes.append((x0, x1, z0, z1))

    def claim(self, box) -> bool:
        """Take ``box`` if it is free; returns whether it was."""
        if not self.free(*box):
            return False
        self.take(*box)
        return True


def _footprint(x: float, zc: float, width: float, length: float, yaw: float):
    """Axis-aligned (x0, x1, z0, z1) bounds of a vehicle turned by ``yaw``."""
    c, s = abs(np.cos(yaw)), abs(np.sin(yaw))
    ex, ez = (c * width + s * length) / 2, (s * width + c * length) / 2
    return x - ex, x + ex, zc - ez, zc + ez


class _StreetBuilder:
    """Draws one street; methods add groups of primitives to ``self.pb``."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.pb = PrimitiveBuilder()
        self.occ = _Occupancy()

    # ----------------------------------------------------------------- objects
    def car(self, x: float, zc: float, yaw: float, moving: bool) -> None:
        rng, pb = self.rng, self.pb
        r = rng.random()
        if moving and r < 0.06:
            self.bus(x, zc, yaw)
            return
        if r < (0.14 if moving else 0.05):
            self.truck(x, zc, yaw)
            return
        length, width = rng.uniform(3.7, 4.9), rng.uniform(1.65, 1.95)
        if not self.occ.claim(_footprint(x, zc, width, length, yaw)):
            return
        colour = _vehicle_colour(rng)
        y0, hb = 0.14, rng.uniform(0.55, 0.75)
        pb.box((x - width / 2, y0, zc - length / 2), (x + width / 2, y0 + hb, zc + length / 2),
               L.CAR, Material.CAR, colour, (0.0,), yaw=yaw)
        cab_len = length * rng.uniform(0.42, 0.6)
        off = rng.uniform(0.0, 0.12) * length          # cabin sits towards the rear
        cx, cz = x - np.sin(yaw) * off, zc - np.cos(yaw) * off
        ch = rng.uniform(0.42, 0.6)
        glass = _grey(rng, 0.05, 0.2)
        pb.box((cx - width / 2 + 0.08, y0 + hb, cz - cab_len / 2),
               (cx + width / 2 - 0.08, y0 + hb + ch, cz + cab_len / 2),
               L.CAR, Material.GLASS, glass, colour, yaw=yaw)

    def truck(self, x: float, zc: float, yaw: float) -> None:
        rng, pb = self.rng, self.pb
        width, cab_len, cargo_len = 2.4, rng.uniform(1.9, 2.4), rng.uniform(4.5, 8.0)
        total = cab_len + cargo_len + 0.3
        if not self.occ.claim(_footprint(x, zc, width, total, yaw)):
            return
        fwd = np.array([np.sin(yaw), np.cos(yaw)])     # world (x, z) of local +z
        front = np.array([x, zc]) + fwd * (total / 2 - cab_len / 2)
        back = np.array([x, zc]) - fwd * (total / 2 - cargo_len / 2)
        cab_col = _vehicle_colour(rng)
        cargo_col = cab_col if rng.random() < 0.4 else _grey(rng, 0.4, 0.95)
        hc = rng.uniform(2.5, 3.0)
        pb.box((front[0] - width / 2 + 0.05, 0.35, front[1] - cab_len / 2),
               (front[0] + width / 2 - 0.05, hc, front[1] + cab_len / 2),
               L.TRUCK, Material.CAR, cab_col, (2.0,), yaw=yaw)
        pb.box((back[0] - width / 2, 0.45, back[1] - cargo_len / 2),
               (back[0] + width / 2, rng.uniform(3.0, 3.9), back[1] + cargo_len / 2),
               L.TRUCK, Material.CAR, cargo_col, (0.0,), yaw=yaw)

    def bus(self, x: float, zc: float, yaw: float) -> None:
        rng = self.rng
        length, width = rng.uniform(10.0, 12.5), 2.5
        if not self.occ.claim(_footprint(x, zc, width, length, yaw)):
            return
        colour = _vehicle_colour(rng) if rng.random() < 0.5 else _hsv(
            rng.uniform(0.0, 0.17), rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.9))
        self.pb.box((x - width / 2, 0.3, zc - length / 2), (x + width / 2, 3.1, zc + length / 2),
                    L.BUS, Material.CAR, colour, (1.0,), yaw=yaw)

    def person(self, x: float, z: float, y0: float, label: int = L.PERSON) -> bool:
        rng, pb = self.rng, self.pb
        s = rng.uniform(0.6, 0.78) if rng.random() < 0.1 else rng.uniform(0.88, 1.08)
        if not self.occ.free(x - 0.25, x + 0.25, z - 0.25, z + 0.25, margin=0.1):
            return False
        self.occ.take(x - 0.25, x + 0.25, z - 0.25, z + 0.25)
        pb.cylinder(x, z, y0, y0 + 0.82 * s, 0.13 * s, label, Material.CLOTH, _cloth_colour(rng))
        pb.cylinder(x, z, y0 + 0.82 * s, y0 + 1.45 * s, rng.uniform(0.17, 0.23) * s, label,
                    Material.CLOTH, _cloth_colour(rng))
        skin = _hsv(rng.uniform(0.04, 0.1), rng.uniform(0.2, 0.6), rng.uniform(0.25, 0.85))
        pb.ellipsoid((x, y0 + 1.57 * s, z), (0.1 * s, 0.125 * s, 0.1 * s), label,
                     Material.CLOTH, skin)
        return True

    def cyclist(self, x: float, z: float) -> None:
        rng, pb = self.rng, self.pb
        if not self.occ.free(x - 0.35, x + 0.35, z - 0.9, z + 0.9):
            return
        self.occ.take(x - 0.35, x + 0.35, z - 0.9, z + 0.9)
        frame = _vehicle_colour(rng)
        for dz in (-0.53, 0.53):
            pb.ellipsoid((x, 0.34, z + dz), (0.03, 0.34, 0.34), L.BICYCLE, Material.WHEEL,
                         (0.05,) * 3)
        pb.box((x - 0.025, 0.74, z - 0.45), (x + 0.025, 0.8, z + 0.42), L.BICYCLE, Material.PLAIN,
               frame, (0.2,))
        pb.box((x - 0.025, 0.34, z - 0.32), (x + 0.025, 0.8, z - 0.26), L.BICYCLE, Material.PLAIN,
               frame, (0.2,))
        pb.box((x - 0.3, 0.95, z + 0.38), (x + 0.3, 1.0, z + 0.44), L.BICYCLE, Material.PLAIN,
               (0.1,) * 3, (0.2,))
        pb.cylinder(x, z - 0.15, 0.45, 0.95, 0.1, L.RIDER, Material.CLOTH, _cloth_colour(rng))
        pb.cylinder(x, z - 0.05, 0.95, 1.5, 0.19, L.RIDER, Material.CLOTH, _cloth_colour(rng))
        pb.ellipsoid((x, 1.63, z), (0.11, 0.13, 0.11), L.RIDER, Material.CLOTH,
                     _grey(rng, 0.05, 0.9))

    def pole(self, x: float, z: float, road_side: float, kind: str) -> None:
        """Pole at ``(x, z)``; ``road_side`` is the sign of the direction to the road."""
        rng, pb = self.rng, self.pb
        r = rng.uniform(0.05, 0.12)
        height = rng.uniform(3.2, 8.5) if kind != 'lamp' else rng.uniform(6.0, 9.0)
        colour = _metal_colour(rng)
        pb.cylinder(x, z, 0.0, height, r, L.POLE, Material.PLAIN, colour, (0.15,))
        if kind == 'lamp':
            arm = rng.uniform(1.2, 2.6)
            x1 = x + road_side * arm
            pb.box((min(x, x1), height - 0.12, z - 0.05), (max(x, x1), height - 0.02, z + 0.05),
                   L.POLE, Material.PLAIN, colour, (0.15,))
            pb.box((x1 - 0.3, height - 0.25, z - 0.15), (x1 + 0.3, height - 0.05, z + 0.15),
                   L.POLE, Material.PLAIN, colour, (0.15,))
        elif kind == 'sign':
            w = rng.uniform(0.45, 0.8)
            hgt = w * (rng.uniform(0.9, 1.4) if rng.random() < 0.5 else 1.0)
            y = min(rng.uniform(1.9, 2.8), height - 0.2)
            zf = z - r - 0.05
            r_ = rng.random()
            if r_ < 0.4:
                face, border = _hsv(0.6, 0.85, rng.uniform(0.45, 0.75)), (0.95, 0.95, 0.95)
            elif r_ < 0.7:
                face, border = (0.93, 0.93, 0.9), _hsv(0.0, 0.85, rng.uniform(0.6, 0.8))
            else:
                face, border = _hsv(rng.uniform(0.1, 0.15), 0.85, 0.85), (0.1, 0.1, 0.1)
            pb.box((x - w / 2, y, zf - 0.03), (x + w / 2, y + hgt, zf), L.TRAFFIC_SIGN,
                   Material.SIGN, face, (float(rng.random() < 0.5),) + border)
        elif kind == 'light':
            y = min(rng.uniform(2.4, 4.0), height - 0.3)
            zf = z - r - 0.16
            housing = _grey(rng, 0.03, 0.2) if rng.random() < 0.8 else _hsv(0.14, 0.8, 0.7)
            pb.box((x - 0.16, y, zf - 0.14), (x + 0.16, y + 0.9, zf + 0.14), L.TRAFFIC_LIGHT,
                   Material.LIGHT, housing, (float(rng.integers(0, 3)),))

    def tree(self, x: float, z: float) -> None:
        rng, pb = self.rng, self.pb
        trunk_h = rng.uniform(1.8, 3.4)
        pb.cylinder(x, z, 0.0, trunk_h + 0.5, rng.uniform(0.1, 0.22), L.VEGETATION, Material.PLAIN,
                    _hsv(rng.uniform(0.05, 0.1), rng.uniform(0.2, 0.5), rng.uniform(0.12, 0.35)),
                    (0.4,))
        rx, ry = rng.uniform(1.2, 2.8), rng.uniform(1.5, 3.4)
        pb.ellipsoid((x, trunk_h + 0.75 * ry, z), (rx, ry, rx * rng.uniform(0.85, 1.15)),
                     L.VEGETATION, Material.FOLIAGE, _foliage_colour(rng))

    def block(self, lo: Sequence[float], hi: Sequence[float]) -> None:
        """A building box with its own colour and window grid."""
        rng = self.rng
        aux = (rng.uniform(2.8, 3.8), rng.uniform(1.8, 3.6), rng.uniform(0.3, 0.7),
               rng.uniform(0.0, 1.0))
        self.pb.box(lo, hi, L.BUILDING, Material.FACADE, _building_colour(rng), aux)

    def building(self, side: float, x_in: float, z0: float, z1: float, height: float,
                 depth: float) -> None:
        """Building whose facade is at ``|x| = x_in`` on ``side``, from z0 to z1."""
        xa, xb = sorted((side * x_in, side * (x_in + depth)))
        self.block((xa, 0.0, z0), (xb, height, z1))

    def barrier(self, side: float, x: float, z0: float, z1: float) -> None:
        """Wall, fence or hedge along the property line between ``z0`` and ``z1``."""
        rng, pb = self.rng, self.pb
        r = rng.random()
        if r < 0.35:
            t, h = 0.3, rng.uniform(0.8, 2.6)
            col = _building_colour(rng) if rng.random() < 0.5 else _grey(rng, 0.3, 0.75)
            xa, xb = sorted((side * x, side * (x + t)))
            pb.box((xa, 0.0, z0), (xb, h, z1), L.WALL, Material.PLAIN, col, (0.25,))
        elif r < 0.7:
            t, h = 0.06, rng.uniform(1.0, 2.2)
            col = _metal_colour(rng) if rng.random() < 0.6 else _hsv(
                rng.uniform(0.05, 0.1), 0.5, rng.uniform(0.25, 0.55))
            xa, xb = sorted((side * x, side * (x + t)))
            pb.box((xa, 0.0, z0), (xb, h, z1), L.FENCE, Material.FENCE, col,
                   (rng.uniform(0.12, 0.35), rng.uniform(0.3, 0.7)))
        else:
            t, h = rng.uniform(0.6, 1.2), rng.uniform(0.8, 1.8)
            xa, xb = sorted((side * x, side * (x + t)))
            pb.box((xa, 0.0, z0), (xb, h, z1), L.VEGETATION, Material.FOLIAGE, _foliage_colour(rng))


def _segments(z_start: float, z_end: float, band) -> List[Tuple[float, float]]:
    """The z ranges of [z_start, z_end] outside the cross-street band."""
    if band is None:
        return [(z_start, z_end)]
    out = []
    if band[0] > z_start:
        out.append((z_start, min(band[0], z_end)))
    if band[1] < z_end:
        out.append((max(band[1], z_start), z_end))
    return out


def sample_style(rng: np.random.Generator) -> Style:
    """Draw the lighting, sky and camera response of a frame."""
    elev, azim = rng.uniform(np.radians(15), np.radians(60)), rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elev) * np.sin(azim), np.sin(elev), np.cos(elev) * np.cos(azim)])
    if rng.random() < 0.35:   # overcast
        g = rng.uniform(0.55, 0.8)
        zenith = np.array([g, g, g * rng.uniform(1.0, 1.08)])
        horizon = np.clip(zenith * rng.uniform(1.05, 1.2), 0, 1)
        sun_strength, ambient, clouds = rng.uniform(0.1, 0.25), rng.uniform(0.75, 0.9), 0.0
    else:
        zenith = np.array([0.22, 0.42, 0.78]) * rng.uniform(0.8, 1.1) + rng.uniform(-.04, .04, 3)
        horizon = np.array([0.7, 0.8, 0.9]) * rng.uniform(0.9, 1.08) + rng.uniform(-.03, .03, 3)
        sun_strength, ambient = rng.uniform(0.5, 0.8), rng.uniform(0.35, 0.5)
        clouds = rng.uniform(0.0, 0.7)
    return Style(sun=sun, sun_strength=float(sun_strength), ambient=float(ambient),
                 zenith=np.clip(zenith, 0, 1), horizon=np.clip(horizon, 0, 1),
                 clouds=float(clouds), fog_distance=float(rng.uniform(150.0, 600.0)),
                 exposure=float(rng.uniform(0.85, 1.2)),
                 white_balance=1.0 + rng.normal(0.0, 0.04, 3),
                 grain=float(rng.uniform(1.5, 4.0) / 255.0))


def sample_scene(rng: np.random.Generator, height: int, width: int,
                 pitch: Optional[float] = None) -> Scene:
    """Draw a random street scene and the camera that looks at it.

    Args:
        rng (np.random.Generator): the frame's generator (the only randomness).
        height, width (int): image size (for the scaled intrinsics).
        pitch (float, optional): fixed camera pitch (rad) instead of a random one.

    Returns:
        Scene: camera, primitives, ground layout and photometric style.
    """
    b = _StreetBuilder(rng)
    lanes = int(rng.choice([1, 1, 2, 2, 3]))
    lane_w = rng.uniform(2.9, 3.6)
    park = (rng.random() < 0.6, rng.random() < 0.6)
    park_w = 2.2
    x_left = -(lanes * lane_w + park[0] * park_w)
    x_right = lanes * lane_w + park[1] * park_w

    cam_lane = int(rng.integers(0, lanes))
    cam_x = (cam_lane + 0.5) * lane_w + rng.uniform(-0.3, 0.3)
    cam_h = rng.uniform(1.15, 1.32)
    if pitch is None:
        pitch = float(np.clip(rng.normal(0.03, 0.015), -0.02, 0.08))
    camera = PinholeCamera(**scaled_intrinsics(height, width), width=width, height=height,
                           cam_height=float(cam_h), cam_x=float(cam_x), pitch=float(pitch))

    # Cross street / T-junction.
    band = None
    r = rng.random()
    if r < 0.3:
        z_end = rng.uniform(45.0, 130.0)
        band = (z_end - rng.uniform(9.0, 16.0), z_end)
    else:
        z_end = 230.0
        if r < 0.65:
            z0 = rng.uniform(15.0, 70.0)
            band = (z0, z0 + rng.uniform(8.0, 16.0))
    z_objects = min(band[0] if (band and z_end < 200) else z_end, 110.0)

    curb = rng.uniform(0.1, 0.18)
    road_colour = np.array(_grey(rng, 0.17, 0.4, tint=0.05))
    marking = np.array(_grey(rng, 0.6, 0.9)) if rng.random() < 0.85 else np.array(
        _hsv(0.13, 0.7, 0.8))
    lot_labels, lot_colours = [], []
    pave = [None, None]
    for i, side in enumerate((-1.0, 1.0)):
        edge = -x_left if side < 0 else x_right
        lawn = rng.uniform(1.0, 2.5) if rng.random() < 0.25 else 0.0
        walk = rng.uniform(2.2, 5.5)
        x_prop = edge + lawn + walk
        pave[i] = _grey(rng, 0.35, 0.7) if rng.random() < 0.7 else _hsv(
            rng.uniform(0.0, 0.1), rng.uniform(0.2, 0.45), rng.uniform(0.4, 0.7))
        grass = _grass_colour(rng)
        for z0, z1 in _segments(-5.0, z_end, band):
            xa, xb = sorted((side * (edge + lawn), side * x_prop))
            b.pb.box((xa, 0.0, z0), (xb, curb, z1), L.SIDEWALK, Material.PAVING, pave[i])
            if lawn > 0:
                xa, xb = sorted((side * edge, side * (edge + lawn)))
                b.pb.box((xa, 0.0, z0), (xb, curb * 0.8, z1), L.TERRAIN, Material.GRASS, grass)
        grass_lot = rng.random() < 0.35
        lot_labels.append(L.TERRAIN if grass_lot else L.SIDEWALK)
        lot_colours.append(np.array(grass if grass_lot else pave[i]))

        # Buildings and gaps along the property line.
        for z0, z1 in _segments(-5.0, z_end, band):
            z = z0
            while z < z1:
                seg = min(rng.uniform(6.0, 26.0), z1 - z)
                if seg < 2.0:
                    break
                if rng.random() < 0.8:
                    setback = 0.0 if rng.random() < 0.65 else rng.uniform(0.5, 5.0)
                    h = rng.uniform(6.0, 28.0) if rng.random() < 0.9 else rng.uniform(3.5, 6.0)
                    b.building(side, x_prop + setback, z, z + seg, h, rng.uniform(12.0, 45.0))
                    if setback > 1.5 and rng.random() < 0.4:
                        b.barrier(side, x_prop, z, z + seg)
                else:
                    b.barrier(side, x_prop, z, z + seg)
                    for _ in range(int(rng.integers(0, 3))):
                        b.tree(side * (x_prop + rng.uniform(2.0, 6.0)), rng.uniform(z, z + seg))
                    if rng.random() < 0.6:
                        b.building(side, x_prop + rng.uniform(10.0, 25.0), z, z + seg,
                                   rng.uniform(8.0, 35.0), rng.uniform(12.0, 30.0))
                z += seg

        # Poles, signs, lights, lamps near the curb; trees on lawn / sidewalk.
        x_pole = edge + lawn + rng.uniform(0.3, 0.6)
        z = rng.uniform(2.0, 15.0)
        while z < min(z_objects, 90.0):
            if band is None or not (band[0] - 1.0 < z < band[1] + 1.0):
                kind = rng.choice(['plain', 'lamp', 'sign', 'light'], p=[0.3, 0.25, 0.3, 0.15])
                b.pole(side * x_pole, z, -side, str(kind))
                b.occ.take(side * x_pole - 0.2, side * x_pole + 0.2, z - 0.2, z + 0.2)
            z += rng.uniform(10.0, 35.0)
        if band is not None:
            for zb in (band[0] - 1.0, band[1] + 1.0):
                if rng.random() < 0.7:
                    b.pole(side * x_pole, zb, -side, 'light' if rng.random() < 0.7 else 'sign')
        if rng.random() < 0.5:
            x_tree = edge + lawn / 2 if lawn > 0 else x_prop - rng.uniform(0.7, 1.2)
            z = rng.uniform(3.0, 12.0)
            while z < min(z_objects, 80.0):
                if band is None or not (band[0] - 2.0 < z < band[1] + 2.0):
                    b.tree(side * x_tree, z)
                z += rng.uniform(7.0, 16.0)

        # Pedestrians on this sidewalk.
        for _ in range(int(rng.poisson(3.0))):
            zs = _segments(3.0, min(z_objects, 70.0), band)
            z0, z1 = zs[int(rng.integers(0, len(zs)))]
            if z1 > z0:
                x = side * rng.uniform(edge + lawn + 0.4, x_prop - 0.3)
                b.person(x, rng.uniform(z0, z1), curb)

    # Vehicles: cyclists first (they are small), then parked and moving cars.
    if rng.random() < 0.35:
        b.cyclist(lanes * lane_w - 0.7, rng.uniform(9.0, 45.0))
    for side, x_edge, has_park in ((-1.0, x_left, park[0]), (1.0, x_right, park[1])):
        if not has_park:
            continue
        x = x_edge - side * rng.uniform(1.05, 1.2)
        for z0, z1 in _segments(rng.uniform(1.0, 8.0), min(z_objects, 100.0), band):
            z = z0
            while z < z1 - 2.0:
                length = 4.6
                if rng.random() < 0.7:
                    b.car(x, z + length / 2, rng.normal(0.0, 0.02) + (np.pi if side < 0 else 0),
                          moving=False)
                    z += length + rng.uniform(0.4, 4.0)
                else:
                    z += rng.uniform(3.0, 12.0)
    for lane in range(lanes):
        for direction in (1.0, -1.0):
            x = direction * (lane + 0.5) * lane_w + rng.uniform(-0.25, 0.25)
            z = rng.uniform(9.0, 25.0) if (direction > 0 and lane == cam_lane) else \
                rng.uniform(-3.0, 20.0)
            yaw = 0.0 if direction > 0 else np.pi
            while z < z_objects:
                if rng.random() < 0.55 and (band is None or not
                                           (band[0] - 3.0 < z < band[1] + 3.0)):
                    b.car(x, z + 3.0, yaw + rng.normal(0.0, 0.01), moving=True)
                z += rng.uniform(12.0, 40.0)
    if band is not None:
        for _ in range(int(rng.integers(0, 3))):
            zc = (band[0] + band[1]) / 2 + rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 2.5)
            b.car(rng.uniform(-40.0, 40.0), zc, np.pi / 2, moving=True)
        for _ in range(int(rng.poisson(1.0))):   # pedestrians crossing
            b.person(rng.uniform(x_left + 0.5, x_right - 0.5), band[0] - rng.uniform(1.0, 3.5),
                     0.0)

    # T-junction facade across the street and a background skyline.
    if z_end < 200:
        b.pb.box((-150.0, 0.0, z_end), (150.0, curb, z_end + 4.0), L.SIDEWALK, Material.PAVING,
                 pave[1])
        x = -120.0
        while x < 120.0:
            w = rng.uniform(8.0, 25.0)
            z0 = z_end + rng.uniform(4.0, 6.0)
            b.block((x, 0.0, z0), (x + w, rng.uniform(7.0, 30.0), z0 + 15.0))
            x += w
    for _ in range(int(rng.integers(0, 6))):
        side = rng.choice([-1.0, 1.0])
        x0 = side * rng.uniform(35.0, 120.0)
        w, z0 = rng.uniform(15.0, 40.0), rng.uniform(80.0, 260.0)
        b.block((x0 - w / 2, 0.0, z0), (x0 + w / 2, rng.uniform(20.0, 70.0), z0 + w))

    prims = _drop_containing(b.pb.build(), camera.origin)
    street = Street(road_x=(float(x_left), float(x_right)), lane_width=float(lane_w),
                    lanes=lanes, band=band, lot_labels=(lot_labels[0], lot_labels[1]),
                    lot_colours=(lot_colours[0], lot_colours[1]), road_colour=road_colour,
                    marking_colour=marking, dashed_centre=bool(rng.random() < 0.6))
    return Scene(camera=camera, prims=prims, street=street, style=sample_style(rng))


def _drop_containing(prims: Primitives, point: np.ndarray, margin: float = 0.3) -> Primitives:
    """Remove primitives whose bounds come within ``margin`` of the camera centre.

    The ray caster assumes the camera is outside every solid; the layout keeps
    objects away from it, and this is the guarantee.
    """
    box = prims.world_aabb()
    inside = np.all((box[:, 0] - margin <= point) & (point <= box[:, 1] + margin), axis=1)
    inside[0] = False  # the ground plane
    keep = ~inside
    return Primitives(**{f: getattr(prims, f)[keep] for f in (
        'kind', 'center', 'half', 'yaw', 'label', 'material', 'colour', 'aux')})


def ground_labels(street: Street, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Label id of ground-plane hits at world ``(x, z)``: road, or the side's lot."""
    road = (x >= street.road_x[0]) & (x <= street.road_x[1])
    if street.band is not None:
        road |= (z >= street.band[0]) & (z <= street.band[1])
    lot = np.where(x < 0, street.lot_labels[0], street.lot_labels[1])
    return np.where(road, L.ROAD, lot).astype(np.uint8)
