"""init_model / inference_model on a tiny SegDepthEncoderDecoder, and the image demo."""
import copy
import json

import cv2
import numpy as np
import pytest
import torch
from conftest import load_script
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.registry import init_default_scope
from mmengine.runner import save_checkpoint
from mmengine.structures import PixelData
from mmseg.apis import inference_model as mmseg_inference_model
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_ccam  # noqa: F401
from mmseg_ccam.apis import (
    SegDepthDataSample,
    build_test_pipeline,
    depth_to_points,
    inference_model,
    init_model,
)

TINY_CONFIG = """
custom_imports = dict(imports=['mmseg_ccam'], allow_failed_imports=False)
default_scope = 'mmseg'
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='SegDepthEncoderDecoder',
    data_preprocessor=dict(type='SegDepthDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                           seg_pad_val=255, depth_pad_val=0),
    pretrained='/nonexistent/resnet.pth',
    backbone=dict(type='ResNetV1c', depth=18, base_channels=8, stem_channels=8,
                  num_stages=4, out_indices=(0, 1, 2, 3), norm_cfg=norm_cfg,
                  init_cfg=None),
    neck=dict(type='CCAMNeck', in_channels=[8, 16, 32, 64], levels=(0, 3), norm_cfg=norm_cfg),
    decode_head=dict(type='FCNHead', in_channels=64, in_index=3, channels=8, num_convs=1,
                     concat_input=False, num_classes=19, norm_cfg=norm_cfg,
                     init_cfg=dict(type='Pretrained', checkpoint='/nonexistent/head.pth'),
                     loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    depth_head=dict(type='DepthHead', in_channels=64, in_index=3, channels=8, dilations=(1, 2),
                    c1_in_channels=8, c1_channels=4, norm_cfg=norm_cfg, min_depth=0.5,
                    max_depth=80.0),
    test_cfg=dict(mode='whole'))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 32), keep_ratio=True),
    dict(type='LoadOptionalAnnotations'),
    dict(type='LoadCityscapesDepth', max_depth=80.0),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(batch_size=1, dataset=dict(type='CityscapesDepthDataset',
                                                  data_root='data/none', pipeline=test_pipeline))
"""

CLASSES = tuple(f'c{i}' for i in range(19))
PALETTE = [[(13 * i) % 256, (71 * i) % 256, (151 * i) % 256] for i in range(19)]


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """Config file, checkpoint (random weights, perturbed BN statistics) and a 48x96 image."""
    root = tmp_path_factory.mktemp('tiny')
    cfg_path = root / 'tiny_cfg.py'
    cfg_path.write_text(TINY_CONFIG)
    cfg = Config.fromfile(str(cfg_path))
    cfg.model.pretrained = None
    cfg.model.decode_head.init_cfg = None
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith('running_mean'):
                buf.uniform_(-0.1, 0.1)
    ckpt = root / 'tiny.pth'
    save_checkpoint(dict(meta=dict(dataset_meta=dict(classes=CLASSES, palette=PALETTE)),
                         state_dict=model.state_dict()), str(ckpt))
    rng = np.random.default_rng(0)
    img = cv2.resize(rng.integers(0, 256, (6, 12, 3), dtype=np.uint8), (96, 48),
                     interpolation=cv2.INTER_LINEAR)
    img_path = root / 'frame_leftImg8bit.png'
    cv2.imwrite(str(img_path), img)
    return dict(cfg=str(cfg_path), ckpt=str(ckpt), img=str(img_path), state=model.state_dict(),
                root=root)


@pytest.fixture(scope='module')
def model(tiny):
    return init_model(tiny['cfg'], tiny['ckpt'], device='cpu')


def test_init_model_loads_weights_meta_and_turns_off_pretrained(tiny, model):
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, tiny['state'][key], msg=key)
    assert model.dataset_meta['classes'] == CLASSES and model.dataset_meta['palette'] == PALETTE
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
    assert not model.training
    assert model.cfg.model.pretrained is None and model.cfg.model.decode_head.init_cfg is None


def test_init_model_without_meta_falls_back_to_cityscapes(tiny, tmp_path):
    ckpt = tmp_path / 'nometa.pth'
    torch.save(dict(state_dict=tiny['state']), str(ckpt))
    with pytest.warns(UserWarning, match='dataset_meta'):
        m = init_model(tiny['cfg'], str(ckpt))
    assert m.dataset_meta['classes'][0] == 'road' and len(m.dataset_meta['palette']) == 19


def test_pipeline_drops_annotation_loaders(tiny):
    cfg = Config.fromfile(tiny['cfg'])
    names = [type(t).__name__ for t in build_test_pipeline(cfg).transforms]
    assert names == ['LoadImageFromFile', 'Resize', 'PackSegInputs']
    names = [type(t).__name__ for t in build_test_pipeline(cfg, from_array=True).transforms]
    assert names == ['LoadImageFromNDArray', 'Resize', 'PackSegInputs']


def test_inference_matches_mmseg_reference_at_original_size(tiny, model):
    result = inference_model(model, tiny['img'])
    # MMSegmentation's result type and fields, at the original size
    assert isinstance(result, SegDataSample) and isinstance(result, SegDepthDataSample)
    assert set(result.keys()) == {'pred_sem_seg', 'seg_logits', 'pred_depth_map'}
    assert result.pred_sem_seg.data.shape == (1, 48, 96)
    assert result.seg_logits.data.shape == (19, 48, 96)
    assert result.pred_depth_map.data.shape == (1, 48, 96)
    assert result.ori_shape == (48, 96) and result.img_path == tiny['img']
    torch.testing.assert_close(result.pred_sem_seg.data[0], result.seg_logits.data.argmax(0))
    # the NumPy shortcuts
    assert result.seg.shape == (48, 96) and result.seg.dtype == np.int64
    assert result.depth.shape == (48, 96) and result.depth.dtype == np.float32
    np.testing.assert_array_equal(result.seg, result.pred_sem_seg.data[0].numpy())
    np.testing.assert_array_equal(result.depth, result.pred_depth_map.data[0].numpy())
    assert 0.5 <= result.depth.min() and result.depth.max() <= 80.0
    # Reference: mmseg's own inference on the same pipeline without our annotation loaders.
    original_cfg = model.cfg
    model.cfg = copy.deepcopy(original_cfg)
    model.cfg.test_pipeline = [dict(type='LoadImageFromFile'),
                               dict(type='Resize', scale=(64, 32), keep_ratio=True),
                               dict(type='PackSegInputs')]
    try:
        ref = mmseg_inference_model(model, tiny['img'])
    finally:
        model.cfg = original_cfg
    assert type(ref) is SegDataSample and set(ref.keys()) == set(result.keys())
    for key in ref.keys():
        torch.testing.assert_close(result.get(key).data, ref.get(key).data, msg=key)


def test_array_and_list_inputs_give_the_same_result(tiny, model):
    from_path = inference_model(model, tiny['img'])
    bgr = cv2.imread(tiny['img'])
    both = inference_model(model, [bgr, tiny['img']])
    assert isinstance(both, list) and len(both) == 2
    for r in both:
        np.testing.assert_array_equal(r.seg, from_path.seg)
        np.testing.assert_array_equal(r.depth, from_path.depth)
    small = inference_model(model, [cv2.resize(bgr, (64, 32))])[0]  # list may mix sizes
    assert small.depth.shape == (32, 64)


def test_inference_errors(tiny, model):
    with pytest.raises(FileNotFoundError, match='missing.png'):
        inference_model(model, 'missing.png')
    with pytest.raises(ValueError, match=r'\(H, W, 3\)'):
        inference_model(model, np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(AttributeError, match='model.cfg'):
        inference_model(torch.nn.Linear(1, 1), tiny['img'])


@MODELS.register_module(name='_StubDepthOnlyModel', force=True)
class _StubDepthOnlyModel(BaseModel):
    """Test stub: predicts depth = row index + 1 at the original size, no segmentation."""

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)

    def forward(self, inputs, data_samples=None, mode='predict'):
        out = []
        for ds in data_samples:
            h, w = ds.ori_shape
            s = SegDataSample(metainfo=ds.metainfo)
            rows = torch.arange(h, dtype=torch.float32)[:, None].expand(h, w)
            s.pred_depth_map = PixelData(data=(rows + 1)[None])
            out.append(s)
        return out


def test_depth_only_model_gives_no_seg(tmp_path):
    cfg = Config(dict(
        model=dict(type='_StubDepthOnlyModel',
                   data_preprocessor=dict(type='SegDataPreProcessor')),
        test_pipeline=[dict(type='LoadImageFromNDArray'),
                       dict(type='Resize', scale=(8, 4), keep_ratio=False),
                       dict(type='PackSegInputs')]))
    m = init_model(cfg)
    result = inference_model(m, np.zeros((20, 16, 3), np.uint8))
    assert result.seg is None and 'pred_sem_seg' not in result and 'seg_logits' not in result
    np.testing.assert_array_equal(result.depth, np.repeat(np.arange(1, 21.0)[:, None], 16, 1))
    assert m.dataset_meta['classes'][0] == 'road'  # depth-only: Cityscapes names by default


def load_demo():
    return load_script('demo/image_demo.py')


def test_image_demo_writes_consistent_outputs(tiny, model, tmp_path):
    demo = load_demo()
    camera = tmp_path / 'frame_camera.json'
    # a camera calibrated for a 192 x 96 version of this frame: intrinsics are halved
    camera.write_text(json.dumps({'extrinsic': {'baseline': 0.5},
                                  'intrinsic': {'fx': 120.0, 'fy': 110.0, 'u0': 95.5,
                                                'v0': 47.5}}))
    out = tmp_path / 'out'
    written = demo.main([tiny['img'], tiny['cfg'], tiny['ckpt'], '--out-dir', str(out),
                         '--camera', str(camera), '--camera-size', '192', '96',
                         '--point-cloud', '--color-by', 'class'])
    name = 'frame_leftImg8bit'
    assert written == {'seg': str(out / f'{name}_seg.png'),
                       'depth': str(out / f'{name}_depth.png'),
                       'disparity': str(out / f'{name}_disparity.png'),
                       'ply': str(out / f'{name}.ply')}
    result = inference_model(model, tiny['img'])
    fx, fy, u0, v0 = 60.0, 55.0, 47.5, 23.5  # (c + 0.5) / 2 - 0.5

    disp = cv2.imread(written['disparity'], cv2.IMREAD_UNCHANGED)
    assert disp.dtype == np.uint16 and disp.shape == (48, 96)
    decoded = 0.5 * fx / ((disp.astype(np.float64) - 1) / 256)
    np.testing.assert_allclose(decoded, result.depth, rtol=1e-3)

    header_end = open(written['ply'], 'rb').read().index(b'end_header\n') + 11
    raw = open(written['ply'], 'rb').read()[header_end:]
    dtype = [('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('red', 'u1'), ('green', 'u1'),
             ('blue', 'u1'), ('label', 'u1')]
    pts = np.frombuffer(raw, dtype=dtype)
    assert len(pts) == 48 * 96
    np.testing.assert_array_equal(pts['z'], result.depth.reshape(-1))
    u = fx * pts['x'].astype(np.float64) / pts['z'] + u0
    v = fy * pts['y'].astype(np.float64) / pts['z'] + v0
    np.testing.assert_allclose(u, np.tile(np.arange(96), 48), atol=1e-3)
    np.testing.assert_allclose(v, np.repeat(np.arange(48), 96), atol=1e-3)
    np.testing.assert_array_equal(pts['label'], result.seg.reshape(-1))
    palette = np.asarray(PALETTE, np.uint8)
    np.testing.assert_array_equal(np.stack([pts['red'], pts['green'], pts['blue']], 1),
                                  palette[result.seg.reshape(-1)])
    np.testing.assert_array_equal(
        depth_to_points(result.depth, fx, fy, u0, v0).reshape(-1, 3),
        np.stack([pts['x'], pts['y'], pts['z']], 1))

    seg_png = cv2.imread(written['seg'])[..., ::-1].astype(np.float64)
    img = cv2.imread(tiny['img'])[..., ::-1].astype(np.float64)
    expected = (img * 0.5 + palette[result.seg] * 0.5).astype(np.uint8)
    np.testing.assert_array_equal(seg_png, expected)
    assert cv2.imread(written['depth']).shape == (48, 96, 3)


def test_image_demo_default_camera_is_cityscapes_scaled_to_width(tiny, tmp_path):
    demo = load_demo()
    cam = demo.camera_for_image(None, None, 96, 48)
    s = 96 / 2048
    assert cam.fx == pytest.approx(2262.52 * s) and cam.baseline == 0.209313
    assert cam.u0 == pytest.approx((1096.98 + 0.5) * s - 0.5)
    with pytest.warns(UserWarning, match='aspect ratio'):
        cam = demo.camera_for_image(None, None, 96, 96)
    assert cam.fy == pytest.approx(2265.3017905988554 * s)


@pytest.mark.parametrize('case, expected', [
    ('empty', r'is empty \(0 bytes\)'),
    ('text', r"is not an image OpenCV can read \(it starts with 'hello"),
    ('truncated', r'is a PNG file that does not decode: it is truncated or corrupt'),
    ('one_pixel', r'is 1x1 pixels; .* at least 16x16'),
])
def test_image_demo_refuses_files_that_are_not_usable_images(tiny, tmp_path, case, expected):
    path = tmp_path / f'{case}.png'
    if case == 'empty':
        path.write_bytes(b'')
    elif case == 'text':
        path.write_text('hello, this is not an image\n')
    elif case == 'truncated':
        content = open(tiny['img'], 'rb').read()
        path.write_bytes(content[:len(content) // 2])
    else:
        cv2.imwrite(str(path), np.full((1, 1, 3), 128, np.uint8))
    demo = load_demo()
    with pytest.raises(ValueError, match=expected) as err:
        demo.main([str(path), tiny['cfg'], tiny['ckpt'], '--out-dir', str(tmp_path / 'out')])
    assert str(path) in str(err.value)
    assert not (tmp_path / 'out').exists()  # refused before anything is written
    # the API gives the same error
    with pytest.raises(ValueError, match=expected):
        inference_model(init_model(tiny['cfg'], tiny['ckpt']), str(path))


def test_inference_refuses_tiny_arrays(model):
    with pytest.raises(ValueError, match=r'Image 0 \(an array\) is 8x4 pixels'):
        inference_model(model, np.zeros((4, 8, 3), np.uint8))


def _read_ply_points(path):
    raw = open(path, 'rb').read()
    header, body = raw.split(b'end_header\n', 1)
    names = [line.split()[-1].decode() for line in header.splitlines()
             if line.startswith(b'property')]
    kinds = {'x': '<f4', 'y': '<f4', 'z': '<f4'}
    return np.frombuffer(body, dtype=[(n, kinds.get(n, 'u1')) for n in names])


def test_image_demo_leaves_sky_out_of_depth_picture_disparity_and_point_cloud(tiny, tmp_path):
    # a classifier with large random weights, so that the image gets several classes
    state = dict(tiny['state'])
    weight = state['decode_head.conv_seg.weight']
    state['decode_head.conv_seg.weight'] = 5 * torch.randn(
        weight.shape, generator=torch.Generator().manual_seed(0))
    state['decode_head.conv_seg.bias'] = torch.zeros_like(state['decode_head.conv_seg.bias'])
    ckpt = tmp_path / 'sky.pth'
    save_checkpoint(dict(meta=dict(dataset_meta=dict(classes=CLASSES, palette=PALETTE)),
                         state_dict=state), str(ckpt))
    result = inference_model(init_model(tiny['cfg'], str(ckpt)), tiny['img'])
    ids, counts = np.unique(result.seg, return_counts=True)
    assert len(ids) >= 2, 'the tiny model must predict two classes for this test'
    sky = int(ids[np.argmax(counts)])  # call the most frequent predicted class "sky"
    classes = list(CLASSES)
    classes[sky] = 'sky'
    save_checkpoint(dict(meta=dict(dataset_meta=dict(classes=tuple(classes), palette=PALETTE)),
                         state_dict=state), str(ckpt))
    is_sky = result.seg == sky
    demo = load_demo()
    common = [tiny['img'], tiny['cfg'], str(ckpt), '--point-cloud']
    masked = demo.main([*common, '--out-dir', str(tmp_path / 'masked')])
    kept = demo.main([*common, '--out-dir', str(tmp_path / 'kept'), '--no-depth-classes'])

    pts = _read_ply_points(masked['ply'])
    assert len(pts) == int((~is_sky).sum()) > 0
    assert sky not in set(pts['label'].tolist())
    np.testing.assert_array_equal(pts['z'], result.depth[~is_sky])
    assert len(_read_ply_points(kept['ply'])) == is_sky.size

    disp = cv2.imread(masked['disparity'], cv2.IMREAD_UNCHANGED)
    assert (disp[is_sky] == 0).all() and (disp[~is_sky] > 0).all()
    assert (cv2.imread(kept['disparity'], cv2.IMREAD_UNCHANGED) > 0).all()
    depth_png, kept_png = cv2.imread(masked['depth']), cv2.imread(kept['depth'])
    assert (depth_png[is_sky] == 0).all()  # drawn as invalid (black)
    np.testing.assert_array_equal(depth_png[~is_sky], kept_png[~is_sky])

    with pytest.raises(ValueError, match="'building' is not a class of this model"):
        demo.main([*common, '--out-dir', str(tmp_path / 'x'), '--no-depth-classes', 'building'])


def test_visualizer_draws_the_inference_result(tiny, model, tmp_path):
    """The SegDataSample of inference_model goes straight into the visualizer (as
    SegVisualizationHook's samples do): image | seg overlay | coloured depth."""
    from mmseg_ccam.visualization import SegDepthLocalVisualizer

    result = inference_model(model, tiny['img'])
    vis = SegDepthLocalVisualizer(name='vis_inference_result', min_depth=1.0, max_depth=80.0)
    vis.dataset_meta = dict(model.dataset_meta)
    image = cv2.imread(tiny['img'])[..., ::-1]
    out_file = tmp_path / 'drawn.png'
    vis.add_datasample('frame', image, data_sample=result, out_file=str(out_file))
    drawn = cv2.imread(str(out_file))[..., ::-1]
    assert drawn.shape == (48, 3 * 96, 3)  # no ground truth: one row of three tiles
    np.testing.assert_array_equal(drawn[:, :96], image)
    np.testing.assert_array_equal(drawn[:, 96:192],
                                  vis.draw_seg_overlay(image, result.pred_sem_seg))
