"""Every shipped config parses, builds and runs a forward pass (pretrained loading off).

Configs that differ only in data, augmentation or schedule build the same model: it is built
and run once (cached by the model config) and every config's own assertions run on it.
"""
import glob
import os.path as osp
from typing import Dict, Tuple

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_ccam  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'ccam', '*.py')))
NAMES = [osp.basename(c)[:-3] for c in CONFIGS]
H, W = 64, 128
# The backbone of each backbone family and what its configs must show.
BACKBONES = {
    'ccam_r18-d8_cityscapes': 'ResNetV1c', 'ccam_r101-d8_cityscapes': 'ResNetV1c',
    'ccam_mit-b0_cityscapes': 'MixVisionTransformer', 'ccam_mit-b2_cityscapes':
    'MixVisionTransformer', 'ccam_swin-t_cityscapes': 'SwinTransformer',
    'ccam_mobilenetv2_cityscapes': 'MobileNetV2', 'ccam_convnext-t_cityscapes': 'ConvNeXt',
}
_BUILT: Dict[str, Tuple[torch.nn.Module, dict, list]] = {}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convs on 2 shared cores: see tests/test_mean_teacher_*
    yield
    torch.set_num_threads(threads)


def build_and_run(cfg: Config):
    """(model, tensor outputs, backbone output channels) of ``cfg.model``, built once."""
    key = cfg.model.pretty_text if hasattr(cfg.model, 'pretty_text') else repr(cfg.model)
    if key not in _BUILT:
        torch.manual_seed(0)
        model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
        net = getattr(model, 'student', model)
        x = torch.rand(1, 3, H, W)
        with torch.no_grad():
            out = model(x, mode='tensor')
            channels = [f.shape[1] for f in net.backbone(x)]
        _BUILT[key] = (model, out, channels)
    return _BUILT[key]


def segmentor_cfg(cfg: Config) -> dict:
    return cfg.model.get('segmentor', cfg.model)


def checkpoint_of(model_cfg: dict):
    """Where the backbone's ImageNet weights come from (``pretrained`` or ``init_cfg``)."""
    init_cfg = model_cfg['backbone'].get('init_cfg') or {}
    return model_cfg.get('pretrained') or init_cfg.get('checkpoint')


@pytest.mark.parametrize('path', CONFIGS, ids=NAMES)
def test_config_builds_and_runs_forward(path):
    name = osp.basename(path)[:-3]
    if 'convnext' in name:  # Config.fromfile imports its custom_imports
        pytest.importorskip('mmpretrain.models', reason='optional extra: pip install mmpretrain')
    cfg = Config.fromfile(path)
    init_default_scope('mmseg')
    assert 'mmseg_ccam' in cfg.custom_imports.imports
    assert cfg.runner_type == 'AtomicCheckpointRunner'
    model, out, channels = build_and_run(cfg)
    seg_cfg = segmentor_cfg(cfg)

    if seg_cfg.get('decode_head'):  # logits of the 19 classes at the heads' stride 4
        assert out['seg'].shape == (1, 19, H // 4, W // 4)
        assert torch.isfinite(out['seg']).all()
    else:
        assert 'seg' not in out
    if seg_cfg.get('depth_head'):  # metres inside the head's range
        head = seg_cfg['depth_head']
        depth = out['depth']
        assert depth.shape == (1, 1, H // 4, W // 4)
        assert ((depth >= head['min_depth'] - 1e-4) & (depth <= head['max_depth'] + 1e-3)).all()
    else:
        assert 'depth' not in out
    if seg_cfg.get('neck'):  # the neck is configured with the backbone's real channels
        assert list(seg_cfg['neck']['in_channels']) == channels
        net = getattr(model, 'student', model)
        num_attention = sum(p.numel() for p in net.neck.parameters()
                            if p.dim() == 0 or p.numel() == 1)
        has_attention = seg_cfg['neck'].get('attention', 'default') is not None
        assert num_attention == (2 * len(seg_cfg['neck']['levels']) if has_attention else 0)
    if name in BACKBONES:
        assert seg_cfg['backbone']['type'].split('.')[-1] == BACKBONES[name]
    if 'cityscapes' in name:  # users get ImageNet initialisation; the tests load nothing
        assert str(checkpoint_of(seg_cfg)).startswith(('open-mmlab://', 'mmcls://', 'https://'))
    else:
        assert checkpoint_of(seg_cfg) is None  # SynthCity models train from scratch


def test_every_backbone_family_is_shipped():
    assert set(BACKBONES) <= set(NAMES)


def test_convnext_config_names_the_mmpretrain_scope_and_imports_it():
    # Parsed without importing (mmpretrain is an optional extra that needs torchvision).
    cfg = Config.fromfile(osp.join(ROOT, 'configs/ccam/ccam_convnext-t_cityscapes.py'),
                          import_custom_modules=False)
    assert cfg.model.backbone.type == 'mmpretrain.ConvNeXt'
    assert cfg.custom_imports.imports == ['mmseg_ccam', 'mmpretrain.models']
    assert cfg.model.neck.in_channels == [96, 192, 384, 768]
    assert cfg.model.backbone.init_cfg.prefix == 'backbone.'


def test_mit_configs_use_segformer_head_on_the_seg_side():
    for name in ('ccam_mit-b0_cityscapes', 'ccam_mit-b2_cityscapes'):
        cfg = Config.fromfile(osp.join(ROOT, 'configs', 'ccam', f'{name}.py'))
        assert cfg.model.decode_head.type == 'SegformerHead'
        assert cfg.model.decode_head.in_channels == cfg.model.neck.in_channels


def test_semi_config_pairs_labeled_and_unlabeled_subsets():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/ccam/ccam_r18_synthcity_semi.py'))
    labeled, unlabeled = cfg.train_dataloader.dataset.datasets
    assert (labeled.subset, unlabeled.subset) == ('labeled', 'unlabeled')
    assert labeled.labeled_ratio == unlabeled.labeled_ratio == 0.125
    assert cfg.train_dataloader.sampler.source_ratio == [2, 2]
