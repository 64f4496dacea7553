"""Cityscapes disparity PNG encoding of metric depth.

Cityscapes stores disparity as uint16 ``p``: ``p = 0`` is invalid, otherwise
``d = (p - 1) / 256`` pixels and depth ``Z = baseline * fx / d``.
"""
import numpy as np


def depth_to_disparity_png(depth: np.ndarray, fx: float, baseline: float,
                           max_depth: float) -> np.ndarray:
    """Encode metric depth as a Cityscapes disparity map.

    ``p = round(256 * baseline * fx / Z) + 1``, clipped to 65535 (very near
    surfaces). ``p = 0`` (invalid) where ``Z <= 0`` or not finite (sky, masked
    pixels), where ``Z > max_depth`` ("beyond range"), and where the rounded
    disparity would be 0 (it would decode to infinite depth).

    Args:
        depth (np.ndarray): H x W metric depth (m); 0 or inf = no depth.
        fx (float): focal length (pixels of this image).
        baseline (float): stereo baseline (m).
        max_depth (float): farthest depth kept valid (m).

    Returns:
        np.ndarray: H x W uint16 disparity PNG values.
    """
    depth = np.asarray(depth)
    # NaN and inf fail the comparisons, so they are invalid as well.
    valid = (depth > 0) & (depth <= max_depth)
    q = np.zeros(depth.shape, dtype=np.float64)
    np.divide(256.0 * baseline * fx, depth, out=q, where=valid)
    np.rint(q, out=q)
    q[q < 1] = -1          # invalid, or a disparity that rounds to 0 (infinite depth)
    np.minimum(q, 65534, out=q)
    return (q + 1).astype(np.uint16)


def disparity_png_to_depth(p: np.ndarray, fx: float, baseline: float) -> np.ndarray:
    """Decode a Cityscapes disparity map to metric depth (float32, 0 = invalid)."""
    p = np.asarray(p)
    disp = (p.astype(np.float64) - 1.0) / 256.0
    valid = p > 1
    depth = np.zeros(p.shape, dtype=np.float64)
    depth[valid] = baseline * fx / disp[valid]
    return depth.astype(np.float32)
