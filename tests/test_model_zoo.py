"""The shipped SynthCity checkpoint: its sha256 is the one in docs/model_zoo.md, it fits the shipped
demo config exactly, and it segments and measures the demo frame (ground truth under demo/)."""
import hashlib
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch
from conftest import ROOT, load_script

import mmseg_ccam  # noqa: F401
from mmseg_ccam.apis import inference_model, init_model, load_camera_json
from mmseg_ccam.datasets.cityscapes_geometry import disparity_png_to_depth
from mmseg_ccam.engine import checkpoint_key_mismatch

CONFIG = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity.py')
CHECKPOINT = osp.join(ROOT, 'checkpoints', 'ccam_r18_synthcity.pth')
DEMO = osp.join(ROOT, 'demo')


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_checkpoint_is_small_and_its_sha256_is_documented():
    assert osp.getsize(CHECKPOINT) < 10e6
    with open(osp.join(ROOT, 'docs', 'model_zoo.md'), encoding='utf-8') as f:
        documented = re.findall(r'\b[0-9a-f]{64}\b', f.read())
    assert sha256(CHECKPOINT) in documented


def test_checkpoint_fits_the_shipped_config_exactly():
    model = init_model(CONFIG, CHECKPOINT)
    state = torch.load(CHECKPOINT, map_location='cpu', weights_only=True)['state_dict']
    report = checkpoint_key_mismatch(model.state_dict(), state)
    assert not any(report.values()), report
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key].cpu(), value), key
    assert model.dataset_meta['classes'][0] == 'road' and len(model.dataset_meta['classes']) == 19


def test_checkpoint_segments_and_measures_the_demo_frame():
    model = init_model(CONFIG, CHECKPOINT)
    result = inference_model(model, osp.join(DEMO, 'synthcity_val.png'))
    labels = cv2.imread(osp.join(DEMO, 'synthcity_val_labelTrainIds.png'), cv2.IMREAD_UNCHANGED)
    known = labels != 255
    accuracy = float((result.seg[known] == labels[known]).mean())
    # the constant "road" predictor scores 0.33 pixel accuracy on the val split; the trained
    # model about 0.85 (docs/model_zoo.md)
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
    config_path = 'configs/ccam/ccam_r18_synthcity.py'
    checkpoint_path = 'checkpoints/ccam_r18_synthcity.pth'
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
