"""Tests of LoadCityscapesDepth, LoadOptionalAnnotations and the disparity decoding."""
import json
import re

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mmcv.transforms import Compose
from mmengine.registry import DefaultScope
from mmseg.datasets.transforms import LoadAnnotations

import mmseg_ccam  # noqa: F401  (registers the transforms)
from mmseg_ccam.datasets import validation as V
from mmseg_ccam.datasets.cityscapes_geometry import (
    CameraError,
    disparity_png_to_depth,
    parse_camera,
    parse_stereo,
)
from mmseg_ccam.datasets.transforms.loading import LoadCityscapesDepth, LoadOptionalAnnotations


def disparity_to_depth(p, baseline, fx, max_depth=80.0):
    """The loader's decoding (``LoadCityscapesDepth`` default ``max_depth=80``)."""
    return disparity_png_to_depth(p, baseline=baseline, fx=fx, max_depth=max_depth)

BASELINE, FX = 0.2, 1000.0  # baseline * fx = 200 m*px: depth Z <-> disparity 200 / Z


def p_for_depth(z):
    """Raw PNG value of depth ``z`` (m) for BASELINE * FX = 200."""
    return int(round(200.0 / z * 256 + 1))


def write_camera(path, baseline=BASELINE, fx=FX, drop=None):
    cam = {'extrinsic': {'baseline': baseline, 'pitch': 0.0},
           'intrinsic': {'fx': fx, 'fy': fx, 'u0': 16.0, 'v0': 8.0}}
    if drop:
        del cam[drop[0]][drop[1]]
    path.write_text(json.dumps(cam))
    return str(path)


def write_disparity(path, p):
    assert cv2.imwrite(str(path), np.asarray(p, dtype=np.uint16))
    return str(path)


def test_disparity_to_depth_known_values():
    # 10 m, 20 m, no match, zero disparity, 100 m (> max), exactly 80 m (kept, not > max)
    p = np.array([[p_for_depth(10), p_for_depth(20), 0],
                  [1, p_for_depth(100), p_for_depth(80)]], dtype=np.uint16)
    assert p.tolist() == [[5121, 2561, 0], [1, 513, 641]]
    depth = disparity_to_depth(p, BASELINE, FX, max_depth=80.0)
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(depth, [[10.0, 20.0, 0.0], [0.0, 0.0, 80.0]])
    # Without a limit the far point is kept.
    assert disparity_to_depth(p, BASELINE, FX, max_depth=None)[1, 1] == pytest.approx(100.0)


def test_disparity_to_depth_real_calibration():
    baseline, fx = 0.209313, 2262.52
    p = np.array([[30000, 257, 65535]], dtype=np.uint16)
    expected = [baseline * fx / ((v - 1) / 256.0) for v in (30000, 257, 65535)]
    # p = 257 is d = 1 px -> 473.6 m, beyond 80 m -> invalid
    expected[1] = 0.0
    np.testing.assert_allclose(disparity_to_depth(p, baseline, fx), [expected], rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 65535), min_size=1, max_size=20),
       st.floats(0.05, 1.0), st.floats(100.0, 3000.0))
def test_disparity_to_depth_inverts_encoding(values, baseline, fx):
    p = np.array(values, dtype=np.uint16)[None]
    depth = disparity_to_depth(p, baseline, fx, max_depth=None)
    valid = p > 1
    assert np.all(depth[~valid] == 0)
    # encoding back gives the raw value: p = 256 * baseline * fx / Z + 1
    p_back = 256.0 * baseline * fx / depth[valid].astype(np.float64) + 1.0
    np.testing.assert_allclose(p_back, p[valid], rtol=1e-5)


def test_transform_reads_files(tmp_path):
    p = np.array([[p_for_depth(10), p_for_depth(20)], [0, p_for_depth(100)]])
    results = dict(depth_path=write_disparity(tmp_path / 'f_disparity.png', p),
                   camera_path=write_camera(tmp_path / 'f_camera.json'), seg_fields=['gt_seg_map'])
    out = LoadCityscapesDepth(max_depth=80.0)(results)
    np.testing.assert_array_equal(out['gt_depth_map'], [[10.0, 20.0], [0.0, 0.0]])
    assert out['gt_depth_map'].dtype == np.float32
    assert out['depth_valid'] is True
    assert out['seg_fields'] == ['gt_seg_map', 'gt_depth_map']
    # seg_fields is created when missing
    results = dict(depth_path=results['depth_path'], camera_path=results['camera_path'])
    assert LoadCityscapesDepth()(results)['seg_fields'] == ['gt_depth_map']


def test_camera_values_come_from_the_frame_json(tmp_path):
    p = np.full((2, 3), p_for_depth(10), dtype=np.uint16)  # 10 m with baseline*fx = 200
    results = dict(depth_path=write_disparity(tmp_path / 'd.png', p),
                   camera_path=write_camera(tmp_path / 'c.json', baseline=0.4))
    np.testing.assert_allclose(LoadCityscapesDepth()(results)['gt_depth_map'], 20.0)


def test_missing_files_are_named(tmp_path):
    cam = write_camera(tmp_path / 'c.json')
    missing = str(tmp_path / 'nope_disparity.png')
    with pytest.raises(FileNotFoundError, match='nope_disparity.png'):
        LoadCityscapesDepth()(dict(depth_path=missing, camera_path=cam))
    disp = write_disparity(tmp_path / 'd.png', np.full((2, 2), 600))
    with pytest.raises(FileNotFoundError, match='nope_camera.json'):
        LoadCityscapesDepth()(dict(depth_path=disp, camera_path=str(tmp_path / 'nope_camera.json')))
    with pytest.raises(KeyError, match='depth_path'):
        LoadCityscapesDepth()(dict(depth_path=None, camera_path=cam))


def test_bad_files_are_named(tmp_path):
    cam = write_camera(tmp_path / 'c.json')
    garbage = tmp_path / 'garbage_disparity.png'
    garbage.write_bytes(b'not a png at all')
    with pytest.raises(ValueError, match='garbage_disparity.png.*undecodable'):
        LoadCityscapesDepth()(dict(depth_path=str(garbage), camera_path=cam))
    eight_bit = tmp_path / 'u8_disparity.png'
    cv2.imwrite(str(eight_bit), np.full((2, 2), 7, np.uint8))
    with pytest.raises(ValueError, match='u8_disparity.png.*uint8'):
        LoadCityscapesDepth()(dict(depth_path=str(eight_bit), camera_path=cam))

    disp = write_disparity(tmp_path / 'd.png', np.full((2, 2), 600))
    for drop, key in ((('extrinsic', 'baseline'), 'extrinsic.baseline'),
                      (('intrinsic', 'fx'), 'intrinsic.fx')):
        bad = write_camera(tmp_path / f'no_{drop[1]}_camera.json', drop=drop)
        with pytest.raises(ValueError, match=f'no_{drop[1]}_camera.json.*{key}'):
            LoadCityscapesDepth()(dict(depth_path=disp, camera_path=bad))
    broken = tmp_path / 'broken_camera.json'
    broken.write_text('{"extrinsic": ')
    with pytest.raises(ValueError, match='broken_camera.json'):
        LoadCityscapesDepth()(dict(depth_path=disp, camera_path=str(broken)))
    with pytest.raises(ValueError, match='x.json.*must be a positive'):
        parse_stereo(b'{"extrinsic": {"baseline": 0}, "intrinsic": {"fx": 5}}', 'x.json')


@pytest.mark.parametrize('raw', [True, False, '1000.0', None, [1000.0]])
def test_camera_entry_that_is_not_a_json_number_is_refused(tmp_path, raw):
    # `"fx": true` used to read as 1.0 (float(True)): depth 1000x too small, no error
    disp = write_disparity(tmp_path / 'd.png', np.full((2, 2), p_for_depth(10)))
    bad = tmp_path / 'bool_camera.json'
    bad.write_text(json.dumps({'extrinsic': {'baseline': BASELINE}, 'intrinsic': {'fx': raw}}))
    shown = json.dumps(raw)
    with pytest.raises(CameraError, match=rf'bool_camera.json: "intrinsic.fx" = '
                       rf'{re.escape(shown)} must be a positive finite number'):
        LoadCityscapesDepth()(dict(depth_path=disp, camera_path=str(bad)))
    # the full parser (APIs, demo) refuses it the same way, and a JSON integer is a number
    with pytest.raises(CameraError, match='"intrinsic.fx"'):
        parse_camera(bad.read_bytes(), str(bad))
    bad.write_text(json.dumps({'extrinsic': {'baseline': BASELINE}, 'intrinsic': {'fx': 1000}}))
    assert parse_stereo(bad.read_bytes(), str(bad)) == (BASELINE, 1000.0)


def test_check_dataset_reports_boolean_camera_entry(tmp_path):
    """tools/check_dataset.py runs validation.check_frame on every frame."""
    img = tmp_path / 'f_leftImg8bit.png'
    cv2.imwrite(str(img), np.zeros((2, 2, 3), np.uint8))
    disp = write_disparity(tmp_path / 'f_disparity.png', np.full((2, 2), p_for_depth(10)))
    cam = tmp_path / 'f_camera.json'
    cam.write_text(json.dumps({'extrinsic': {'baseline': True}, 'intrinsic': {'fx': FX}}))
    paths = dict(img_path=str(img), depth_path=disp, camera_path=str(cam))
    problems = V.check_frame(paths, max_depth=80.0)
    assert [(p.path, p.kind) for p in problems] == [(str(cam), 'camera')]
    assert '"extrinsic.baseline" = true must be a positive finite number' in problems[0].message
    # the same frame with a numeric baseline is clean
    cam.write_text(json.dumps({'extrinsic': {'baseline': BASELINE}, 'intrinsic': {'fx': FX}}))
    assert V.check_frame(paths, max_depth=80.0) == []


def test_size_mismatch_names_both_files(tmp_path):
    disp = write_disparity(tmp_path / 'f_disparity.png', np.full((4, 6), 600))
    cam = write_camera(tmp_path / 'c.json')
    results = dict(depth_path=disp, camera_path=cam, img_path='f_leftImg8bit.png',
                   img_shape=(8, 12), ori_shape=(8, 12))
    with pytest.raises(ValueError, match=r'f_disparity.png is 4x6.*f_leftImg8bit.png is 8x12'):
        LoadCityscapesDepth()(results)
    # right file size, but the image was resized before the loader
    results.update(ori_shape=(4, 6), img_shape=(8, 12))
    with pytest.raises(ValueError, match='before geometric transforms'):
        LoadCityscapesDepth()(results)


def test_optional_annotations(tmp_path):
    seg = np.array([[0, 1, 2], [18, 255, 5]], dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'seg.png'), seg)
    labeled = dict(seg_map_path=str(tmp_path / 'seg.png'), reduce_zero_label=False,
                   seg_fields=[], img_shape=(2, 3))
    ours = LoadOptionalAnnotations()(dict(labeled, seg_fields=[]))
    parent = LoadAnnotations()(dict(labeled, seg_fields=[]))
    np.testing.assert_array_equal(ours['gt_seg_map'], seg)
    np.testing.assert_array_equal(ours['gt_seg_map'], parent['gt_seg_map'])
    assert ours['seg_fields'] == parent['seg_fields'] == ['gt_seg_map']
    # reduce_zero_label and label_map are applied exactly like mmseg's LoadAnnotations
    for extra in (dict(reduce_zero_label=True), dict(label_map={0: 1, 1: 2, 18: 0})):
        ours = LoadOptionalAnnotations()(dict(labeled, seg_fields=[], **extra))
        parent = LoadAnnotations()(dict(labeled, seg_fields=[], **extra))
        np.testing.assert_array_equal(ours['gt_seg_map'], parent['gt_seg_map'])
    np.testing.assert_array_equal(ours['gt_seg_map'], [[1, 2, 2], [0, 255, 5]])
    # ids are checked against num_classes (argument, else results['num_classes'])
    with pytest.raises(ValueError, match=r'seg.png holds ids \[18\] outside .*0\.\.17'):
        LoadOptionalAnnotations(num_classes=18)(dict(labeled, seg_fields=[]))
    with pytest.raises(ValueError, match=r'ids \[5, 18\] outside the class range 0\.\.4'):
        LoadOptionalAnnotations()(dict(labeled, seg_fields=[], num_classes=5))

    # a palette PNG decodes to its indices with the default (Pillow) backend, as in mmseg; the
    # OpenCV backend would give colours, which the loader refuses instead of using them
    from PIL import Image
    palette = Image.fromarray(seg, mode='P')
    palette.putpalette([v for i in range(256) for v in (i, 255 - i, 7)])
    palette.save(tmp_path / 'palette.png')
    info = dict(labeled, seg_map_path=str(tmp_path / 'palette.png'))
    ours = LoadOptionalAnnotations()(dict(info, seg_fields=[]))
    np.testing.assert_array_equal(ours['gt_seg_map'], seg)
    np.testing.assert_array_equal(LoadAnnotations()(dict(info, seg_fields=[]))['gt_seg_map'], seg)
    with pytest.raises(ValueError, match=r'palette.png has shape \(2, 3, 3\); expected a single'):
        LoadOptionalAnnotations(imdecode_backend='cv2')(dict(info, seg_fields=[]))

    out = LoadOptionalAnnotations()(dict(seg_map_path=None, img_shape=(5, 7),
                                         reduce_zero_label=False))
    assert out['gt_seg_map'].shape == (5, 7) and out['gt_seg_map'].dtype == np.uint8
    assert np.all(out['gt_seg_map'] == 255)
    assert out['seg_fields'] == ['gt_seg_map']
    with pytest.raises(KeyError, match='LoadImageFromFile'):
        LoadOptionalAnnotations()(dict(seg_map_path=None, seg_fields=[]))


def _frame(tmp_path, h=32, w=48):
    """One frame whose depth is a known function of its label: depth = TABLE[label]."""
    table = np.array([10.0, 20.0, 40.0, 0.0, 80.0 / 3], dtype=np.float64)  # 0 = invalid region
    rng = np.random.default_rng(0)
    label = np.zeros((h, w), np.uint8)
    label[:, w // 3:] = 1
    label[h // 2:, :] = 2
    label[: h // 4, w // 2:] = 3
    label[h // 2:, 2 * w // 3:] = 4
    p = np.zeros((h, w), np.uint16)
    for k, z in enumerate(table):
        p[label == k] = 0 if z == 0 else p_for_depth(z)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'f_leftImg8bit.png'), img)
    cv2.imwrite(str(tmp_path / 'f_labelTrainIds.png'), label)
    info = dict(img_path=str(tmp_path / 'f_leftImg8bit.png'),
                seg_map_path=str(tmp_path / 'f_labelTrainIds.png'),
                depth_path=write_disparity(tmp_path / 'f_disparity.png', p),
                camera_path=write_camera(tmp_path / 'f_camera.json'),
                reduce_zero_label=False, seg_fields=[])
    expected = disparity_to_depth(p, BASELINE, FX)  # float32 values of each region
    lut = np.array([expected[label == k][0] for k in range(len(table))], np.float32)
    return info, lut, img


@pytest.mark.parametrize('seed', [0, 1, 2, 3])
def test_stock_pipeline_keeps_depth_aligned(tmp_path, seed):
    info, lut, _ = _frame(tmp_path)
    np.testing.assert_allclose(lut, [10, 20, 40, 0, 80 / 3], rtol=1e-6)
    # RandomResize builds its inner Resize from the *current* scope: under mmseg's scope it is
    # mmseg.Resize, which resizes every seg field (mmcv's Resize would skip gt_depth_map).
    with DefaultScope.overwrite_default_scope('mmseg'):
        pipeline = Compose([
            dict(type='LoadImageFromFile'),
            dict(type='LoadOptionalAnnotations'),
            dict(type='LoadCityscapesDepth'),
            dict(type='RandomResize', scale=(96, 64), ratio_range=(0.5, 1.5), keep_ratio=True),
            dict(type='RandomCrop', crop_size=(20, 30)),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackSegInputs'),
        ])
        np.random.seed(seed)
        out = pipeline(dict(info))
    sample = out['data_samples']
    depth = sample.gt_depth_map.data
    seg = sample.gt_sem_seg.data
    assert depth.shape == seg.shape == (1, 20, 30) and out['inputs'].shape[-2:] == (20, 30)
    assert depth.dtype.is_floating_point
    # nearest-neighbour: every depth value is one of the original ones, and exactly the one of
    # its label (both maps went through the same geometric transforms)
    np.testing.assert_array_equal(depth.numpy()[0], lut[seg.numpy()[0]])
    assert sample.metainfo['scale_factor'] != (1.0, 1.0)


def test_pipeline_unlabeled_frame(tmp_path):
    info, lut, img = _frame(tmp_path)
    info['seg_map_path'] = None
    with DefaultScope.overwrite_default_scope('mmseg'):
        pipeline = Compose([dict(type='LoadImageFromFile'), dict(type='LoadOptionalAnnotations'),
                            dict(type='LoadCityscapesDepth'), dict(type='PackSegInputs')])
        out = pipeline(dict(info))
    sample = out['data_samples']
    assert np.all(sample.gt_sem_seg.data.numpy() == 255)
    assert sample.gt_sem_seg.data.shape == (1,) + img.shape[:2]
    assert set(np.unique(sample.gt_depth_map.data.numpy())) <= set(lut.tolist())


def test_loading_after_resize_keeps_original_resolution(tmp_path):
    # Evaluation convention: labels and depth are loaded after Resize, at full resolution.
    info, lut, img = _frame(tmp_path)
    with DefaultScope.overwrite_default_scope('mmseg'):
        pipeline = Compose([dict(type='LoadImageFromFile'),
                            dict(type='Resize', scale=(96, 64), keep_ratio=True),
                            dict(type='LoadCityscapesDepth')])
        out = pipeline(dict(info))
    assert out['img'].shape[:2] == (64, 96)
    assert out['gt_depth_map'].shape == img.shape[:2]
    assert set(np.unique(out['gt_depth_map'])) <= set(lut.tolist())


def test_loading_after_a_crop_is_refused(tmp_path):
    info, _, _ = _frame(tmp_path)
    with DefaultScope.overwrite_default_scope('mmseg'):
        pipeline = Compose([dict(type='LoadImageFromFile'),
                            dict(type='RandomCrop', crop_size=(16, 16)),
                            dict(type='LoadCityscapesDepth')])
        with pytest.raises(ValueError, match='before geometric transforms'):
            pipeline(dict(info))
