"""Depth maps to colour images with a fixed scale, so colours compare across images."""
from typing import Sequence, Union

import cv2
import numpy as np
import torch

# OpenCV's perceptual colormaps: no matplotlib import on the drawing path.
COLORMAPS = {
    'magma': cv2.COLORMAP_MAGMA,
    'inferno': cv2.COLORMAP_INFERNO,
    'plasma': cv2.COLORMAP_PLASMA,
    'viridis': cv2.COLORMAP_VIRIDIS,
    'turbo': cv2.COLORMAP_TURBO,
    'jet': cv2.COLORMAP_JET,
}
DEPTH_MODES = ('log', 'inverse', 'linear')

ArrayLike = Union[np.ndarray, torch.Tensor]


def _check_range(min_depth: float, max_depth: float) -> None:
    if not 0 < min_depth < max_depth:
        raise ValueError(f'Depth colouring needs 0 < min_depth < max_depth, got '
                         f'min_depth={min_depth}, max_depth={max_depth}.')


def colormap_lut(cmap: str = 'magma') -> np.ndarray:
    """The 256 RGB colours of an OpenCV colormap.

    Args:
        cmap (str): One of :data:`COLORMAPS`.

    Returns:
        np.ndarray: (256, 3) uint8 RGB; row ``i`` is the colour of grey level ``i``.
    """
    if cmap not in COLORMAPS:
        raise ValueError(f'Unknown depth colormap {cmap!r}; choose one of {sorted(COLORMAPS)}.')
    grey = np.arange(256, dtype=np.uint8)[:, None]
    bgr = cv2.applyColorMap(grey, COLORMAPS[cmap])[:, 0]
    return np.ascontiguousarray(bgr[:, ::-1])


def depth_to_unit(depth: np.ndarray, min_depth: float, max_depth: float,
                  mode: str = 'log') -> np.ndarray:
    """Map depth to ``[0, 1]`` on a fixed scale: 1 at ``min_depth`` (near), 0 at ``max_depth``.

    Depth outside the range is clipped to it. ``log`` spreads the colours evenly over orders of
    magnitude (street scenes span 1-80 m); ``inverse`` follows disparity, so near objects get
    most of the colour range; ``linear`` is plain metres.

    Args:
        depth (np.ndarray): Depth in metres, any shape; must be > 0 where it is used.
        min_depth (float): Depth drawn with the brightest colour.
        max_depth (float): Depth drawn with the darkest colour.
        mode (str): 'log', 'inverse' or 'linear'.

    Returns:
        np.ndarray: float64 values in [0, 1], same shape as ``depth``.
    """
    _check_range(min_depth, max_depth)
    z = np.clip(np.asarray(depth, dtype=np.float64), min_depth, max_depth)
    if mode == 'log':
        return (np.log(max_depth) - np.log(z)) / (np.log(max_depth) - np.log(min_depth))
    if mode == 'inverse':
        return (1.0 / z - 1.0 / max_depth) / (1.0 / min_depth - 1.0 / max_depth)
    if mode == 'linear':
        return (max_depth - z) / (max_depth - min_depth)
    raise ValueError(f'Unknown depth colouring mode {mode!r}; choose one of {DEPTH_MODES}.')


def colorize_depth(depth: ArrayLike,
                   min_depth: float = 1.0,
                   max_depth: float = 80.0,
                   invalid_color: Sequence[int] = (0, 0, 0),
                   cmap: str = 'magma',
                   mode: str = 'log') -> np.ndarray:
    """Colour a metric depth map with a fixed range and colormap.

    The same depth always gets the same colour, whatever else is in the image, so panels from
    different images (prediction and ground truth, two models) can be compared by eye. Near is
    bright, far is dark (for the default magma map).

    Args:
        depth (np.ndarray | Tensor): Depth in metres, (H, W) or (1, H, W). Pixels that are
            <= 0 or not finite are invalid (the ground-truth convention: 0 = no depth).
        min_depth (float): Depth of the brightest colour; nearer depth is clipped to it.
            Defaults to 1.0.
        max_depth (float): Depth of the darkest colour; farther depth is clipped to it.
            Defaults to 80.0.
        invalid_color (sequence[int]): RGB colour of invalid pixels. Defaults to black.
        cmap (str): OpenCV colormap name, see :data:`COLORMAPS`. Defaults to 'magma'.
        mode (str): 'log' (default), 'inverse' or 'linear'; see :func:`depth_to_unit`.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB image.
    """
    if isinstance(depth, torch.Tensor):
        depth = depth.detach().cpu().float().numpy()
    depth = np.asarray(depth)
    if depth.ndim == 3 and depth.shape[0] == 1:
        depth = depth[0]
    if depth.ndim != 2:
        raise ValueError(f'colorize_depth expects an (H, W) or (1, H, W) depth map, got shape '
                         f'{depth.shape}.')
    lut = colormap_lut(cmap)
    valid = np.isfinite(depth) & (depth > 0)
    unit = depth_to_unit(np.where(valid, depth, max_depth), min_depth, max_depth, mode)
    index = np.rint(unit * 255).astype(np.int64)
    out = lut[index]
    out[~valid] = np.asarray(invalid_color, dtype=np.uint8)
    return out
