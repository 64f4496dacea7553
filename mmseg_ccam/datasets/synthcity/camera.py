"""Pinhole camera of SynthCity: Cityscapes intrinsics scaled to the output size.

Conventions (used by every SynthCity module):

* Camera frame (OpenCV): x right, y down, z forward. Pixel ``(u, v)`` = (column,
  row) with integer coordinates at pixel centres, so the ray of pixel ``(u, v)``
  is ``((u - u0) / fx, (v - v0) / fy, 1)``.
* World frame: X right, Y up, Z forward along the street; the ground is ``Y = 0``.
* The camera sits at ``(x, height, 0)`` and is pitched down by ``pitch`` radians
  (positive = looking down, the sign Cityscapes' ``extrinsic.pitch`` uses); no
  roll or yaw.

Because every ray direction is scaled to camera-z = 1, the ray parameter ``t``
of a hit *is* its metric depth (camera-z), which is what the disparity encodes.
"""
from dataclasses import dataclass
from typing import Dict

import numpy as np

from ..cityscapes_geometry import CITYSCAPES_CAMERA


@dataclass(frozen=True)
class PinholeCamera:
    """Calibrated, posed camera of one frame.

    Args:
        fx, fy (float): Focal lengths in output pixels.
        u0, v0 (float): Principal point in output pixels.
        width, height (int): Image size in pixels.
        cam_height (float): Height of the optical centre above the ground (m).
        cam_x (float): Lateral position of the optical centre (m).
        pitch (float): Downward pitch (rad).
        baseline (float): Stereo baseline (m) used for the disparity encoding.
    """

    fx: float
    fy: float
    u0: float
    v0: float
    width: int
    height: int
    cam_height: float = 1.22
    cam_x: float = 0.0
    pitch: float = 0.0
    baseline: float = CITYSCAPES_CAMERA.baseline

    @property
    def origin(self) -> np.ndarray:
        """World position of the optical centre, shape (3,)."""
        return np.array([self.cam_x, self.cam_height, 0.0], dtype=np.float64)

    @property
    def rotation(self) -> np.ndarray:
        """Camera-to-world rotation (3 x 3); columns are the camera axes in world."""
        c, s = np.cos(self.pitch), np.sin(self.pitch)
        return np.array([[1.0, 0.0, 0.0],
                         [0.0, -c, -s],
                         [0.0, -s, c]])

    def ray_directions(self) -> np.ndarray:
        """World ray direction per pixel, camera-z component 1: float32 H x W x 3."""
        u = (np.arange(self.width, dtype=np.float64) - self.u0) / self.fx
        v = (np.arange(self.height, dtype=np.float64) - self.v0) / self.fy
        c, s = np.cos(self.pitch), np.sin(self.pitch)
        dirs = np.empty((self.height, self.width, 3), dtype=np.float32)
        dirs[..., 0] = u[None, :]
        dirs[..., 1] = (-c * v - s)[:, None]
        dirs[..., 2] = (-s * v + c)[:, None]
        return dirs

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """Map world points (..., 3) to camera coordinates (..., 3)."""
        return (points - self.origin) @ self.rotation

    def to_json(self) -> Dict[str, Dict[str, float]]:
        """Cityscapes ``camera.json`` content for this camera.

        The camera is the vehicle origin (``x = y = 0``), ``z`` is its height.
        """
        return {
            'extrinsic': {
                'baseline': self.baseline,
                'pitch': float(self.pitch),
                'roll': 0.0,
                'x': 0.0,
                'y': 0.0,
                'yaw': 0.0,
                'z': float(self.cam_height),
            },
            'intrinsic': {
                'fx': self.fx,
                'fy': self.fy,
                'u0': self.u0,
                'v0': self.v0,
            },
        }


def scaled_intrinsics(height: int, width: int) -> Dict[str, float]:
    """Cityscapes intrinsics scaled from 2048 x 1024 to ``width`` x ``height``.

    :meth:`CameraParams.scaled_to` of the Cityscapes camera: focal lengths scale with their
    axis, the principal point moves as a pixel centre (``u0' = (u0 + 0.5) * s - 0.5``), so a
    SynthCity frame has the camera of a Cityscapes frame resized to its size
    (``docs/method.md``, "Camera intrinsics and resizing").
    """
    cam = CITYSCAPES_CAMERA.scaled_to(width, height)
    return dict(fx=cam.fx, fy=cam.fy, u0=cam.u0, v0=cam.v0)
