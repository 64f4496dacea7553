"""Cityscapes camera geometry: the calibration, camera JSON parsing, rescaling and the disparity
PNG codec. Every loader, check, SynthCity module, API and demo uses this module, so the
conventions below hold everywhere (``docs/method.md``, section "Data conventions").

Conventions:

* Disparity PNG: uint16 ``p``; ``p = 0`` means no stereo match, otherwise the disparity is
  ``d = (p - 1) / 256`` pixels and the metric depth ``Z = baseline * fx / d``. ``p = 1`` is a zero
  disparity (a point at infinity) and decodes as invalid, like ``p = 0``.
* Pixel ``(u, v)`` is column ``u``, row ``v``, with integer coordinates at pixel centres.
  Resizing an image by ``s`` maps a pixel centre ``u`` to ``(u + 0.5) * s - 0.5``
  (``align_corners=False``, as cv2 and the segmentor resize), so rescaled intrinsics follow
  that: focal lengths scale by ``s``, the principal point as a pixel centre.
* Camera JSON (``camera/<split>/<city>/<frame>_camera.json``): ``extrinsic.baseline`` (m) and
  ``intrinsic.fx``, ``fy``, ``u0``, ``v0`` (px) are JSON numbers; a boolean, string or null is
  refused (``true`` would otherwise read as 1.0).
"""
import json
import os.path as osp
from dataclasses import dataclass, replace
from numbers import Real
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

#: Disparity PNG step: ``p = DISPARITY_SCALE * d + 1``.
DISPARITY_SCALE = 256.0
#: Largest value a 16-bit PNG holds; nearer surfaces saturate to it.
MAX_PNG_VALUE = 65535

#: The entries depth decoding needs, and the full pinhole set.
STEREO_KEYS = (('extrinsic', 'baseline'), ('intrinsic', 'fx'))
PINHOLE_KEYS = STEREO_KEYS + (('intrinsic', 'fy'), ('intrinsic', 'u0'), ('intrinsic', 'v0'))
_POSITIVE = ('baseline', 'fx', 'fy')

CameraSource = Union[bytes, str, dict]


class CameraError(ValueError):
    """A camera JSON that cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class CameraParams:
    """Stereo pinhole camera for one image size.

    Args:
        fx (float): Focal length along u, pixels.
        fy (float): Focal length along v, pixels.
        u0 (float): Principal point column, pixels (pixel-centre coordinates).
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

    def scaled_to(self, width: float, height: float) -> 'CameraParams':
        """The same camera for the image resized to ``width x height``.

        ``sx = width / self.width``, ``sy = height / self.height``; focal lengths scale by
        ``s`` and the principal point moves as a pixel centre, ``u0' = (u0 + 0.5) * sx - 0.5``.
        The baseline is a length in metres and does not change. ``width``/``height`` may be
        fractional (the scale is exact); the stored size is rounded.

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
                       width=int(round(width)), height=int(round(height)))

    def scaled_to_width(self, width: int) -> 'CameraParams':
        """Scale by ``width / self.width`` along both axes (keeps the camera's aspect ratio;
        the height becomes ``round(self.height * s)``)."""
        if self.width is None or self.height is None:
            raise ValueError('CameraParams.scaled_to_width needs the image size the camera '
                             'belongs to (width/height).')
        return self.scaled_to(width, self.height * width / self.width)

    def to_json(self) -> Dict[str, Dict[str, float]]:
        """The ``extrinsic``/``intrinsic`` entries of a Cityscapes camera JSON."""
        return {'extrinsic': {'baseline': self.baseline},
                'intrinsic': {'fx': self.fx, 'fy': self.fy, 'u0': self.u0, 'v0': self.v0}}


#: Calibration of the Cityscapes camera (e.g. ``camera/train/aachen/*_camera.json``) at its
#: native 2048 x 1024.
CITYSCAPES_CAMERA = CameraParams(fx=2262.52, fy=2265.3017905988554, u0=1096.98, v0=513.137,
                                 baseline=0.209313, width=2048, height=1024)


def _json_repr(value) -> str:
    """``value`` as it reads in the JSON file (``true``, ``"2262"``, ``null``)."""
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)


def _camera_entries(camera: CameraSource, path: str,
                    keys: Sequence[Tuple[str, str]]) -> Dict[str, float]:
    """The one camera JSON parser: ``{key: value}`` of ``keys``, or :class:`CameraError`."""
    if isinstance(camera, (bytes, str)):
        try:
            camera = json.loads(camera)
        except (ValueError, UnicodeDecodeError) as err:
            raise CameraError(f'camera file {path} is not valid JSON ({err}); replace it with '
                              f'the Cityscapes camera/*_camera.json of this frame') from err
    values = {}
    for group, key in keys:
        section = camera.get(group) if isinstance(camera, dict) else None
        if not isinstance(section, dict) or key not in section:
            raise CameraError(
                f'camera file {path} has no "{group}.{key}" entry (a Cityscapes camera JSON has '
                f'extrinsic.baseline and intrinsic.fx, fy, u0, v0; depth needs the first two); '
                f'replace it with the Cityscapes camera/*_camera.json of this frame')
        raw = section[key]
        positive = key in _POSITIVE
        # bool is a subclass of int: without this check `"fx": true` would read as 1.0
        if isinstance(raw, bool) or not isinstance(raw, Real) or not np.isfinite(raw) \
                or (positive and raw <= 0):
            raise CameraError(f'camera file {path}: "{group}.{key}" = {_json_repr(raw)} must be '
                              f'a{" positive" if positive else ""} finite number (a JSON number, '
                              f'not a string or boolean); fix or replace the file')
        values[key] = float(raw)
    return values


def parse_camera(camera: CameraSource, path: str = 'camera',
                 image_size: Optional[Tuple[int, int]] = None) -> CameraParams:
    """Read the full pinhole camera from a Cityscapes camera JSON.

    Args:
        camera (bytes | str | dict): File content, or the parsed JSON.
        path (str): File name, for error messages.
        image_size (tuple[int, int], optional): ``(width, height)`` of the image the
            calibration belongs to (the file does not say).

    Returns:
        CameraParams: The camera.

    Raises:
        CameraError: Invalid JSON, a missing entry, or a value that is not a finite number
            (positive for baseline, fx and fy).
    """
    width, height = image_size if image_size is not None else (None, None)
    return CameraParams(width=width, height=height, **_camera_entries(camera, path, PINHOLE_KEYS))


def parse_stereo(camera: CameraSource, path: str = 'camera') -> Tuple[float, float]:
    """``(baseline, fx)`` from a camera JSON: all that turning disparity into depth needs.

    Same parser and messages as :func:`parse_camera`, checking only these two entries.

    Raises:
        CameraError: as :func:`parse_camera`.
    """
    values = _camera_entries(camera, path, STEREO_KEYS)
    return values['baseline'], values['fx']


def stereo_problem(camera: CameraSource, path: str) -> Tuple[Optional[Tuple[float, float]],
                                                              Optional[str]]:
    """:func:`parse_stereo` for the dataset checks: ``((baseline, fx), None)`` or
    ``(None, message)``."""
    try:
        return parse_stereo(camera, path), None
    except CameraError as err:
        return None, str(err)


def load_camera_json(path: str, image_size: Optional[Tuple[int, int]] = None) -> CameraParams:
    """Load a Cityscapes ``*_camera.json`` as :class:`CameraParams`.

    Args:
        path (str): JSON file.
        image_size (tuple[int, int], optional): ``(width, height)`` of its image (2048 x 1024
            for Cityscapes; the generated size for SynthCity).

    Raises:
        FileNotFoundError: The file does not exist.
        CameraError: as :func:`parse_camera`.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'camera file {path!r} does not exist; pass a Cityscapes '
                                'camera/<split>/<city>/<frame>_camera.json.')
    with open(path, 'rb') as f:
        return parse_camera(f.read(), path, image_size)


def _check_stereo(baseline: float, fx: float, caller: str) -> None:
    if not (np.isfinite(baseline) and np.isfinite(fx) and baseline > 0 and fx > 0):
        raise ValueError(f'{caller} needs a finite baseline > 0 and fx > 0, got '
                         f'baseline={baseline}, fx={fx}.')


def disparity_png_to_depth(disparity: np.ndarray, *, baseline: float, fx: float,
                           max_depth: Optional[float] = None) -> np.ndarray:
    """Decode a Cityscapes disparity PNG into metric depth.

    Args:
        disparity (np.ndarray): uint16 ``(H, W)`` raw PNG values ``p``.
        baseline (float): Stereo baseline in metres (``extrinsic.baseline``).
        fx (float): Focal length in pixels of this image size (``intrinsic.fx``).
        max_depth (float, optional): Depths above it are set invalid (0). None keeps all.

    Returns:
        np.ndarray: float32 ``(H, W)`` depth in metres, 0 where invalid (``p <= 1``, i.e. no
        match or zero disparity, or beyond ``max_depth``).
    """
    _check_stereo(baseline, fx, 'disparity_png_to_depth')
    p = np.asarray(disparity).astype(np.float32)
    valid = p > 1
    # Z = baseline * fx / ((p - 1) / 256), in float32 (relative error ~1e-7, 2x faster than
    # float64 on a 2048x1024 frame: this runs for every training sample).
    depth = np.zeros(p.shape, dtype=np.float32)
    depth[valid] = np.float32(DISPARITY_SCALE * baseline * fx) / (p[valid] - np.float32(1.0))
    if max_depth is not None:
        depth[depth > max_depth] = 0.0
    return depth


def depth_to_disparity_png(depth: np.ndarray, *, baseline: float, fx: float,
                           max_depth: Optional[float] = None) -> np.ndarray:
    """Encode metric depth as a Cityscapes disparity PNG array.

    ``p = round(256 * baseline * fx / Z) + 1``, clipped to 65535, so depth below
    ``baseline * fx / 255.996`` (about 1.85 m for the full-size Cityscapes camera) saturates as
    in the Cityscapes files. ``p = 0`` (invalid) where ``Z <= 0`` or not finite, beyond
    ``max_depth``, and where the rounded disparity is 0 (it would decode to infinite depth).

    Args:
        depth (np.ndarray): ``(H, W)`` depth in metres, at the size ``fx`` belongs to.
        baseline (float): Stereo baseline in metres.
        fx (float): Focal length in pixels for this image size.
        max_depth (float, optional): Farthest depth kept valid. None keeps all.

    Returns:
        np.ndarray: ``(H, W)`` uint16, ready for ``cv2.imwrite``.
    """
    _check_stereo(baseline, fx, 'depth_to_disparity_png')
    depth = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    if max_depth is not None:
        valid &= depth <= max_depth
    q = np.zeros(depth.shape, dtype=np.float64)
    np.divide(DISPARITY_SCALE * baseline * fx, depth, out=q, where=valid)
    np.rint(q, out=q)
    q[~valid | (q < 1)] = -1  # invalid, or a disparity that rounds to 0 (infinite depth)
    np.minimum(q, MAX_PNG_VALUE - 1, out=q)
    return (q + 1).astype(np.uint16)
