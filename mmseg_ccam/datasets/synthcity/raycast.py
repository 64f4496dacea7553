"""Exact, vectorised ray casting of SynthCity primitives (nearest hit wins).

All rays start at the camera centre, so each primitive is intersected only with
the rays of its screen-space bounding rectangle (the projection of its world
box clipped to the near plane: exact and conservative), and a depth buffer keeps
the nearest hit. Ray directions have camera-z 1, so ``t`` is metric depth.
Which face was hit is not tracked here: shading recovers it from the hit point.
"""
from dataclasses import dataclass

import numpy as np

from .camera import PinholeCamera
from .primitives import BOX, CYLINDER, ELLIPSOID, Primitives

#: Hits nearer than this (m, camera-z) are ignored; also the culling near plane.
NEAR = 0.05
#: Ground hits beyond this depth (m) count as sky (the horizon).
GROUND_FAR = 2000.0

_EDGES = np.array([(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7),
                   (0, 4), (1, 5), (2, 6), (3, 7)])


@dataclass
class RayBundle:
    """Per-pixel ray directions of one camera, stored separably.

    Without roll or yaw, the x component of a ray depends only on its column
    and the y, z components only on its row, so the bundle keeps a 1 x W row
    and H x 1 columns that broadcast to H x W: each axis of a slab test then
    costs O(W) or O(H) instead of O(H W).

    Args:
        dx (np.ndarray): float32 (1, W) world x component (camera-z is 1).
        dy, dz (np.ndarray): float32 (H, 1) world y and z components.
        ix, iy, iz (np.ndarray): their reciprocals (tiny components clamped).
    """

    dx: np.ndarray
    dy: np.ndarray
    dz: np.ndarray
    ix: np.ndarray
    iy: np.ndarray
    iz: np.ndarray

    @classmethod
    def from_camera(cls, camera: PinholeCamera) -> 'RayBundle':
        u = (np.arange(camera.width, dtype=np.float64) - camera.u0) / camera.fx
        v = (np.arange(camera.height, dtype=np.float64) - camera.v0) / camera.fy
        c, s = np.cos(camera.pitch), np.sin(camera.pitch)
        comps = [u[None, :], (-c * v - s)[:, None], (-s * v + c)[:, None]]
        invs = [1.0 / np.where(np.abs(x) < 1e-9, 1e-9, x) for x in comps]
        return cls(*(x.astype(np.float32) for x in comps + invs))

    @property
    def shape(self) -> tuple:
        return (self.dy.shape[0], self.dx.shape[1])

    def full(self) -> tuple:
        """The three direction components as flat length-H*W float32 arrays."""
        shape = self.shape
        return tuple(np.broadcast_to(d, shape).ravel() for d in (self.dx, self.dy, self.dz))


@dataclass
class HitBuffers:
    """Result of ray casting one frame.

    Args:
        depth (np.ndarray): float32 H x W camera-z of the nearest hit (m); inf
            where nothing is hit (sky).
        index (np.ndarray): int32 H x W primitive index of the hit, -1 for sky.
    """

    depth: np.ndarray
    index: np.ndarray


def screen_rects(prims: Primitives, camera: PinholeCamera) -> np.ndarray:
    """Pixel rectangle ``[r0, r1, c0, c1)`` that bounds each primitive's image.

    The world AABB's 12 edges are clipped to the plane ``z_cam = NEAR``; the
    projections of the surviving end points bound the projection of the box.

    Returns:
        tuple: ``rects`` (K, 4) int64, empty (r0 >= r1 or c0 >= c1) for
        primitives behind the camera or outside the image; ``zmin`` (K,) the
        smallest camera-z of each world box (a lower bound of its hit depths).
    """
    box = prims.world_aabb()                                   # K x 2 x 3
    bits = np.array([[(i >> 2) & 1, (i >> 1) & 1, i & 1] for i in range(8)])
    corners = np.where(bits[None].astype(bool), box[:, 1:2, :], box[:, 0:1, :])  # K x 8 x 3
    cam = camera.world_to_camera(corners)
    p, q = cam[:, _EDGES[:, 0]], cam[:, _EDGES[:, 1]]          # K x 12 x 3
    zp, zq = p[..., 2:3], q[..., 2:3]
    with np.errstate(divide='ignore', invalid='ignore'):
        frac = (NEAR - zp) / (zq - zp)
        p_clip = np.where(zp < NEAR, p + (q - p) * frac, p)
        q_clip = np.where(zq < NEAR, q + (p - q) * (NEAR - zq) / (zp - zq), q)
    keep = ~((zp < NEAR) & (zq < NEAR))[..., 0]                # K x 12
    pts = np.concatenate([p_clip, q_clip], axis=1)             # K x 24 x 3
    keep = np.concatenate([keep, keep], axis=1)
    z = np.maximum(pts[..., 2], NEAR)
    u = camera.fx * pts[..., 0] / z + camera.u0
    v = camera.fy * pts[..., 1] / z + camera.v0
    umin = np.where(keep, u, np.inf).min(1)
    umax = np.where(keep, u, -np.inf).max(1)
    vmin = np.where(keep, v, np.inf).min(1)
    vmax = np.where(keep, v, -np.inf).max(1)
    any_kept = keep.any(1)
    big = 1e7  # keeps the float -> int conversion finite

    def _lo(x, n):
        return np.clip(np.floor(np.clip(x, -big, big)) - 1, 0, n).astype(np.int64)

    def _hi(x, n):
        return np.clip(np.ceil(np.clip(x, -big, big)) + 2, 0, n).astype(np.int64)

    rects = np.stack([_lo(vmin, camera.height), _hi(vmax, camera.height),
                      _lo(umin, camera.width), _hi(umax, camera.width)], axis=1)
    rects[~any_kept] = 0
    return rects, cam[..., 2].min(axis=1)


def _box_hits(o, half, yaw, dx, dy, dz, ix, iy, iz):
    """Slab test for one (yawed) box; ``o`` = camera centre minus box centre.

    Direction arrays may be separable (1 x w and h x 1); the result is h x w.

    Returns:
        np.ndarray: entry depth per ray, inf where the ray misses.
    """
    if yaw != 0.0:
        c, s = np.float32(np.cos(yaw)), np.float32(np.sin(yaw))
        dx, dz = c * dx - s * dz, s * dx + c * dz
        ix = 1.0 / np.where(np.abs(dx) < 1e-9, np.float32(1e-9), dx)
        iz = 1.0 / np.where(np.abs(dz) < 1e-9, np.float32(1e-9), dz)
        cy, sy = np.cos(yaw), np.sin(yaw)
        o = np.array([cy * o[0] - sy * o[2], o[1], sy * o[0] + cy * o[2]])
    nears, fars = [], []
    for axis, d_inv in enumerate((ix, iy, iz)):
        t1 = np.float32(-half[axis] - o[axis]) * d_inv
        t2 = np.float32(half[axis] - o[axis]) * d_inv
        nears.append(np.minimum(t1, t2))
        fars.append(np.maximum(t1, t2))
    tn = np.maximum(np.maximum(nears[0], nears[1]), nears[2])
    tf = np.minimum(np.minimum(fars[0], fars[1]), fars[2])
    tn[(tn > tf) | (tn <= NEAR)] = np.inf
    return tn


def raycast(prims: Primitives, camera: PinholeCamera, rays: RayBundle) -> HitBuffers:
    """Intersect every pixel ray with the scene and keep the nearest hit.

    Args:
        prims (Primitives): scene; index 0 must be the ground plane.
        camera (PinholeCamera): camera of the frame (``rays`` come from it).
        rays (RayBundle): per-pixel directions of ``camera``.

    Returns:
        HitBuffers: nearest-hit depth and primitive index per pixel.
    """
    h, w = rays.shape
    depth = np.full((h, w), np.inf, dtype=np.float32)
    index = np.full((h, w), -1, dtype=np.int32)
    origin = camera.origin

    # Ground plane Y = 0 (the camera is above it): its depth depends on the row only.
    with np.errstate(divide='ignore'):
        tg = np.float32(-origin[1]) * rays.iy[:, 0]
    ground = (rays.dy[:, 0] < 0) & (tg < GROUND_FAR)
    depth[ground] = tg[ground, None]
    index[ground] = 0

    rects, zmin = screen_rects(prims, camera)
    # Front to back, so that a primitive hidden behind nearer ones is skipped
    # (occlusion culling: it cannot win a pixel if all of its rectangle is
    # already nearer than its nearest point).
    for k in np.argsort(zmin[1:], kind='stable') + 1:
        r0, r1, c0, c1 = rects[k]
        if r0 >= r1 or c0 >= c1:
            continue
        sl = (slice(r0, r1), slice(c0, c1))
        if depth[sl].max() <= zmin[k]:
            continue
        dx, dy, dz = rays.dx[:, c0:c1], rays.dy[r0:r1], rays.dz[r0:r1]
        o = origin - prims.center[k]
        half = prims.half[k]
        kind = prims.kind[k]
        if kind == BOX:
            t = _box_hits(o, half, float(prims.yaw[k]), dx, dy, dz, rays.ix[:, c0:c1],
                          rays.iy[r0:r1], rays.iz[r0:r1])
        elif kind == CYLINDER:
            r, hh = half[0], half[1]
            a = dx * dx + dz * dz
            b = np.float32(o[0]) * dx + np.float32(o[2]) * dz
            cc = np.float32(o[0] * o[0] + o[2] * o[2] - r * r)
            disc = b * b - a * cc
            with np.errstate(invalid='ignore'):
                ts = (-b - np.sqrt(disc)) / a
            ys = np.float32(o[1]) + ts * dy
            side = (disc >= 0) & (ys >= -hh) & (ys <= hh) & (ts > NEAR)
            t = np.where(side, ts, np.float32(np.inf))
            if o[1] > hh:  # camera above the top cap: the cap can be the entry
                with np.errstate(divide='ignore', invalid='ignore'):
                    tc = np.float32(hh - o[1]) / dy
                xc = np.float32(o[0]) + tc * dx
                zc = np.float32(o[2]) + tc * dz
                top = ~side & (dy < 0) & (xc * xc + zc * zc <= r * r) & (tc > NEAR)
                t = np.where(top, tc, t)
        elif kind == ELLIPSOID:
            inv_r = 1.0 / half
            ox, oy, oz = (np.float32(v) for v in o * inv_r)
            sx, sy, sz = (np.float32(v) for v in inv_r)
            dx, dy, dz = dx * sx, dy * sy, dz * sz
            a = dx * dx + dy * dy + dz * dz
            b = ox * dx + oy * dy + oz * dz
            cc = ox * ox + oy * oy + oz * oz - np.float32(1.0)
            disc = b * b - a * cc
            with np.errstate(invalid='ignore'):
                te = (-b - np.sqrt(disc)) / a
            t = np.where((disc >= 0) & (te > NEAR), te, np.float32(np.inf))
        else:
            raise ValueError(f'primitive {k} has unknown kind {kind}')
        m = t < depth[sl]
        depth[sl][m] = t[m]
        index[sl][m] = k
    return HitBuffers(depth=depth, index=index)
