"""Back-projection of a depth map to 3D points and a PLY writer for coloured, labelled points."""
from typing import Any, Optional, Sequence, Tuple

import numpy as np


def depth_to_points(depth: np.ndarray, fx: float, fy: float, u0: float, v0: float) -> np.ndarray:
    """Back-project every pixel of a depth map through a pinhole camera.

    Camera coordinates (OpenCV): x right, y down, z forward, metres;
    ``x = (u - u0) * z / fx``, ``y = (v - v0) * z / fy``, ``z = depth`` for pixel column ``u``
    and row ``v``. The intrinsics must belong to the size of ``depth`` (see
    :meth:`CameraParams.scaled_to`).

    Args:
        depth (np.ndarray): (H, W) depth in metres (invalid pixels give invalid points; select
            valid ones with ``depth > 0``).
        fx, fy (float): Focal lengths in pixels.
        u0, v0 (float): Principal point in pixels.

    Returns:
        np.ndarray: (H, W, 3) float32 points; ``points[v, u]`` belongs to pixel ``(u, v)``.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f'depth_to_points expects an (H, W) depth map, got shape {depth.shape}.')
    if fx <= 0 or fy <= 0:
        raise ValueError(f'depth_to_points needs fx > 0 and fy > 0, got fx={fx}, fy={fy}.')
    z = depth.astype(np.float64)
    h, w = z.shape
    u = np.arange(w, dtype=np.float64)[None, :]
    v = np.arange(h, dtype=np.float64)[:, None]
    x = (u - u0) * z / fx
    y = (v - v0) * z / fy
    return np.stack([x, y, z], axis=-1).astype(np.float32)


def write_ply(path: str,
              points: np.ndarray,
              colors: Optional[np.ndarray] = None,
              labels: Optional[np.ndarray] = None,
              binary: bool = True) -> None:
    """Write points as a PLY file (binary little-endian or ASCII).

    Vertex properties: ``float x, y, z``, then ``uchar red, green, blue`` when ``colors`` is
    given, then ``uchar label`` when ``labels`` is given (MeshLab, Open3D and CloudCompare read
    these names).

    Args:
        path (str): Output file.
        points (np.ndarray): (N, 3) coordinates in metres.
        colors (np.ndarray, optional): (N, 3) RGB in 0..255.
        labels (np.ndarray, optional): (N,) class ids in 0..255 (255 = ignore).
        binary (bool): Binary little-endian (default) or ASCII.
    """
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f'write_ply: points must be (N, 3), got shape {points.shape}.')
    n = len(points)
    fields = [('x', '<f4'), ('y', '<f4'), ('z', '<f4')]
    columns = {'x': points[:, 0], 'y': points[:, 1], 'z': points[:, 2]}
    if colors is not None:
        colors = np.asarray(colors)
        if colors.shape != (n, 3):
            raise ValueError(f'write_ply: colors must be ({n}, 3) to match the points, got '
                             f'shape {colors.shape}.')
        if colors.size and (colors.min() < 0 or colors.max() > 255):
            raise ValueError('write_ply: colors must be in 0..255.')
        fields += [('red', 'u1'), ('green', 'u1'), ('blue', 'u1')]
        columns.update(red=colors[:, 0], green=colors[:, 1], blue=colors[:, 2])
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (n, ):
            raise ValueError(f'write_ply: labels must be ({n},) to match the points, got shape '
                             f'{labels.shape}.')
        if labels.size and (labels.min() < 0 or labels.max() > 255):
            raise ValueError('write_ply: labels are stored as uchar and must be in 0..255.')
        fields.append(('label', 'u1'))
        columns['label'] = labels
    vertices = np.empty(n, dtype=fields)
    for name, _ in fields:
        vertices[name] = columns[name]

    ply_type = {'<f4': 'float', 'u1': 'uchar'}
    header = ['ply', f'format {"binary_little_endian" if binary else "ascii"} 1.0',
              'comment written by mmseg_ccam', f'element vertex {n}']
    header += [f'property {ply_type[kind]} {name}' for name, kind in fields]
    header.append('end_header')
    with open(path, 'wb') as f:
        f.write(('\n'.join(header) + '\n').encode('ascii'))
        if binary:
            f.write(vertices.tobytes())
        else:
            # %.9g round-trips float32 exactly; the uchar columns are integers.
            table = np.stack([vertices[name].astype(np.float64) for name, _ in fields], axis=1)
            fmt = ['%.9g' if kind == '<f4' else '%d' for _, kind in fields]
            np.savetxt(f, table, fmt=fmt, delimiter=' ')


def sample_to_points(data_sample: Any,
                     fx: float,
                     fy: float,
                     u0: float,
                     v0: float,
                     no_depth_ids: Sequence[int] = (),
                     max_depth: Optional[float] = None
                     ) -> Tuple[np.ndarray, Optional[np.ndarray], np.ndarray]:
    """The point cloud of a prediction: :func:`depth_to_points` on the ``pred_depth_map`` of a
    ``SegDataSample`` (what :func:`~mmseg_ccam.apis.inference_model` returns), with the class
    of each point from its ``pred_sem_seg``.

    A pixel gives a point when its depth is finite and > 0, it is not predicted as one of
    ``no_depth_ids`` (classes the ground truth has no depth for, e.g. sky) and, with
    ``max_depth``, its depth is at most that.

    Args:
        data_sample (SegDataSample): With ``pred_depth_map`` (1, H, W) metres and optionally
            ``pred_sem_seg`` (1, H, W) class ids.
        fx, fy, u0, v0 (float): Intrinsics for the size of the prediction (H, W).
        no_depth_ids (sequence[int]): Classes left out (needs ``pred_sem_seg``).
        max_depth (float, optional): Points farther than this (m) are left out.

    Returns:
        tuple: ``points`` (N, 3) float32 metres, ``labels`` (N,) int64 class ids (None without
        ``pred_sem_seg``) and ``valid`` (H, W) bool, the pixels the N points come from in
        row-major order (to pick their colours from the image).
    """
    if 'pred_depth_map' not in data_sample:
        raise ValueError('sample_to_points needs a sample with pred_depth_map (a model with a '
                         'depth head).')
    depth = data_sample.pred_depth_map.data[0].detach().cpu().float().numpy()
    seg = None
    if 'pred_sem_seg' in data_sample:
        seg = data_sample.pred_sem_seg.data[0].detach().cpu().numpy().astype(np.int64)
    valid = np.isfinite(depth) & (depth > 0)
    if max_depth is not None:
        valid &= depth <= max_depth
    if len(no_depth_ids) and seg is not None:
        valid &= ~np.isin(seg, np.asarray(no_depth_ids, dtype=np.int64))
    points = depth_to_points(depth, fx, fy, u0, v0)[valid]
    return points, (seg[valid] if seg is not None else None), valid
