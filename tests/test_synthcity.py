"""Tests of the SynthCity generator (Cityscapes-format procedural dataset)."""
import glob
import json
import os.path as osp
import re

import cv2
import numpy as np
import pytest
from conftest import load_script
from hypothesis import given, settings
from hypothesis import strategies as st

from mmseg_ccam.datasets.cityscapes_geometry import depth_to_disparity_png, disparity_png_to_depth
from mmseg_ccam.datasets.synthcity import (
    CITIES,
    PinholeCamera,
    frame_paths,
    generate_synthcity,
    label_id_to_train_id_lut,
    render_frame,
    scaled_intrinsics,
)
from mmseg_ccam.datasets.synthcity import raycast as rc
from mmseg_ccam.datasets.synthcity.labels import EGO_VEHICLE, SKY, TRAIN_CLASSES
from mmseg_ccam.datasets.synthcity.primitives import Material, PrimitiveBuilder

H, W = 64, 128


def _cityscapes_lut() -> np.ndarray:
    """label id -> train id straight from cityscapesscripts (independent reference)."""
    from cityscapesscripts.helpers.labels import labels
    lut = np.full(256, 255, dtype=np.uint8)
    for lab in labels:
        if 0 <= lab.id < 256:
            lut[lab.id] = lab.trainId if 0 <= lab.trainId < 255 else 255
    return lut


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthcity'))
    summary = generate_synthcity(root, num_train=3, num_val=2, height=H, width=W, seed=7,
                                 progress=False)
    return root, summary


def _files(root):
    return sorted(p[len(root):] for p in glob.glob(osp.join(root, '**', '*'), recursive=True)
                  if osp.isfile(p))


def test_layout_and_file_names(dataset):
    root, summary = dataset
    assert summary['num_frames'] == {'train': 3, 'val': 2}
    files = _files(root)
    assert len(files) == 5 * 5  # five files per frame
    pattern = re.compile(
        r'^/(leftImg8bit|gtFine|disparity|camera)/(train|val)/([a-z]+)/\3_(\d{6})_(\d{6})_'
        r'(leftImg8bit\.png|gtFine_labelIds\.png|gtFine_labelTrainIds\.png|disparity\.png|'
        r'camera\.json)$')
    for f in files:
        m = pattern.match(f)
        assert m, f'unexpected file {f}'
        folder, split, city, _, _, suffix = m.groups()
        assert city in CITIES[split]
        assert {'leftImg8bit': 'leftImg8bit.png', 'disparity': 'disparity.png',
                'camera': 'camera.json'}.get(folder, suffix) == suffix
    # Frame 0 of train: first city, sequence 0, Cityscapes' annotated frame 19.
    paths = frame_paths(root, 'train', 'ashford', 'ashford_000000_000019')
    img = cv2.imread(paths['image'], cv2.IMREAD_UNCHANGED)
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    for key in ('label_ids', 'train_ids'):
        lab = cv2.imread(paths[key], cv2.IMREAD_UNCHANGED)
        assert lab.shape == (H, W) and lab.dtype == np.uint8
    disp = cv2.imread(paths['disparity'], cv2.IMREAD_UNCHANGED)
    assert disp.shape == (H, W) and disp.dtype == np.uint16
    # The written image is the rendered RGB image (cv2 stores BGR).
    frame = render_frame(7, 'train', 0, H, W)
    np.testing.assert_array_equal(img[..., ::-1], frame.image)


def test_mmseg_cityscapes_dataset_reads_it(dataset):
    from mmseg.datasets import CityscapesDataset
    root, _ = dataset
    ds = CityscapesDataset(data_root=root, data_prefix=dict(
        img_path='leftImg8bit/val', seg_map_path='gtFine/val'), pipeline=[], lazy_init=False)
    assert len(ds) == 2
    info = ds.get_data_info(0)
    assert osp.exists(info['img_path']) and osp.exists(info['seg_map_path'])


def test_label_ids_map_to_train_ids_like_cityscapesscripts(dataset):
    root, _ = dataset
    ref = _cityscapes_lut()
    np.testing.assert_array_equal(label_id_to_train_id_lut()[:34], ref[:34])
    for path in glob.glob(osp.join(root, 'gtFine', '*', '*', '*_gtFine_labelIds.png')):
        ids = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        train = cv2.imread(path.replace('_labelIds', '_labelTrainIds'), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(train, ref[ids])
        assert set(np.unique(train)) <= set(range(19)) | {255}


def test_same_seed_same_bytes_other_seed_differs(dataset, tmp_path):
    root, _ = dataset
    # Fewer frames with the same seed: the frames that exist are byte-identical
    # (frames depend on (seed, split, index) only, not on the count).
    again = str(tmp_path / 'again')
    generate_synthcity(again, num_train=2, num_val=1, height=H, width=W, seed=7, progress=False)
    files = _files(again)
    assert len(files) == 3 * 5
    for f in files:
        with open(root + f, 'rb') as a, open(again + f, 'rb') as b:
            assert a.read() == b.read(), f
    other = str(tmp_path / 'other')
    generate_synthcity(other, num_train=1, num_val=0, height=H, width=W, seed=8, progress=False)
    f = '/leftImg8bit/train/ashford/ashford_000000_000019_leftImg8bit.png'
    with open(root + f, 'rb') as a, open(other + f, 'rb') as b:
        assert a.read() != b.read()


def test_class_coverage_over_50_frames():
    seen = np.zeros(256, dtype=np.int64)
    for i in range(50):
        seen += np.bincount(render_frame(0, 'train', i, H, W).train_ids.ravel(), minlength=256)
    present = {TRAIN_CLASSES[i] for i in range(19) if seen[i] > 0}
    assert len(present) >= 10, present
    for name in ('road', 'sidewalk', 'building', 'pole', 'vegetation', 'sky', 'person', 'car'):
        assert name in present


def test_disparity_decodes_to_render_depth(dataset):
    root, _ = dataset
    frame = render_frame(7, 'val', 1, H, W)
    paths = frame_paths(root, 'val', frame.city, frame.name)
    p = cv2.imread(paths['disparity'], cv2.IMREAD_UNCHANGED).astype(np.float64)
    with open(paths['camera']) as f:
        cam = json.load(f)
    baseline, fx = cam['extrinsic']['baseline'], cam['intrinsic']['fx']
    valid = p > 0
    true_disp = baseline * fx / frame.depth[valid].astype(np.float64)
    decoded = (p[valid] - 1) / 256
    # Within the PNG's rounding of disparity (half a 1/256 step).
    assert np.abs(decoded - true_disp).max() <= 0.5 / 256 + 1e-6
    # The same in depth: Z = baseline * fx / ((p - 1) / 256) is within the depth
    # interval that the half-step disparity rounding allows at each pixel.
    z = baseline * fx / decoded
    z_lo = baseline * fx / (true_disp + 0.5 / 256)
    z_hi = baseline * fx / (true_disp - 0.5 / 256)
    assert np.all((z >= z_lo * (1 - 1e-6)) & (z <= z_hi * (1 + 1e-6)))
    # Invalid: sky, the ego hood, beyond 80 m. Valid: everything else with depth.
    assert np.all(p[frame.label_ids == SKY] == 0)
    assert np.all(p[frame.label_ids == EGO_VEHICLE] == 0)
    assert np.all(p[frame.depth > 80.0] == 0)
    in_range = (frame.depth > 0) & (frame.depth <= 80.0)
    assert np.array_equal(valid, in_range)
    assert (frame.label_ids == SKY).any() and valid.any()


def test_camera_json_has_cityscapes_keys_and_scaled_intrinsics(dataset):
    root, _ = dataset
    path = frame_paths(root, 'train', 'brookline', 'brookline_000000_000019')['camera']
    with open(path) as f:
        cam = json.load(f)
    assert set(cam) == {'extrinsic', 'intrinsic'}
    assert set(cam['extrinsic']) == {'baseline', 'pitch', 'roll', 'x', 'y', 'yaw', 'z'}
    assert set(cam['intrinsic']) == {'fx', 'fy', 'u0', 'v0'}
    assert cam['extrinsic']['baseline'] == pytest.approx(0.209313)
    assert cam['intrinsic']['fx'] == pytest.approx(2262.52 * W / 2048)
    assert cam['intrinsic']['fy'] == pytest.approx(2265.30 * H / 1024, rel=1e-5)
    assert cam['intrinsic']['u0'] == pytest.approx((1096.98 + 0.5) * W / 2048 - 0.5)
    assert cam['intrinsic']['v0'] == pytest.approx((513.137 + 0.5) * H / 1024 - 0.5)
    assert 1.0 < cam['extrinsic']['z'] < 1.5 and abs(cam['extrinsic']['pitch']) < 0.1


def _camera(pitch=0.0, height=1.25, h=48, w=96):
    return PinholeCamera(**scaled_intrinsics(h, w), width=w, height=h, cam_height=height,
                         pitch=pitch)


def test_road_plane_depth_matches_analytic_formula():
    cam = _camera(pitch=0.0, height=1.25)
    hits = rc.raycast(PrimitiveBuilder().build(), cam, rc.RayBundle.from_camera(cam))
    for v in range(cam.height):
        if v > cam.v0:
            # Hand-derived: the ray of row v drops (v - v0) / fy per metre of depth.
            expected = 1.25 * cam.fy / (v - cam.v0)
            np.testing.assert_allclose(hits.depth[v], expected, rtol=1e-5)
            assert np.all(hits.index[v] == 0)
        else:
            assert np.all(np.isinf(hits.depth[v])) and np.all(hits.index[v] == -1)


def test_depth_is_camera_z_and_nearest_hit_wins():
    cam = _camera(pitch=0.0, height=1.25)
    pb = PrimitiveBuilder()
    # A wall facing the camera whose front is the plane Z = 10: constant depth.
    wall = pb.box((-50, -1, 10), (50, 30, 11), 11, Material.PLAIN, (0.5, 0.5, 0.5))
    # A sphere of radius 1 centred on the optical axis at Z = 5: nearest, 4 m.
    ball = pb.ellipsoid((0, 1.25, 5), (1, 1, 1), 21, Material.PLAIN, (0.5, 0.5, 0.5))
    # A pole (cylinder r = 0.5) at x = 2, Z = 6.5: its nearest point is at Z = 6.
    pole = pb.cylinder(2.0, 6.5, 0.0, 8.0, 0.5, 17, Material.PLAIN, (0.5, 0.5, 0.5))
    hits = rc.raycast(pb.build(), cam, rc.RayBundle.from_camera(cam))
    walls = hits.index == wall
    assert walls.sum() > 100
    np.testing.assert_allclose(hits.depth[walls], 10.0, rtol=1e-6)
    u0, v0 = int(round(cam.u0)), int(round(cam.v0))
    assert hits.index[v0, u0] == ball
    # Independent reference: ray d (camera-z 1) against the sphere |t d - c| = 1.
    d = np.array([(u0 - cam.u0) / cam.fx, (v0 - cam.v0) / cam.fy, 1.0])
    c = np.array([0.0, 0.0, 5.0])
    b = d @ c
    t = (b - np.sqrt(b * b - (d @ d) * (c @ c - 1))) / (d @ d)
    assert hits.depth[v0, u0] == pytest.approx(t, rel=1e-5)
    assert 4.0 <= t < 4.01
    # The column whose ray passes x = 2 at Z = 6 hits the pole's front, near Z = 6.
    col = int(round(cam.u0 + cam.fx * 2.0 / 6.0))
    assert hits.index[v0, col] == pole
    sx = (col - cam.u0) / cam.fx        # ray: x = sx * t, z = t; circle (x-2)^2+(z-6.5)^2=.25
    qa, qb, qc = sx * sx + 1, -2 * (2 * sx + 6.5), 4 + 6.5 ** 2 - 0.25
    t = (-qb - np.sqrt(qb * qb - 4 * qa * qc)) / (2 * qa)
    assert hits.depth[v0, col] == pytest.approx(t, rel=1e-5)


def test_culling_does_not_change_the_result(monkeypatch):
    """Rectangle and occlusion culling are exact: same buffers as testing everything."""
    from mmseg_ccam.datasets.synthcity.generator import frame_rng
    from mmseg_ccam.datasets.synthcity.layout import sample_scene
    for i in range(3):
        scene = sample_scene(frame_rng(3, 'train', i), 48, 96)
        rays = rc.RayBundle.from_camera(scene.camera)
        culled = rc.raycast(scene.prims, scene.camera, rays)
        with monkeypatch.context() as m:
            # Every primitive tested against every ray, in index order, no occlusion skip.
            m.setattr(rc, 'screen_rects', lambda p, c: (np.tile([0, 48, 0, 96], (len(p), 1)),
                                                         np.full(len(p), -1.0)))
            brute = rc.raycast(scene.prims, scene.camera, rays)
        np.testing.assert_array_equal(culled.depth, brute.depth)
        np.testing.assert_array_equal(culled.index, brute.index)


@settings(max_examples=40, deadline=None)
@given(depth=st.floats(0.5, 80.0), width=st.sampled_from([64, 128, 512, 2048]))
def test_disparity_encoding_round_trip(depth, width):
    fx = 2262.52 * width / 2048
    p = depth_to_disparity_png(np.array([[depth]]), baseline=0.209313, fx=fx, max_depth=80.0)
    d_true = 0.209313 * fx / depth
    if round(d_true * 256) == 0:
        assert p[0, 0] == 0      # would decode to infinite depth
        return
    if d_true * 256 + 1 > 65535:
        assert p[0, 0] == 65535  # clipped: nearer than uint16 can encode
        return
    z = disparity_png_to_depth(p, baseline=0.209313, fx=fx)[0, 0]
    d_dec = 0.209313 * fx / z
    assert abs(d_dec - d_true) <= 0.5 / 256 + 1e-5


def test_encoding_invalid_values():
    depth = np.array([[0.0, np.inf, 80.5, 10.0]])
    p = depth_to_disparity_png(depth, baseline=0.2, fx=100.0, max_depth=80.0)
    assert p.dtype == np.uint16
    assert p.tolist() == [[0, 0, 0, int(round(256 * 0.2 * 100 / 10)) + 1]]
    assert disparity_png_to_depth(p, baseline=0.2, fx=100.0)[0, :3].tolist() == [0.0, 0.0, 0.0]


def test_bad_arguments_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match='num_train'):
        generate_synthcity(str(tmp_path), num_train=-1, num_val=0, progress=False)
    with pytest.raises(ValueError, match='split'):
        render_frame(0, 'training', 0, H, W)
    with pytest.raises(ValueError, match='seed'):
        generate_synthcity(str(tmp_path), num_train=1, num_val=0, seed=-3, progress=False)


def test_cli_writes_the_dataset(tmp_path, capsys):
    cli = load_script('tools/generate_synthcity.py')
    summary = cli.main([str(tmp_path), '--num-train', '1', '--num-val', '1', '--height', '32',
                        '--width', '64', '--seed', '3', '--quiet'])
    assert summary['num_frames'] == {'train': 1, 'val': 1}
    assert json.loads(capsys.readouterr().out)['height'] == 32
    assert len(_files(str(tmp_path))) == 10
