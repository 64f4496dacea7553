"""Texturing and lighting of ray-cast SynthCity frames.

Per hit pixel: albedo = object colour x material texture (procedural patterns
in world / object coordinates: lane markings, paving joints, window grids,
wheels and lights, leaves, sign faces, ...), lit by a sun (Lambert) plus sky
light that depends on the normal's up component, darkened near the ground, then
hazed towards the horizon colour with distance. Sky pixels get a gradient with
clouds. A slight blur and sensor grain finish the frame. Textures and haze tie
appearance to geometry (scale, distance, orientation), which is what makes
class and depth learnable from the image alone.
"""
from typing import Callable, Dict

import numpy as np

from . import labels as L
from .appearance import hue_rotation
from .layout import Scene
from .primitives import CYLINDER, ELLIPSOID, PLANE, Material
from .raycast import HitBuffers, RayBundle

_TILE = 256
_MASK = _TILE - 1


def _periodic_noise(seed: int, sigma: float) -> np.ndarray:
    """Tileable smooth noise in [0, 1] (Gaussian-filtered white noise, via FFT)."""
    white = np.random.default_rng(seed).standard_normal((_TILE, _TILE))
    f = np.fft.fftfreq(_TILE)
    kernel = np.exp(-2 * (np.pi * sigma) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    smooth = np.real(np.fft.ifft2(np.fft.fft2(white) * kernel))
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return smooth.astype(np.float32)


# Fixed tiles (not drawn from the frame's generator): same for every frame. Stored
# flat, because a 1-D ``take`` is much faster than 2-D fancy indexing.
_FINE = _periodic_noise(1, 0.8).ravel()
_COARSE = _periodic_noise(2, 6.0).ravel()


def _tex(tile: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Nearest lookup of a flat periodic tile at (a, b) tile pixels (any real values)."""
    idx = (a.astype(np.int32) & _MASK) << 8
    idx |= b.astype(np.int32) & _MASK
    return tile.take(idx)


def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)


# Face codes recovered per pixel: boxes 0..5 = local normal +x, -x, +y, -y, +z, -z.
FACE_CYL_SIDE = 6
FACE_CYL_TOP = 7
FACE_ELLIPSOID = 8
FACE_GROUND = 9
FACE_SKY = 10
# Local normals per face code, per component (x, y, z): box faces 0..5, up for
# the ground (9) and the sky (10, unused); curved surfaces overwrite theirs.
_FACE_NORMALS = (np.array([1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0], np.float32),
                 np.array([0, 0, 1, -1, 0, 0, 0, 0, 0, 1, 1], np.float32),
                 np.array([0, 0, 0, 0, 1, -1, 0, 0, 0, 0, 0], np.float32))


class _Hits:
    """Flat per-pixel arrays (length H*W) shared by the texture programs.

    ``p*`` are world hit points, ``l*`` object-local coordinates, ``h*`` the
    primitive's half extents, ``n*`` world normals, ``face`` the face codes.
    Sky pixels carry placeholder values, and so do ``l*``/``h*`` on the ground.
    """

    def __init__(self, scene: Scene, hits: HitBuffers, rays: RayBundle) -> None:
        prims = scene.prims
        f32 = np.float32
        k = hits.index.ravel()
        self.prims = prims
        self._colour = prims.colour.astype(f32)
        self._aux = prims.aux.astype(f32)
        self.k = k
        self.sky = k < 0
        self.t = np.where(self.sky, f32(0), hits.depth.ravel())
        o = scene.camera.origin
        t2 = self.t.reshape(rays.shape)
        self.px = (f32(o[0]) + t2 * rays.dx).ravel()
        self.py = (f32(o[1]) + t2 * rays.dy).ravel()
        self.pz = (f32(o[2]) + t2 * rays.dz).ravel()
        kx = np.where(self.sky, len(prims), k)
        self.material = np.append(prims.material, -1).astype(np.int8).take(kx)
        self.label = np.append(prims.label, L.SKY).astype(np.uint8).take(kx)
        kind = np.append(prims.kind, -1).take(kx)

        # Object-local frame of every pixel (computed for all pixels at once: cheaper
        # than gathering and scattering the object pixels; ground and sky values
        # are replaced below). The ground gets unit half sizes to avoid 0 / 0.
        k0 = np.maximum(k, 0)
        centre = prims.center.T.astype(f32)
        half = prims.half.T.astype(f32)
        half[:, 0] = 1
        rx = self.px - centre[0].take(k0)
        ry = self.py - centre[1].take(k0)
        rz = self.pz - centre[2].take(k0)
        yawed = np.flatnonzero(prims.yaw)
        if len(yawed):
            c_tab, s_tab = np.ones(len(prims), f32), np.zeros(len(prims), f32)
            c_tab[yawed], s_tab[yawed] = np.cos(prims.yaw[yawed]), np.sin(prims.yaw[yawed])
            c, s = c_tab.take(k0), s_tab.take(k0)
            lx, lz = c * rx - s * rz, s * rx + c * rz
        else:
            c = s = None
            lx, lz = rx, rz
        hx, hy, hz = half[0].take(k0), half[1].take(k0), half[2].take(k0)
        self.lx, self.ly, self.lz = lx, ry, lz
        self.hx, self.hy, self.hz = hx, hy, hz

        # Boxes: the face is the axis where the hit is relatively farthest out.
        ax, ay, az = np.abs(lx) / hx, np.abs(ry) / hy, np.abs(lz) / hz
        face = np.where((ax >= ay) & (ax >= az), 2 * (lx < 0),
                        np.where(ay >= az, 2 + (ry < 0), 4 + (lz < 0))).astype(np.int8)
        face[kind == PLANE] = FACE_GROUND
        face[self.sky] = FACE_SKY
        nlx, nly, nlz = (tab.take(face) for tab in _FACE_NORMALS)
        # Vertical cylinders: side or top cap.
        cy = np.flatnonzero(kind == CYLINDER)
        if len(cy):
            cx_, cy_, cz_ = lx[cy], ry[cy], lz[cy]
            radial = np.sqrt(cx_ ** 2 + cz_ ** 2)
            top = (cy_ / hy[cy]) > radial / hx[cy]
            face[cy] = np.where(top, FACE_CYL_TOP, FACE_CYL_SIDE)
            inv = 1.0 / np.maximum(radial, f32(1e-6))
            nlx[cy] = np.where(top, 0, cx_ * inv)
            nly[cy] = np.where(top, 1, 0)
            nlz[cy] = np.where(top, 0, cz_ * inv)
        # Ellipsoids: gradient of the implicit function.
        el = np.flatnonzero(kind == ELLIPSOID)
        if len(el):
            face[el] = FACE_ELLIPSOID
            gx, gy, gz = lx[el] / hx[el] ** 2, ry[el] / hy[el] ** 2, lz[el] / hz[el] ** 2
            gn = 1.0 / np.sqrt(gx * gx + gy * gy + gz * gz)
            nlx[el], nly[el], nlz[el] = gx * gn, gy * gn, gz * gn
        self.face = face
        if c is None:
            self.nx, self.ny, self.nz = nlx, nly, nlz
        else:
            self.nx, self.ny, self.nz = c * nlx + s * nlz, nly, -s * nlx + c * nlz

    def colour(self, sel: np.ndarray) -> np.ndarray:
        """Base colours (n x 3 float32) of the primitives hit at ``sel``."""
        return self._colour.take(self.k.take(sel), axis=0)

    def aux(self, sel: np.ndarray) -> np.ndarray:
        """Material parameters (n x 4 float32) of the primitives hit at ``sel``."""
        return self._aux.take(self.k.take(sel), axis=0)

    def face_coords(self, sel: np.ndarray):
        """Coordinates (a, b) on the hit face in metres, from its corner.

        Vertical box faces: a along the face, b up from the bottom; other
        surfaces: a, b = local x, z (world x, z on the ground).
        """
        f = self.face.take(sel)
        lx, ly, lz = self.lx.take(sel), self.ly.take(sel), self.lz.take(sel)
        hx, hy, hz = self.hx.take(sel), self.hy.take(sel), self.hz.take(sel)
        along_z = f < 2
        vertical = along_z | (f == 4) | (f == 5)
        a = np.where(along_z, lz + hz, lx + hx)
        b = np.where(vertical, ly + hy, lz + hz)
        return a, b


# Texture programs: ``program(h, sel, scene, albedo)`` writes ``albedo[sel]`` for the
# pixels ``sel`` of one material. They work with a per-pixel brightness factor
# and overwrite only the few pixels of details (markings, windows, lights), so
# that few operations touch n x 3 arrays.


def _ground(h: _Hits, sel, scene: Scene, albedo):
    st = scene.street
    x, z = h.px.take(sel), h.pz.take(sel)
    lab = h.label.take(sel)
    road = lab == L.ROAD
    table = np.stack([st.road_colour, st.lot_colours[0], st.lot_colours[1]]).astype(np.float32)
    which = np.where(road, 0, np.where(x < 0, 1, 2))
    fine = _tex(_FINE, x * 60.0, z * 60.0)
    grass = lab == L.TERRAIN
    mod = 0.8 + 0.35 * _tex(_COARSE, x * 6.0, z * 6.0) + 0.25 * (fine - 0.5) * (1 + 2 * grass)
    # Repair patches on asphalt, joints on paved lots.
    mod[road & (_tex(_COARSE, x * 2.0 + 17.0, z * 1.0) > 0.72)] *= 0.8
    mod[(lab == L.SIDEWALK) & ((_frac(x * 2.0) < 0.06) | (_frac(z * 2.0) < 0.06))] *= 0.7
    col = table.take(which, axis=0)
    col *= mod[:, None]
    # Lane markings: lines sit at multiples of the lane width (the centre line at
    # 0, lane lines, lines along parking lanes); test the nearest one only.
    lw = np.float32(st.lane_width)
    w = st.lanes * lw
    q = np.round(x / lw)
    mark = road & (np.abs(x - q * lw) < 0.07) & (np.abs(q) <= st.lanes)
    cand = np.flatnonzero(mark)
    qc, zc = q[cand], z[cand]
    dashed = _frac(zc / 9.0) < 0.35
    keep = np.where(qc == 0, dashed if st.dashed_centre else True,
                    np.where(np.abs(qc) < st.lanes, dashed, False))
    keep |= (qc == -st.lanes) & (st.road_x[0] < -w - 1)    # solid line along parking lanes
    keep |= (qc == st.lanes) & (st.road_x[1] > w + 1)
    mark[cand] = keep
    if st.band is not None:
        mark &= ~((z > st.band[0]) & (z < st.band[1]))
        walk = (z > st.band[0] - 4.5) & (z < st.band[0] - 0.5) & (_frac(x) < 0.5)
        mark |= walk & road
    mark = np.flatnonzero(mark)
    col[mark] = st.marking_colour.astype(np.float32) * (0.75 + 0.3 * fine[mark])[:, None]
    albedo[sel] = col


def _paving(h: _Hits, sel, scene, albedo):
    a, b = h.face_coords(sel)
    top = h.face.take(sel) == 2
    mod = 0.85 + 0.3 * _tex(_COARSE, a * 5.0, b * 5.0) + 0.16 * (_tex(_FINE, a * 50.0, b * 50.0)
                                                              - 0.5)
    mod[top & ((_frac(a * 2.0) < 0.07) | (_frac(b * 2.0) < 0.07))] *= 0.72   # tile joints
    mod[~top] *= 0.8                                                         # curb stone
    albedo[sel] = h.colour(sel) * mod[:, None]


def _grass(h: _Hits, sel, scene, albedo):
    a, b = h.face_coords(sel)
    mod = (0.55 + 0.9 * _tex(_FINE, a * 40.0, b * 40.0)) * \
        (0.8 + 0.4 * _tex(_COARSE, a * 4.0, b * 4.0))
    albedo[sel] = h.colour(sel) * mod[:, None]


def _facade(h: _Hits, sel, scene, albedo):
    a, b = h.face_coords(sel)
    aux = h.aux(sel)
    f = h.face.take(sel)
    floor_h, spacing, wfrac = aux[:, 0], aux[:, 1], aux[:, 2]
    vertical = f != 2
    width = 2 * np.where(f < 2, h.hz.take(sel), h.hx.take(sel))
    mod = 0.85 + 0.3 * _tex(_COARSE, a * 3.0, b * 3.0) + 0.16 * (_tex(_FINE, a * 30.0, b * 30.0)
                                                              - 0.5)
    mod[~vertical] *= 0.7  # roofs
    col = h.colour(sel)
    col *= mod[:, None]
    fa, fb = _frac(a / spacing), _frac(b / floor_h)
    inside = vertical & (a > 0.6) & (a < width - 0.6) & (b < 2 * h.hy.take(sel) - 1.0)
    upper = (b > floor_h) & (np.abs(fa - 0.5) < wfrac / 2) & (fb > 0.3) & (fb < 0.82)
    shop = (b <= floor_h) & (aux[:, 3] > 0.5) & (np.abs(fa - 0.5) < 0.42) & (fb > 0.12) & \
        (fb < 0.85)
    win = np.flatnonzero(inside & (upper | shop))
    # Each window gets its own brightness (lit / dark / reflecting).
    cell_a, cell_b = np.floor(a[win] / spacing[win]), np.floor(b[win] / floor_h[win])
    lit = _tex(_FINE, cell_a * 37.0 + cell_b * 11.0, cell_b * 53.0)[:, None]
    sky = scene.style.horizon.astype(np.float32)
    col[win] = (0.12 + 0.22 * lit + 0.25 * lit * sky) * (0.8 + 0.4 * aux[win, 3:4])
    albedo[sel] = col


def _plain(h: _Hits, sel, scene, albedo):
    a, b = h.face_coords(sel)
    strength = h.aux(sel)[:, 0]
    n = _tex(_FINE, a * 25.0 + h.py.take(sel) * 3.0, b * 25.0)
    mod = (1 + strength * (n - 0.5)) * (0.9 + 0.2 * _tex(_COARSE, a * 4.0, b * 4.0))
    albedo[sel] = h.colour(sel) * mod[:, None]


def _foliage(h: _Hits, sel, scene, albedo):
    u = (h.px.take(sel) + h.pz.take(sel)) * 14.0
    v = h.py.take(sel) * 14.0
    n = _tex(_FINE, u, v)
    col = h.colour(sel)
    col *= (0.35 + 1.2 * n)[:, None]
    # Patches of dry / yellow leaves.
    dry = _tex(_COARSE, u * 0.2, v * 0.2) > 0.55
    idx = np.flatnonzero(dry)
    mix = (_tex(_COARSE, u[idx] * 0.2, v[idx] * 0.2) - 0.55)[:, None]
    yellow = np.array([0.55, 0.55, 0.15], dtype=np.float32)
    col[idx] = col[idx] * (1 - mix) + yellow * mix * (0.5 + n[idx])[:, None]
    albedo[sel] = col


def _car(h: _Hits, sel, scene, albedo):
    f = h.face.take(sel)
    lx, ly, lz = h.lx.take(sel), h.ly.take(sel), h.lz.take(sel)
    hx, hy, hz = h.hx.take(sel), h.hy.take(sel), h.hz.take(sel)
    style = h.aux(sel)[:, 0]
    y_bottom, y_top = ly + hy, hy - ly
    mod = 0.95 + 0.1 * _tex(_FINE, lx * 20, lz * 20)
    mod[y_bottom < 0.12] *= 0.45                                # bumpers / skirt
    col = h.colour(sel)
    col *= mod[:, None]
    col[(f >= 4) & (y_bottom < 0.25) & (np.abs(lx) > hx - 0.35)] = 0.04   # tyres from behind
    sides = f < 2
    wz = np.maximum(hz - 0.8, 0.5)
    wheel_y = h.py.take(sel) - 0.32
    for sgn in (-1.0, 1.0):
        d2 = (lz - sgn * wz) ** 2 + wheel_y ** 2
        col[sides & (d2 < 0.31 ** 2)] = 0.04
        col[sides & (d2 < 0.17 ** 2)] = 0.35
    lamps = (np.abs(lx) > hx - 0.4) & (np.abs(lx) < hx - 0.08) & (y_top > 0.08) & \
        (y_top < 0.28) & (style != 1)
    col[lamps & (f == 5)] = (0.75, 0.05, 0.05)                 # tail lights (local rear)
    col[lamps & (f == 4)] = (0.95, 0.92, 0.8)                  # headlights
    band = (style == 1) & (y_top > 0.35) & (y_top < 1.3) & (f != 2) & (f != 3)
    cab = (style == 2) & (y_top > 0.2) & (y_top < 1.1) & ((f == 4) | (sides & (lz > hz - 1.0)))
    col[band | cab] = 0.12 + 0.2 * scene.style.horizon.astype(np.float32)
    albedo[sel] = col


def _glass(h: _Hits, sel, scene, albedo):
    f = h.face.take(sel)
    lx, lz = h.lx.take(sel), h.lz.take(sel)
    refl = scene.style.horizon.astype(np.float32) * 0.3
    col = h.colour(sel) + refl * (0.6 + 0.8 * _tex(_COARSE, lx * 8, lz * 8))[:, None]
    frame = (f < 2) & (np.abs(lz) > h.hz.take(sel) - 0.12)       # pillars
    frame |= (f >= 4) & (np.abs(lx) > h.hx.take(sel) - 0.1)
    frame |= f == 2                                             # roof
    frame = np.flatnonzero(frame)
    col[frame] = h.aux(sel[frame])[:, 0:3]                      # body colour
    albedo[sel] = col


def _sign(h: _Hits, sel, scene, albedo):
    f = h.face.take(sel)
    aux = h.aux(sel)
    col = np.full((len(sel), 3), 0.45, dtype=np.float32)       # metal back and edges
    rx, ry = h.lx.take(sel) / h.hx.take(sel), h.ly.take(sel) / h.hy.take(sel)
    rr = np.where(aux[:, 0] > 0.5, np.sqrt(rx ** 2 + ry ** 2), np.maximum(np.abs(rx), np.abs(ry)))
    face = (f == 5) & (rr < 0.95)
    col[face] = h.colour(sel)[face]
    border = face & (rr > 0.72)
    col[border] = aux[border, 1:4]
    symbol = face & (np.abs(rx) < 0.45) & (np.abs(ry) < 0.12)
    col[symbol] = aux[symbol, 1:4] * 0.9
    albedo[sel] = col


def _light(h: _Hits, sel, scene, albedo):
    f = h.face.take(sel)
    lx, ly = h.lx.take(sel), h.ly.take(sel)
    col = h.colour(sel)
    active = h.aux(sel)[:, 0]
    lamp_colours = np.array([[0.95, 0.1, 0.05], [0.95, 0.7, 0.05], [0.1, 0.9, 0.4]],
                            dtype=np.float32)
    for i, yc in enumerate((0.3, 0.0, -0.3)):
        m = (f == 5) & (lx ** 2 + (ly - yc) ** 2 < 0.1 ** 2)
        col[m] = lamp_colours[i] * np.where(active[m] == i, 1.0, 0.25)[:, None]
    albedo[sel] = col


def _fence(h: _Hits, sel, scene, albedo):
    a, b = h.face_coords(sel)
    aux = h.aux(sel)
    mod = 0.9 + 0.2 * _tex(_FINE, a * 30, b * 30)
    mod[(_frac(a / aux[:, 0]) > aux[:, 1]) & (b > 0.15) & (np.abs(b - 0.9) > 0.05)] *= 0.35
    albedo[sel] = h.colour(sel) * mod[:, None]


def _cloth(h: _Hits, sel, scene, albedo):
    n = _tex(_FINE, (h.px.take(sel) + h.pz.take(sel)) * 40.0, h.py.take(sel) * 40.0)
    albedo[sel] = h.colour(sel) * (0.85 + 0.3 * n)[:, None]


def _wheel(h: _Hits, sel, scene, albedo):
    r = np.sqrt((h.ly.take(sel) / h.hy.take(sel)) ** 2 + (h.lz.take(sel) / h.hz.take(sel)) ** 2)
    col = np.full((len(sel), 3), 0.05, dtype=np.float32)
    col[(r < 0.85) & (r > 0.15)] = 0.3
    albedo[sel] = col


_PROGRAMS: Dict[int, Callable] = {
    Material.GROUND: _ground, Material.PAVING: _paving, Material.GRASS: _grass,
    Material.FACADE: _facade, Material.PLAIN: _plain, Material.FOLIAGE: _foliage,
    Material.CAR: _car, Material.GLASS: _glass, Material.SIGN: _sign, Material.LIGHT: _light,
    Material.FENCE: _fence, Material.CLOTH: _cloth, Material.WHEEL: _wheel,
}


def sky_colour(scene: Scene, rays: RayBundle, pix: np.ndarray) -> np.ndarray:
    """Sky radiance (n x 3, float32) for flat pixel indices ``pix``."""
    st = scene.style
    dx, dy, dz = (d[pix] for d in rays.full())
    norm = np.sqrt(dx * dx + dy * dy + dz * dz)
    elev = dy / norm
    g = np.clip(elev * 2.5, 0, 1) ** 0.7
    hor, zen = st.horizon.astype(np.float32), st.zenith.astype(np.float32)
    col = hor + (zen - hor) * g[:, None]
    if st.clouds > 0:
        inv = 1.0 / np.maximum(dy, 0.02)
        c = _tex(_COARSE, dx * inv * 40.0, dz * inv * 8.0)
        cover = (np.clip((c - (1 - st.clouds)) * 3.0, 0, 1) * (elev > 0))[:, None]
        cloud = 0.92 * (0.8 + 0.3 * _tex(_FINE, dx * inv * 90.0, dz * inv * 20.0))[:, None]
        col = col * (1 - cover) + cloud * cover
    sun = np.clip((dx * st.sun[0] + dy * st.sun[1] + dz * st.sun[2]) / norm, 0, 1)
    col += (0.35 * st.sun_strength * sun ** 40)[:, None]
    return col


def _apply_appearance(h: _Hits, albedo: np.ndarray, app) -> None:
    """Per-instance gain and detail, then per-class hue rotation, on the albedo (in place)."""
    obj = np.flatnonzero(~h.sky)
    k = h.k.take(obj)
    col = albedo[obj] * app.prim_gain.take(k, axis=0)
    # A per-instance surface pattern: two crossed lookups approximate a 3-D noise field.
    f = app.detail_scale.take(k)
    px, py, pz = h.px.take(obj), h.py.take(obj), h.pz.take(obj)
    n = 0.5 * (_tex(_COARSE, px * f, py * f + 31.0) + _tex(_COARSE, pz * f, py * f + 77.0))
    col *= (1.0 + 2.0 * app.detail_contrast.take(k) * (n - 0.5))[:, None]
    if app.class_hue is not None:
        lab = h.label.take(obj)
        for c in np.unique(lab):
            sel = np.flatnonzero(lab == c)
            part = col[sel] @ hue_rotation(float(app.class_hue[c])).T
            grey = part.mean(axis=1, keepdims=True)
            col[sel] = grey + np.float32(app.saturation) * (part - grey)
    albedo[obj] = np.clip(col, 0.0, 1.0)


def shade(scene: Scene, hits: HitBuffers, rays: RayBundle,
          ground_label_fn: Callable, appearance=None) -> tuple:
    """Render the RGB image (before blur and grain) and label-id map of a frame.

    Args:
        scene (Scene): layout and style.
        hits (HitBuffers): ray-cast result.
        rays (RayBundle): per-pixel directions.
        ground_label_fn (callable): ``(street, x, z) -> label ids`` of ground hits.
        appearance (Appearance, optional): per-instance / per-class colour changes and
            sun / sky-light colours (:mod:`.appearance`); None renders the classic look.

    Returns:
        tuple: ``image`` (H x W x 3 float32 RGB, about [0, 1], white balance and
        exposure applied) and ``label_ids`` (H x W uint8; sky is SKY).
    """
    hgt, wid = hits.index.shape
    h = _Hits(scene, hits, rays)
    ground = np.flatnonzero(h.k == 0)
    h.label[ground] = ground_label_fn(scene.street, h.px[ground], h.pz[ground])

    albedo = np.zeros((h.k.size, 3), dtype=np.float32)  # sky rows stay 0 until replaced
    present = np.flatnonzero(np.bincount(h.material[~h.sky], minlength=len(_PROGRAMS)))
    for mat in present:
        _PROGRAMS[int(mat)](h, np.flatnonzero(h.material == mat), scene, albedo)
    if appearance is not None:
        _apply_appearance(h, albedo, appearance)

    st = scene.style
    f32 = np.float32
    sun = f32(st.sun_strength) * np.maximum(
        h.nx * f32(st.sun[0]) + h.ny * f32(st.sun[1]) + h.nz * f32(st.sun[2]), f32(0))
    amb = f32(st.ambient) * (f32(0.75) + f32(0.25) * h.ny)
    # Contact darkening: vertical surfaces near the ground get less sky light.
    ao = 1.0 - f32(0.35) * np.exp(-h.py / f32(0.35)) * (1 - np.abs(h.ny))
    haze = np.exp(-h.t / f32(st.fog_distance))
    # The camera gain (white balance x exposure) is folded in here; per channel on
    # 1-D factors, which avoids n x 3 temporaries.
    gain = (st.white_balance * st.exposure).astype(f32)
    fog = 1 - haze
    image = np.empty_like(albedo)
    if appearance is None:
        light = (sun + amb) * ao * haze
        for ch in range(3):
            np.multiply(albedo[:, ch], light * gain[ch], out=image[:, ch])
            image[:, ch] += fog * f32(st.horizon[ch] * gain[ch])
    else:   # coloured sun and sky light: one light factor per channel
        sun *= ao * haze
        amb *= ao * haze
        for ch in range(3):
            light = sun * appearance.sun_colour[ch] + amb * appearance.ambient_colour[ch]
            np.multiply(albedo[:, ch], light * gain[ch], out=image[:, ch])
            image[:, ch] += fog * f32(st.horizon[ch] * gain[ch])
    sky = np.flatnonzero(h.sky)
    image[sky] = sky_colour(scene, rays, sky) * gain
    return image.reshape(hgt, wid, 3), h.label.reshape(hgt, wid)
