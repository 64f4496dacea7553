"""mmseg_ccam.datasets.cityscapes_geometry: the one camera parser, the disparity codec in both
directions and the pixel-centre rescaling of intrinsics."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmseg_ccam.datasets.cityscapes_geometry import (
    CITYSCAPES_CAMERA,
    CameraError,
    CameraParams,
    depth_to_disparity_png,
    disparity_png_to_depth,
    parse_camera,
    parse_stereo,
    stereo_problem,
)


def test_codec_takes_the_camera_by_keyword_only():
    depth = np.array([[10.0]])
    with pytest.raises(TypeError):
        depth_to_disparity_png(depth, 0.2, 1000.0)
    with pytest.raises(TypeError):
        disparity_png_to_depth(np.array([[5121]], np.uint16), 0.2, 1000.0)
    # hand-computed: d = 0.2 * 1000 / 10 = 20 px, p = 256 * 20 + 1
    assert depth_to_disparity_png(depth, baseline=0.2, fx=1000.0)[0, 0] == 5121
    assert disparity_png_to_depth(np.array([[5121]], np.uint16), baseline=0.2,
                                  fx=1000.0)[0, 0] == 10.0
    with pytest.raises(ValueError, match='baseline > 0'):
        depth_to_disparity_png(depth, baseline=0.0, fx=1000.0)


@settings(max_examples=50, deadline=None)
@given(depth=st.floats(0.5, 200.0), width=st.sampled_from([64, 256, 1024, 2048]),
       max_depth=st.sampled_from([None, 80.0]))
def test_encode_then_decode_is_within_half_a_disparity_step(depth, width, max_depth):
    cam = CITYSCAPES_CAMERA.scaled_to_width(width)
    p = depth_to_disparity_png(np.array([[depth]]), baseline=cam.baseline, fx=cam.fx,
                               max_depth=max_depth)
    d_true = cam.baseline * cam.fx / depth
    if max_depth is not None and depth > max_depth:
        assert p[0, 0] == 0  # beyond range: invalid, not clipped
        return
    if round(d_true * 256) == 0:
        assert p[0, 0] == 0  # would decode to infinite depth
        return
    if d_true * 256 + 1 > 65535:
        assert p[0, 0] == 65535  # nearer than 16 bits can encode: saturates
        return
    z = disparity_png_to_depth(p, baseline=cam.baseline, fx=cam.fx)[0, 0]
    assert abs(cam.baseline * cam.fx / z - d_true) <= 0.5 / 256 + 1e-5


def test_invalid_depths_and_disparities():
    p = depth_to_disparity_png(np.array([[0.0, np.inf, np.nan, -3.0]]), baseline=0.2, fx=100.0)
    assert p.tolist() == [[0, 0, 0, 0]]
    # p = 0 (no match) and p = 1 (zero disparity) decode as invalid
    z = disparity_png_to_depth(np.array([[0, 1, 2]], np.uint16), baseline=0.2, fx=100.0)
    assert z.dtype == np.float32 and z.tolist() == [[0.0, 0.0, np.float32(0.2 * 100.0 * 256)]]


def test_parse_camera_full_and_stereo_share_one_parser():
    content = json.dumps({'extrinsic': {'baseline': 0.3},
                          'intrinsic': {'fx': 100, 'fy': 101.0, 'u0': -2.0, 'v0': 15.5}})
    cam = parse_camera(content, 'c.json', image_size=(64, 32))
    assert cam == CameraParams(fx=100.0, fy=101.0, u0=-2.0, v0=15.5, baseline=0.3, width=64,
                               height=32)
    assert parse_stereo(content.encode(), 'c.json') == (0.3, 100.0)
    # the stereo form needs only baseline and fx; the full one names the first missing key
    only_stereo = {'extrinsic': {'baseline': 0.3}, 'intrinsic': {'fx': 100.0}}
    assert parse_stereo(only_stereo, 'c.json') == (0.3, 100.0)
    with pytest.raises(CameraError, match=r'c\.json has no "intrinsic\.fy" entry'):
        parse_camera(only_stereo, 'c.json')
    # the problem form returns the same message the raising form raises
    bad = {'extrinsic': {'baseline': -1}, 'intrinsic': {'fx': 100.0}}
    with pytest.raises(CameraError) as err:
        parse_stereo(bad, 'c.json')
    assert stereo_problem(bad, 'c.json') == (None, str(err.value))
    assert '"extrinsic.baseline" = -1 must be a positive finite number' in str(err.value)
    with pytest.raises(CameraError, match='not valid JSON'):
        parse_stereo(b'{"extrinsic": ', 'c.json')


def test_rescaled_principal_point_follows_pixel_centres():
    cam = CITYSCAPES_CAMERA
    half = cam.scaled_to(1024, 512)
    # a pixel centre u of the 2048-wide image lands at (u + 0.5) / 2 - 0.5
    assert half.u0 == pytest.approx((cam.u0 + 0.5) / 2 - 0.5)
    assert half.v0 == pytest.approx((cam.v0 + 0.5) / 2 - 0.5)
    assert (half.fx, half.fy) == pytest.approx((cam.fx / 2, cam.fy / 2))
    assert half.baseline == cam.baseline and (half.width, half.height) == (1024, 512)
    # scaling back returns the original camera
    back = half.scaled_to(2048, 1024)
    assert (back.fx, back.u0, back.v0) == pytest.approx((cam.fx, cam.u0, cam.v0))
