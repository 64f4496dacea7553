"""Pinhole camera of a frame: Cityscapes camera JSON, scaling to another image size, and the
Cityscapes disparity encoding of a metric depth map."""
import json
import os.path as osp
from dataclasses import dataclass, replace
from typing import Optional, Tuple

import numpy as np

# Cityscapes disparity PNGs store p = 256 * d + 1 (d in pixels), p = 0 where there is none.
DISPARITY_SCALE = 256.0
MAX_PNG_VALUE = 65535


@dataclass(frozen=True)
class CameraParams:
    """Stereo pinhole camera for one image size.

    Pixel ``(u, v)`` is column ``u``, row ``v``, with integer coordinates at pixel centres
    (Cityscapes' convention).

    Args:
        fx (float): Focal length along u, pixels.
        fy (float): Focal length along v, pixels.
        u0 (float): Principal point column, pixels.
        v0 (float): Principal point row, pixels.
        baseline (float): Stereo baseline, metres (only used for disparity).
        width (int, optional): Width of the image these values belong to.
        height (int, optional): Height of the image these values belong to.
    """
    fx: float
    fy: float
    u0: float
    v0: float
    baseline: float
    width: Optional[int] = None
    height: Optional[int] = None

    def scaled_to(self, width: int, height: int) -> 'CameraParams':
        """The same camera for the image resized to ``width x height``.

        Resizing maps pixel centres as ``u' = (u + 0.5) * s - 0.5`` (bilinear resizing with
        ``align_corners=False``, as cv2 and the segmentor do), so the principal point moves that
        way and focal lengths scale by ``s``; ``sx = width / self.width`` and
        ``sy = height / self.height``. The baseline is a length in metres and does not change.

        Raises:
            ValueError: if the camera's own image size is unknown.
        """
        if self.width is None or self.height is None:
            raise ValueError('CameraParams.scaled_to needs the image size the camera belongs to '
                             '(width/height); pass it when loading the camera.')
        sx = width / self.width
        sy = height / self.height
        return replace(self, fx=self.fx * sx, fy=self.fy * sy,
                       u0=(self.u0 + 0.5) * sx - 0.5, v0=(self.v0 + 0.5) * sy - 0.5,
                       width=int(width), height=int(height))

    def scaled_to_width(self, width: int) -> 'CameraParams':
        """Scale by ``width / self.width`` along both axes (keeps the camera's aspect ratio;
        the height becomes ``round(self.height * s)``)."""
        if self.width is None or self.height is None:
            raise ValueError('CameraParams.scaled_to_width needs the image size the camera '
                             'belongs to (width/height).')
        height = self.height * width / self.width
        scaled = self.scaled_to(width, height)
        return replace(scaled, height=int(round(height)))


# Calibration of the Cityscapes camera (e.g. camera/train/aachen/*_camera.json), 2048 x 1024.
CITYSCAPES_CAMERA = CameraParams(fx=2262.52, fy=2265.3017905988554, u0=1096.98, v0=513.137,
                                 baseline=0.209313, width=2048, height=1024)


def parse_camera(camera: dict, source: str = 'camera',
                 image_size: Optional[Tuple[int, int]] = None) -> CameraParams:
    """Read a Cityscapes camera dict (``extrinsic.baseline``, ``intrinsic.fx/fy/u0/v0``).

    Args:
        camera (dict): Parsed JSON content.
        source (str): Name of the file, for error messages.
        image_size (tuple[int, int], optional): ``(width, height)`` of the image the
            calibration belongs to.

    Returns:
        CameraParams: The camera.
    """
    values = {}
    for group, key in (('extrinsic', 'baseline'), ('intrinsic', 'fx'), ('intrinsic', 'fy'),
                       ('intrinsic', 'u0'), ('intrinsic', 'v0')):
        section = camera.get(group) if isinstance(camera, dict) else None
        if not isinstance(section, dict) or key not in section:
            raise ValueError(f'{source} has no "{group}.{key}" entry; a Cityscapes camera JSON '
                             'has extrinsic.baseline and intrinsic.fx, fy, u0, v0.')
        try:
            value = float(section[key])
        except (TypeError, ValueError) as err:
            raise ValueError(f'{source}: "{group}.{key}" = {section[key]!r} is not a '
                             'number.') from err
        positive = key in ('baseline', 'fx', 'fy')
        if not np.isfinite(value) or (positive and value <= 0):
            raise ValueError(f'{source}: "{group}.{key}" = {section[key]!r} must be a finite'
                             f'{" positive" if positive else ""} number.')
        values[key] = value
    width, height = image_size if image_size is not None else (None, None)
    return CameraParams(width=width, height=height, **values)


def load_camera_json(path: str, image_size: Optional[Tuple[int, int]] = None) -> CameraParams:
    """Load a Cityscapes ``*_camera.json``.

    The file does not state the image size it was calibrated for (2048 x 1024 for
    Cityscapes; the generated size for SynthCity), so the caller passes it.

    Args:
        path (str): JSON file.
        image_size (tuple[int, int], optional): ``(width, height)`` of its image.

    Returns:
        CameraParams: The camera.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Camera file {path!r} does not exist; pass a Cityscapes '
                                'camera/<split>/<city>/<frame>_camera.json.')
    with open(path, encoding='utf-8') as f:
        try:
            camera = json.load(f)
        except ValueError as err:
            raise ValueError(f'Camera file {path} is not valid JSON ({err}).') from err
    return parse_camera(camera, path, image_size)


def depth_to_disparity_png(depth: np.ndarray, baseline: float, fx: float) -> np.ndarray:
    """Encode metric depth as a Cityscapes disparity PNG array.

    ``d = baseline * fx / Z`` pixels, stored as ``p = round(256 * d) + 1``; ``p = 0`` where the
    depth is invalid (<= 0 or not finite). Values are clipped to 65535, so depth below
    ``baseline * fx / 255.996`` (about 1.85 m for the full-size Cityscapes camera, half that at
    half width) saturates, as in the Cityscapes files; ``p = 1`` (far beyond any street scene)
    decodes as zero disparity.

    Args:
        depth (np.ndarray): (H, W) depth in metres, at the size ``fx`` belongs to.
        baseline (float): Stereo baseline in metres.
        fx (float): Focal length in pixels for this image size.

    Returns:
        np.ndarray: (H, W) uint16, ready for ``cv2.imwrite``.
    """
    if baseline <= 0 or fx <= 0:
        raise ValueError(f'depth_to_disparity_png needs baseline > 0 and fx > 0, got '
                         f'baseline={baseline}, fx={fx}.')
    depth = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    out = np.zeros(depth.shape, dtype=np.uint16)
    disparity = baseline * fx / depth[valid]
    out[valid] = np.clip(np.rint(disparity * DISPARITY_SCALE) + 1, 1, MAX_PNG_VALUE)
    return out
