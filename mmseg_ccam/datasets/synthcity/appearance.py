"""Appearance modes of SynthCity: variety beyond the classic look, and a colour-shifted look.

A frame's geometry (layout, camera, labels, depth) comes from its frame generator; the
appearance changes here come from a second, independent generator of the same frame
(:func:`appearance_rng`), applied after the layout is drawn. So every mode renders exactly the
same labels and depth for a frame, and ``'classic'`` (no changes, no extra draws) renders the
same bytes as before these modes existed.

Modes:

- ``'classic'``: the layout's own colours and lighting.
- ``'varied'``: per-instance colour gains and surface detail (each object its own tint and
  texture pattern), time of day (sun elevation 3-70 deg with a warm low sun and a bluish
  ambient), optional dense haze. A small labeled subset no longer covers the appearances.
- ``'shifted'``: ``'varied'`` plus another palette (per-class hue rotation around a frame-wide
  angle of 120-240 deg, stronger saturation) and other lighting (sodium-dusk or blue-hour sun
  colour, shifted white balance, hue-rotated sky). Geometry statistics are those of the
  other modes; colour statistics are not.
"""
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from .layout import Scene

APPEARANCES = ('classic', 'varied', 'shifted')
#: Entry appended to the frame's seed words for the appearance stream.
_APPEARANCE_STREAM = 1


@dataclass
class Appearance:
    """Per-frame appearance changes applied by :func:`~.shading.shade`.

    Args:
        prim_gain (np.ndarray): (K, 3) float32 RGB albedo gain per primitive (index 0 is
            the ground plane).
        detail_contrast (np.ndarray): (K,) float32 amplitude of a per-instance surface
            pattern (0 = none).
        detail_scale (np.ndarray): (K,) float32 frequency of that pattern (tile pixels per
            metre).
        sun_colour (np.ndarray): (3,) float32 RGB colour of direct sunlight.
        ambient_colour (np.ndarray): (3,) float32 RGB colour of sky light.
        class_hue (np.ndarray, optional): (256,) float32 hue rotation (rad) per label id.
        saturation (float): saturation factor applied with the hue rotation.
    """

    prim_gain: np.ndarray
    detail_contrast: np.ndarray
    detail_scale: np.ndarray
    sun_colour: np.ndarray
    ambient_colour: np.ndarray
    class_hue: Optional[np.ndarray] = None
    saturation: float = 1.0


def appearance_rng(seed: int, split_code: int, index: int) -> np.random.Generator:
    """Appearance generator of one frame: independent of its geometry generator."""
    return np.random.default_rng(np.random.SeedSequence(
        [int(seed), int(split_code), int(index), _APPEARANCE_STREAM]))


def hue_rotation(theta: float) -> np.ndarray:
    """3 x 3 RGB matrix rotating hue by ``theta`` (rad) about the grey axis (greys fixed)."""
    c, s = np.cos(theta), np.sin(theta)
    k = 1.0 / 3.0
    r = np.sqrt(k)
    return np.array([
        [c + (1 - c) * k, k * (1 - c) - r * s, k * (1 - c) + r * s],
        [k * (1 - c) + r * s, c + (1 - c) * k, k * (1 - c) - r * s],
        [k * (1 - c) - r * s, k * (1 - c) + r * s, c + (1 - c) * k],
    ], dtype=np.float32)


def _sun_direction(elev: float, azim: float) -> np.ndarray:
    return np.array([np.cos(elev) * np.sin(azim), np.sin(elev), np.cos(elev) * np.cos(azim)])


def draw_appearance(rng: np.random.Generator, scene: Scene, mode: str) -> tuple:
    """Draw the appearance of a frame; returns ``(scene, appearance)``.

    Args:
        rng (np.random.Generator): the frame's appearance generator (:func:`appearance_rng`).
        scene (Scene): the drawn scene (not modified).
        mode (str): one of :data:`APPEARANCES`.

    Returns:
        tuple: the scene with its style replaced (same geometry) and the
        :class:`Appearance` for :func:`~.shading.shade`; ``(scene, None)`` for 'classic'.
    """
    if mode not in APPEARANCES:
        raise ValueError(f'appearance must be one of {APPEARANCES}, got {mode!r}')
    if mode == 'classic':
        return scene, None
    k = len(scene.prims)
    st = scene.style
    # Per-instance tint (log-normal per channel around a log-normal brightness) and detail.
    gain = np.exp(rng.normal(0.0, 0.12, (k, 3)) + rng.normal(0.0, 0.15, (k, 1)))
    contrast = rng.uniform(0.0, 0.5, k)
    scale = np.exp(rng.uniform(np.log(1.0), np.log(12.0), k))
    # Time of day: the sun's elevation sets its colour and strength (warm and weak when low).
    elev = np.radians(rng.uniform(3.0, 70.0))
    azim = rng.uniform(0.0, 2 * np.pi)
    warm = float(np.clip(np.sin(elev) / np.sin(np.radians(40.0)), 0.0, 1.0))
    overcast = st.clouds == 0.0 and st.sun_strength < 0.3   # the layout's overcast draw
    sun_colour = np.array([1.0, 0.72 + 0.28 * warm, 0.45 + 0.55 * warm])
    ambient_colour = np.array([0.85 + 0.15 * warm, 0.9 + 0.1 * warm, 1.0])
    sun_strength = st.sun_strength * (0.5 + 0.5 * warm) if not overcast else st.sun_strength
    horizon = st.horizon.copy()
    if not overcast:
        horizon = horizon * (0.4 + 0.6 * warm) + np.array([1.0, 0.62, 0.38]) * 0.6 * (1 - warm)
    haze = rng.random() < 0.25
    fog = rng.uniform(35.0, 120.0) if haze else rng.uniform(120.0, 600.0)
    exposure = st.exposure * rng.uniform(0.85, 1.15)
    white_balance = st.white_balance
    zenith = st.zenith
    class_hue, saturation = None, 1.0
    if mode == 'shifted':
        base = rng.uniform(2 * np.pi / 3, 4 * np.pi / 3)
        class_hue = (base + rng.normal(0.0, 0.3, 256)).astype(np.float32)
        saturation = float(rng.uniform(1.3, 1.7))
        if rng.random() < 0.5:    # sodium dusk
            sun_colour = np.array([1.0, 0.55, 0.28]) * rng.uniform(0.9, 1.1, 3)
            ambient_colour = np.array([0.75, 0.7, 1.0])
        else:                     # blue hour
            sun_colour = np.array([0.55, 0.7, 1.0]) * rng.uniform(0.9, 1.1, 3)
            ambient_colour = np.array([0.7, 0.8, 1.0])
        white_balance = white_balance * np.exp(rng.normal(0.0, 0.12, 3))
        rot = hue_rotation(base).astype(np.float64)
        zenith, horizon = rot @ zenith, rot @ horizon
    style = replace(
        st, sun=_sun_direction(elev, azim), sun_strength=float(sun_strength),
        horizon=np.clip(horizon, 0, 1), zenith=np.clip(zenith, 0, 1), fog_distance=float(fog),
        exposure=float(exposure), white_balance=white_balance)
    appearance = Appearance(
        prim_gain=gain.astype(np.float32), detail_contrast=contrast.astype(np.float32),
        detail_scale=scale.astype(np.float32), sun_colour=sun_colour.astype(np.float32),
        ambient_colour=ambient_colour.astype(np.float32), class_hue=class_hue,
        saturation=saturation)
    return replace(scene, style=style), appearance
