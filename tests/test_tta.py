"""SegDepthTTAModel (multi-scale + flip) against predictions merged by hand, and --tta in
tools/test.py on a tiny SynthCity."""
import json
import os.path as osp
from glob import glob

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT, run_python, tiny_ccam_cfg
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_ccam  # noqa: F401
from mmseg_ccam.models.segmentors import SegDepthTTAModel, tta_config
from mmseg_ccam.utils.train_scales import train_ratio_range

NUM_CLASSES = 4
H, W = 40, 72


def tiny_model():
    init_default_scope('mmseg')
    cfg = tiny_ccam_cfg(num_classes=NUM_CLASSES)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    with torch.no_grad():  # non-trivial BN statistics, so eval differs from identity
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def image():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    img[:, : W // 3] //= 3  # an asymmetric image: flipping it changes the prediction
    return img


def tta_batch(scales, flips=(0.0, 1.0)):
    pipeline = Compose([
        dict(type='LoadImageFromNDArray'),
        dict(type='TestTimeAug', transforms=[
            [dict(type='Resize', scale_factor=s, keep_ratio=True) for s in scales],
            [dict(type='RandomFlip', prob=p, direction='horizontal') for p in flips],
            [dict(type='PackSegInputs')]])])
    return pseudo_collate([pipeline(dict(img=image()))])


def by_hand(model, scale, flip):
    """(softmax scores (K, H, W), depth (1, H, W)) of one view at the original size, computed
    from the raw model: normalise, resize, flip, run encode_decode, flip back, resize back."""
    x = torch.from_numpy(image()).permute(2, 0, 1).float()[[2, 1, 0]]  # BGR -> RGB
    mean = torch.tensor([123.675, 116.28, 103.53])[:, None, None]
    std = torch.tensor([58.395, 57.12, 57.375])[:, None, None]
    h, w = int(H * scale + 0.5), int(W * scale + 0.5)
    img = image()
    if scale != 1:
        img = mmcv.imresize(img, (w, h))
        x = torch.from_numpy(img).permute(2, 0, 1).float()[[2, 1, 0]]
    x = ((x - mean) / std)[None]
    if flip:
        x = x.flip(3)
    meta = dict(img_shape=(h, w), pad_shape=x.shape[2:], ori_shape=(H, W))
    with torch.no_grad():
        out = model.encode_decode(x, [meta])
    views = []
    for key in ('seg', 'depth'):
        y = out[key]
        if flip:
            y = y.flip(3)
        y = F.interpolate(y, size=(H, W), mode='bilinear', align_corners=False)[0]
        views.append(y.softmax(0) if key == 'seg' else y)
    return views


def test_flip_tta_is_the_mean_of_the_prediction_and_the_flipped_back_flipped_prediction():
    model = tiny_model()
    tta = SegDepthTTAModel(module=model)
    merged = tta.test_step(tta_batch(scales=[1.0]))
    assert len(merged) == 1
    seg0, depth0 = by_hand(model, 1.0, flip=False)
    seg1, depth1 = by_hand(model, 1.0, flip=True)
    # the flip does change the prediction (else the test would prove nothing)
    assert (depth0 - depth1).abs().max() > 1e-3
    out = merged[0]
    torch.testing.assert_close(out.seg_logits.data, (seg0 + seg1) / 2, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.pred_depth_map.data, (depth0 + depth1) / 2, atol=1e-4,
                               rtol=1e-5)
    assert torch.equal(out.pred_sem_seg.data, ((seg0 + seg1) / 2).argmax(0, keepdim=True))
    assert out.pred_sem_seg.shape == (H, W) and out.metainfo['flip'] is False


def test_multiscale_tta_resizes_every_scale_to_the_original_size_and_averages_in_metres():
    model = tiny_model()
    tta = SegDepthTTAModel(module=model)
    merged = tta.test_step(tta_batch(scales=[0.5, 1.0, 1.5]))[0]
    views = [by_hand(model, s, f) for s in (0.5, 1.0, 1.5) for f in (False, True)]
    seg = sum(v[0] for v in views) / len(views)
    depth = sum(v[1] for v in views) / len(views)
    torch.testing.assert_close(merged.seg_logits.data, seg, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(merged.pred_depth_map.data, depth, atol=1e-4, rtol=1e-5)


def test_tta_needs_an_unflipped_view():
    tta = SegDepthTTAModel(module=tiny_model())
    with pytest.raises(ValueError, match='RandomFlip'):
        tta.test_step(tta_batch(scales=[1.0], flips=(1.0, )))


@pytest.mark.parametrize('config', ['ccam_r18_synthcity.py', 'ccam_r50_cityscapes.py'])
def test_tta_config_wraps_the_model_and_swaps_the_test_pipeline(config):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'ccam', config))
    tta = tta_config(cfg)
    assert tta.model.type == 'SegDepthTTAModel'
    assert tta.model.module == cfg.model
    pipeline = tta.test_dataloader.dataset.pipeline
    assert pipeline == cfg.tta_pipeline and pipeline[-1]['type'] == 'TestTimeAug'
    # annotations load after Resize (original resolution) and before the flips
    kinds = [[t['type'] for t in alt] for alt in pipeline[-1]['transforms']]
    assert kinds.index(['RandomFlip', 'RandomFlip']) > kinds.index(['LoadCityscapesDepth'])
    flips = [t['prob'] for t in pipeline[-1]['transforms'][kinds.index(['RandomFlip'] * 2)]]
    assert flips == [0.0, 1.0]
    assert cfg.model.type == 'SegDepthEncoderDecoder'  # the input config is left alone


def test_tta_config_keeps_the_modules_data_preprocessor(tmp_path):
    """MMEngine's Runner gives a model dict without data_preprocessor the config's top-level one
    and BaseTTAModel puts that in place of the module's: for the Lite0 demo model (mean 127,
    std 128; the top-level variable is ImageNet's) --tta would see mis-normalised images."""
    from mmengine.runner import Runner
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'ccam', 'ccam_lite0_synthcity_cw.py'))
    assert cfg.data_preprocessor.mean != cfg.model.data_preprocessor.mean  # the case at hand
    tta = tta_config(cfg)
    assert tta.model.data_preprocessor == cfg.model.data_preprocessor
    runner = Runner(model=tta.model, work_dir=str(tmp_path), default_scope='mmseg',
                    data_preprocessor=tta.data_preprocessor)  # as Runner.from_cfg passes it
    module = runner.model.module
    assert module.data_preprocessor.mean.flatten().tolist() == [127.0] * 3
    assert module.data_preprocessor.std.flatten().tolist() == [128.0] * 3


def test_tta_config_warns_about_views_outside_the_training_scales():
    """Cityscapes' 0.5-1.75x views on a SynthCity config (trained at 0.5-1.0x): the three views
    above 1.0x are named; the shipped SynthCity and Cityscapes TTA pipelines pass silently."""
    import warnings
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity.py'))
    for name in ('ccam_r18_synthcity.py', 'ccam_r50_cityscapes.py'):
        shipped = Config.fromfile(osp.join(ROOT, 'configs', 'ccam', name))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            tta_config(shipped)
        assert not [w for w in caught if 'tta_pipeline' in str(w.message)], name
    resize = cfg.tta_pipeline[1]['transforms'][0][0]
    cfg.tta_pipeline[1]['transforms'][0] = [
        dict(resize, scale=(int(512 * r), int(256 * r))) for r in (0.5, 1.0, 1.25, 1.5, 1.75)]
    with pytest.warns(UserWarning, match=r'views at 1.25x, 1.5x, 1.75x the training '
                      r'RandomResize scale lie outside'):
        tta_config(cfg)


def test_tta_config_without_tta_pipeline_names_the_key():
    cfg = Config(dict(model=dict(type='SegDepthEncoderDecoder')))
    with pytest.raises(KeyError, match='tta_pipeline'):
        tta_config(cfg)


def test_test_py_tta_on_tiny_synthcity(tmp_path):
    """tools/test.py --tta runs the TTA pipeline and model, and its metrics differ from the
    plain evaluation of the same checkpoint."""
    from mmengine.runner import save_checkpoint
    data = tmp_path / 'synthcity'
    run_python([osp.join(ROOT, 'tools', 'generate_synthcity.py'), str(data), '--num-train', '1',
                '--num-val', '2', '--height', '64', '--width', '128', '--seed', '3'], tmp_path)
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity.py'))
    scales = cfg.tta_pipeline[1]['transforms'][0]
    cfg.tta_pipeline[1]['transforms'][0] = scales[:1] + scales[2:3]  # 0.5x and 1x: CPU time
    config = str(tmp_path / 'tta_cfg.py')
    cfg.dump(config)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = str(tmp_path / 'model.pth')
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    common = ['--cfg-options', f'test_dataloader.dataset.data_root={data}',
              'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']
    results = {}
    for tta in (False, True):
        out = tmp_path / f'metrics_{tta}.json'
        stdout = run_python([osp.join(ROOT, 'tools', 'test.py'), config, ckpt, '--work-dir',
                             str(tmp_path / f'work_{tta}'), '--out', str(out),
                             *(['--tta'] if tta else []), *common], tmp_path).stdout
        results[tta] = json.loads(out.read_text())
        # EvalProgressHook: a progress line per image (2 images) with an ETA
        assert 'test 1/2 (50%), elapsed' in stdout and 'test 2/2 (100%)' in stdout
    for key in ('mIoU', 'abs_rel'):
        assert key in results[True]
    assert results[True]['abs_rel'] != results[False]['abs_rel']


@pytest.mark.parametrize('config', sorted(
    osp.basename(p) for p in glob(osp.join(ROOT, 'configs', 'ccam', '*.py'))))
def test_tta_scales_lie_inside_the_training_scale_range(config):
    """Every TTA view is at a scale the model was trained on: RandomResize draws
    ``ratio_range`` x its ``scale``; a TTA Resize at ``scale`` s is the ratio s / that scale
    (the SynthCity configs once inherited Cityscapes' 1.25-1.75x views above their 0.5-1.0x
    training range, which biased the merged depth)."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'ccam', config), import_custom_modules=False)
    if cfg.get('tta_pipeline') is None:
        pytest.skip('no tta_pipeline')
    trained = train_ratio_range(cfg)
    assert trained is not None, f'{config}: no RandomResize in the train pipeline'
    low, high, (scale_w, _) = trained
    views = [t for alt in cfg.tta_pipeline[-1]['transforms'] for t in alt
             if t['type'] == 'Resize']
    ratios = [t['scale'][0] / scale_w for t in views]
    assert len(ratios) >= 2 and all(low - 1e-6 <= r <= high + 1e-6 for r in ratios), (
        config, ratios, (low, high))
