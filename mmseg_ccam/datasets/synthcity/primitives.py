"""Analytic scene primitives of SynthCity, stored as a struct of arrays.

Index 0 of every :class:`Primitives` is the ground plane ``Y = 0``; the others are
boxes (with a yaw about the vertical axis), vertical cylinders and axis-aligned
ellipsoids. Each carries a Cityscapes label id, a material (texture program of
:mod:`.shading`), a base colour and four material parameters.
"""
from dataclasses import dataclass
from enum import IntEnum
from typing import List, Sequence

import numpy as np

PLANE, BOX, CYLINDER, ELLIPSOID = 0, 1, 2, 3


class Material(IntEnum):
    """Materials: the texture programs of ``shading.py`` (stored as ints in the primitives)."""
    GROUND = 0      # ground plane: per-pixel zone decides road / paving / grass
    PAVING = 1
    GRASS = 2
    FACADE = 3      # aux: floor height, window spacing, window width frac, window colour
    PLAIN = 4       # aux[0]: noise strength
    FOLIAGE = 5
    CAR = 6         # aux[0]: 1 = bus/truck window band
    GLASS = 7
    SIGN = 8        # aux[0]: shape (0 square, 1 round), aux[1:4]: border colour
    LIGHT = 9
    FENCE = 10      # aux[0]: slat period
    CLOTH = 11
    WHEEL = 12


NUM_MATERIALS = len(Material)


@dataclass
class Primitives:
    """All primitives of one scene (struct of arrays, K = number of primitives).

    Args:
        kind (np.ndarray): (K,) int, one of PLANE, BOX, CYLINDER, ELLIPSOID.
        center (np.ndarray): (K, 3) float, box / ellipsoid centre; for a cylinder
            the centre of its axis segment.
        half (np.ndarray): (K, 3) float, box half extents (local axes); cylinder
            ``(r, half_height, r)``; ellipsoid radii.
        yaw (np.ndarray): (K,) float, box rotation about +Y (rad); local ->
            world is ``x_w = cos*x_l + sin*z_l, z_w = -sin*x_l + cos*z_l``.
        label (np.ndarray): (K,) uint8 Cityscapes label id.
        material (np.ndarray): (K,) int material id.
        colour (np.ndarray): (K, 3) float RGB albedo in [0, 1].
        aux (np.ndarray): (K, 4) float material parameters.
    """

    kind: np.ndarray
    center: np.ndarray
    half: np.ndarray
    yaw: np.ndarray
    label: np.ndarray
    material: np.ndarray
    colour: np.ndarray
    aux: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)

    def world_aabb(self) -> np.ndarray:
        """Axis-aligned world bounds of every primitive: (K, 2, 3) [min, max]."""
        c, s = np.abs(np.cos(self.yaw)), np.abs(np.sin(self.yaw))
        ext = self.half.copy()
        ext[:, 0] = c * self.half[:, 0] + s * self.half[:, 2]
        ext[:, 2] = s * self.half[:, 0] + c * self.half[:, 2]
        return np.stack([self.center - ext, self.center + ext], axis=1)


class PrimitiveBuilder:
    """Collects primitives one by one, then packs them into :class:`Primitives`.

    The ground plane is added first, so it always has index 0.
    """

    def __init__(self) -> None:
        self._rows: List[tuple] = []
        self._add(PLANE, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 0.0, 0, Material.GROUND,
                  (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0))

    def _add(self, kind, center, half, yaw, label, material, colour, aux) -> int:
        aux = tuple(aux) + (0.0,) * (4 - len(aux))
        self._rows.append((kind, tuple(center), tuple(half), float(yaw), int(label),
                           int(material), tuple(colour), aux))
        return len(self._rows) - 1

    def box(self, lo: Sequence[float], hi: Sequence[float], label: int, material: int,
            colour: Sequence[float], aux: Sequence[float] = (), yaw: float = 0.0) -> int:
        """Add a box given its local-frame bounds ``lo``/``hi`` before rotation.

        With ``yaw != 0`` the box turns about its own vertical centre line.
        """
        center = tuple((a + b) / 2 for a, b in zip(lo, hi))
        half = tuple((b - a) / 2 for a, b in zip(lo, hi))
        return self._add(BOX, center, half, yaw, label, material, colour, aux)

    def cylinder(self, cx: float, cz: float, y0: float, y1: float, radius: float,
                 label: int, material: int, colour: Sequence[float],
                 aux: Sequence[float] = ()) -> int:
        """Add a vertical cylinder with axis ``(cx, ., cz)`` from ``y0`` to ``y1``."""
        return self._add(CYLINDER, (cx, (y0 + y1) / 2, cz), (radius, (y1 - y0) / 2, radius),
                         0.0, label, material, colour, aux)

    def ellipsoid(self, center: Sequence[float], radii: Sequence[float], label: int,
                  material: int, colour: Sequence[float], aux: Sequence[float] = ()) -> int:
        """Add an axis-aligned ellipsoid."""
        return self._add(ELLIPSOID, center, radii, 0.0, label, material, colour, aux)

    def build(self) -> Primitives:
        """Pack the collected rows into arrays."""
        cols = list(zip(*self._rows))
        return Primitives(
            kind=np.array(cols[0], dtype=np.int64),
            center=np.array(cols[1], dtype=np.float64),
            half=np.array(cols[2], dtype=np.float64),
            yaw=np.array(cols[3], dtype=np.float64),
            label=np.array(cols[4], dtype=np.uint8),
            material=np.array(cols[5], dtype=np.int64),
            colour=np.clip(np.array(cols[6], dtype=np.float64), 0.0, 1.0),
            aux=np.array(cols[7], dtype=np.float64),
        )
