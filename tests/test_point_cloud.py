"""Back-projection, PLY writing, camera scaling and the disparity PNG encoding."""
import json

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmseg_ccam.apis import depth_to_points, write_ply
from mmseg_ccam.datasets.cityscapes_geometry import (
    CITYSCAPES_CAMERA,
    CameraParams,
    depth_to_disparity_png,
    disparity_png_to_depth,
    load_camera_json,
)


def read_ply(path):
    """Minimal PLY reader written for this test (independent of write_ply)."""
    with open(path, 'rb') as f:
        data = f.read()
    end = data.index(b'end_header\n') + len(b'end_header\n')
    header = data[:end].decode('ascii').splitlines()
    assert header[0] == 'ply'
    fmt = header[1].split()[1]
    count = None
    names, types = [], []
    for line in header:
        parts = line.split()
        if parts[0] == 'element':
            assert parts[1] == 'vertex'
            count = int(parts[2])
        elif parts[0] == 'property':
            types.append({'float': '<f4', 'uchar': 'u1'}[parts[1]])
            names.append(parts[2])
    body = data[end:]
    if fmt == 'binary_little_endian':
        arr = np.frombuffer(body, dtype=list(zip(names, types)), count=count)
        return {n: arr[n] for n in names}
    assert fmt == 'ascii'
    rows = [line.split() for line in body.decode('ascii').splitlines() if line.strip()]
    assert len(rows) == count
    return {n: np.array([float(r[i]) for r in rows]).astype(t)
            for i, (n, t) in enumerate(zip(names, types))}


@pytest.mark.parametrize('binary', [True, False])
def test_ply_points_reproject_onto_their_pixels(tmp_path, binary):
    rng = np.random.default_rng(0)
    h, w = 6, 9
    fx, fy, u0, v0 = 7.5, 8.25, 4.2, 2.7
    depth = rng.uniform(1.0, 50.0, (h, w)).astype(np.float32)
    depth[0, 0] = 0.0  # invalid pixels are left out
    depth[3, 5] = 0.0
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    seg = rng.integers(0, 19, (h, w))
    valid = depth > 0
    points = depth_to_points(depth, fx, fy, u0, v0)
    assert points.shape == (h, w, 3) and points.dtype == np.float32
    path = tmp_path / ('cloud.ply' if binary else 'cloud_ascii.ply')
    write_ply(str(path), points[valid], image[valid], seg[valid], binary=binary)

    ply = read_ply(str(path))
    assert len(ply['x']) == valid.sum() == h * w - 2
    vs, us = np.nonzero(valid)  # row-major, the order of boolean indexing
    x, y, z = (ply[k].astype(np.float64) for k in 'xyz')
    np.testing.assert_allclose(fx * x / z + u0, us, atol=1e-4)
    np.testing.assert_allclose(fy * y / z + v0, vs, atol=1e-4)
    np.testing.assert_array_equal(ply['z'], depth[valid])
    np.testing.assert_array_equal(np.stack([ply['red'], ply['green'], ply['blue']], 1),
                                  image[valid])
    np.testing.assert_array_equal(ply['label'], seg[valid])


def test_points_hand_computed():
    depth = np.array([[2.0, 4.0]], np.float32)
    pts = depth_to_points(depth, fx=2.0, fy=4.0, u0=0.5, v0=1.0)
    # pixel (u=0, v=0): x = (0 - 0.5) * 2 / 2, y = (0 - 1) * 2 / 4
    np.testing.assert_allclose(pts[0, 0], [-0.5, -0.5, 2.0])
    np.testing.assert_allclose(pts[0, 1], [1.0, -1.0, 4.0])


@settings(max_examples=30, deadline=None)
@given(st.floats(50, 3000), st.floats(50, 3000), st.floats(-10, 60), st.floats(-10, 40),
       st.integers(0, 2 ** 32 - 1))
def test_reprojection_property(fx, fy, u0, v0, seed):
    depth = np.random.default_rng(seed).uniform(0.5, 120, (5, 7)).astype(np.float32)
    pts = depth_to_points(depth, fx, fy, u0, v0).astype(np.float64)
    u = fx * pts[..., 0] / pts[..., 2] + u0
    v = fy * pts[..., 1] / pts[..., 2] + v0
    np.testing.assert_allclose(u, np.broadcast_to(np.arange(7), (5, 7)), atol=2e-3)
    np.testing.assert_allclose(v, np.broadcast_to(np.arange(5)[:, None], (5, 7)), atol=2e-3)


def test_write_ply_without_colours_and_bad_input(tmp_path):
    write_ply(str(tmp_path / 'p.ply'), np.zeros((2, 3)))
    ply = read_ply(str(tmp_path / 'p.ply'))
    assert set(ply) == {'x', 'y', 'z'} and len(ply['x']) == 2
    with pytest.raises(ValueError, match='labels'):
        write_ply(str(tmp_path / 'q.ply'), np.zeros((2, 3)), labels=np.array([1, 300]))
    with pytest.raises(ValueError, match='colors'):
        write_ply(str(tmp_path / 'q.ply'), np.zeros((2, 3)), colors=np.zeros((3, 3)))


def test_disparity_png_decodes_back_within_rounding():
    baseline, fx = 0.209313, 1131.26  # Cityscapes camera at 1024 px width
    depth = np.array([[2.0, 5.0, 10.0, 33.3], [79.9, 0.0, np.nan, 400.0]], np.float32)
    png = depth_to_disparity_png(depth, baseline=baseline, fx=fx)
    assert png.dtype == np.uint16
    # hand-computed: d = b * fx / Z, p = round(256 d) + 1
    assert png[0, 1] == round(256 * baseline * fx / 5.0) + 1 == 12125  # 256 d = 12123.52
    assert png[1, 1] == 0 and png[1, 2] == 0
    # decode: by the Cityscapes formula and by the dataset's own loader
    valid = png > 0
    d = (png[valid].astype(np.float64) - 1) / 256
    true_d = baseline * fx / depth[valid].astype(np.float64)
    assert np.all(np.abs(d - true_d) <= 0.5 / 256 + 1e-9)
    loaded = disparity_png_to_depth(png, baseline=baseline, fx=fx)
    np.testing.assert_allclose(loaded[valid], depth[valid], rtol=0.5 / 256 / true_d.min() * 1.01)
    assert np.all(loaded[~valid] == 0)


def test_disparity_png_file_round_trip_and_saturation(tmp_path):
    depth = np.array([[0.5, 3.0]], np.float32)  # 0.5 m needs p > 65535 at full resolution
    png = depth_to_disparity_png(depth, baseline=CITYSCAPES_CAMERA.baseline,
                                 fx=CITYSCAPES_CAMERA.fx)
    assert png[0, 0] == 65535
    cv2.imwrite(str(tmp_path / 'disp.png'), png)
    back = cv2.imread(str(tmp_path / 'disp.png'), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, png)


def test_camera_scaling_keeps_projection_consistent_with_resizing():
    cam = CameraParams(fx=2262.52, fy=2265.30, u0=1096.98, v0=513.137, baseline=0.2,
                       width=2048, height=1024)
    small = cam.scaled_to(512, 256)
    assert small.fx == pytest.approx(2262.52 / 4) and small.fy == pytest.approx(2265.30 / 4)
    assert small.baseline == 0.2 and (small.width, small.height) == (512, 256)
    p = np.array([3.0, -1.2, 17.0])
    u, v = cam.fx * p[0] / p[2] + cam.u0, cam.fy * p[1] / p[2] + cam.v0
    us, vs = small.fx * p[0] / p[2] + small.u0, small.fy * p[1] / p[2] + small.v0
    # a pixel centre u of the big image lands at (u + 0.5) * s - 0.5 after resizing
    assert us == pytest.approx((u + 0.5) / 4 - 0.5) and vs == pytest.approx((v + 0.5) / 4 - 0.5)
    wide = cam.scaled_to_width(1024)
    assert wide.fx == pytest.approx(cam.fx / 2) and wide.fy == pytest.approx(cam.fy / 2)
    assert wide.height == 512
    with pytest.raises(ValueError, match='image size'):
        CameraParams(1, 1, 0, 0, 1).scaled_to(10, 10)


def test_load_camera_json(tmp_path):
    path = tmp_path / 'f_camera.json'
    path.write_text(json.dumps({
        'extrinsic': {'baseline': 0.3, 'pitch': 0.0},
        'intrinsic': {'fx': 100.0, 'fy': 101.0, 'u0': 31.5, 'v0': 15.5}}))
    cam = load_camera_json(str(path), image_size=(64, 32))
    assert cam == CameraParams(fx=100.0, fy=101.0, u0=31.5, v0=15.5, baseline=0.3, width=64,
                               height=32)
    path.write_text(json.dumps({'extrinsic': {'baseline': 0.3}, 'intrinsic': {'fx': 1.0}}))
    with pytest.raises(ValueError, match=r'f_camera\.json.*intrinsic\.fy'):
        load_camera_json(str(path))
    with pytest.raises(FileNotFoundError, match='missing.json'):
        load_camera_json(str(tmp_path / 'missing.json'))


def test_sample_to_points_leaves_out_no_depth_classes_far_and_invalid_pixels():
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from mmseg_ccam.apis import sample_to_points

    depth = torch.tensor([[[2.0, 4.0, 0.0], [8.0, 30.0, float('inf')]]])
    seg = torch.tensor([[[0, 10, 0], [1, 1, 1]]])
    sample = SegDataSample(pred_depth_map=PixelData(data=depth), pred_sem_seg=PixelData(data=seg))
    points, labels, valid = sample_to_points(sample, 2.0, 2.0, 1.0, 0.5, no_depth_ids=[10],
                                             max_depth=20.0)
    # kept: (0,0) d=2 class 0 and (1,0) d=8 class 1; sky (10), 0, 30 > 20 m and inf left out
    np.testing.assert_array_equal(valid, [[True, False, False], [True, False, False]])
    np.testing.assert_array_equal(labels, [0, 1])
    # x = (u - u0) z / fx, y = (v - v0) z / fy
    np.testing.assert_allclose(points, [[(0 - 1) * 2 / 2, (0 - 0.5) * 2 / 2, 2],
                                        [(0 - 1) * 8 / 2, (1 - 0.5) * 8 / 2, 8]])
    depth_only = SegDataSample(pred_depth_map=PixelData(data=depth))
    points, labels, _ = sample_to_points(depth_only, 2.0, 2.0, 1.0, 0.5, no_depth_ids=[10])
    assert labels is None and len(points) == 4
    with pytest.raises(ValueError, match='pred_depth_map'):
        sample_to_points(SegDataSample(pred_sem_seg=PixelData(data=seg)), 2.0, 2.0, 1.0, 0.5)
