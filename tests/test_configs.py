"""Every shipped config parses; the SynthCity ones build and run a forward pass."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_ccam  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'ccam', '*.py')))
NAMES = [osp.basename(c)[:-3] for c in CONFIGS]


@pytest.mark.parametrize('path', CONFIGS, ids=NAMES)
def test_config_parses_and_names_registered_types(path):
    cfg = Config.fromfile(path)
    init_default_scope('mmseg')
    assert MODELS.get(cfg.model.type) is not None
    assert cfg.custom_imports.imports == ['mmseg_ccam']
    assert cfg.runner_type == 'AtomicCheckpointRunner'


def test_semi_config_pairs_labeled_and_unlabeled_subsets():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/ccam/ccam_r18_synthcity_semi.py'))
    labeled, unlabeled = cfg.train_dataloader.dataset.datasets
    assert (labeled.subset, unlabeled.subset) == ('labeled', 'unlabeled')
    assert labeled.labeled_ratio == unlabeled.labeled_ratio == 0.125
    assert cfg.train_dataloader.sampler.source_ratio == [2, 2]


SYNTH = [c for c in CONFIGS if 'synthcity' in c]


@pytest.mark.parametrize('path', SYNTH, ids=[osp.basename(c)[:-3] for c in SYNTH])
def test_synthcity_model_forward(path):
    cfg = Config.fromfile(path)
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 128), mode='tensor')
    has_seg = (cfg.model.get('decode_head') or cfg.model.get('segmentor', {}).get('decode_head'))
    if has_seg:
        assert out['seg'].shape[:2] == (1, 19)
    if 'depth' in out:
        assert ((out['depth'] >= 0.1 - 1e-4) & (out['depth'] <= 80.0 + 1e-3)).all()
