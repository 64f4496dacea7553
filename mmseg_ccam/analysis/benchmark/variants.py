"""Which config files are the variants, and the model config of each (checked to be
what its name says).

Part of :mod:`mmseg_ccam.analysis.benchmark`."""
import copy
import os.path as osp
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope

from ...utils.config_check import load_checked_config

__all__ = [
    'VARIANTS', 'VARIANT_SUFFIXES', 'build_model', 'check_variant', 'fixed_input_size',
    'is_mean_teacher', 'load_config', 'segmentor_cfg', 'variant_model_cfg', 'variant_paths',
    'without_pretrained'
]

VARIANTS = ('joint', 'no_attention', 'seg_only', 'depth_only')
# Variant -> suffix of its config file next to the joint one (configs/ccam/*_no-ccam.py, ...).
VARIANT_SUFFIXES = {'no_attention': '_no-ccam', 'seg_only': '_seg-only',
                    'depth_only': '_depth-only'}


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config through the tools' one loading path with its key checks
    (:func:`~mmseg_ccam.utils.config_check.load_checked_config`; the data loaders are not
    read), apply ``--cfg-options`` and set the default registry scope (this package's
    components are registered: this module is part of it)."""
    cfg = load_checked_config(path, cfg_options, with_data=False)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return cfg


def is_mean_teacher(cfg: Config) -> bool:
    return cfg.model.get('type') == 'MeanTeacherSegDepth'


def segmentor_cfg(cfg: Config) -> dict:
    """The joint segmentor's config: ``model``, or ``model.segmentor`` of a mean teacher (with
    the wrapper's ``data_preprocessor`` when the segmentor has none)."""
    model = copy.deepcopy(cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else cfg.model)
    if model.get('type') == 'MeanTeacherSegDepth':
        seg = dict(model['segmentor'])
        if seg.get('data_preprocessor') is None and model.get('data_preprocessor') is not None:
            seg['data_preprocessor'] = model['data_preprocessor']
        return seg
    return model


def without_pretrained(model_cfg: dict) -> dict:
    """Never load weights: drop ``pretrained`` and ``init_cfg`` of the segmentor and backbone."""
    model_cfg = copy.deepcopy(model_cfg)
    model_cfg['pretrained'] = None
    model_cfg['init_cfg'] = None
    backbone = dict(model_cfg.get('backbone') or {})
    for key in ('pretrained', 'init_cfg'):
        if key in backbone:
            backbone[key] = None
    model_cfg['backbone'] = backbone
    return model_cfg


def fixed_input_size(model_cfg: dict, shape: Sequence[int]) -> dict:
    """The data preprocessor pads to exactly ``shape`` (configs pad to their crop size)."""
    dp = model_cfg.get('data_preprocessor')
    if dp is not None:
        dp = dict(dp)
        dp['size'] = tuple(int(s) for s in shape)
        dp['size_divisor'] = None
        model_cfg['data_preprocessor'] = dp
    return model_cfg


def variant_paths(config: str, given: Optional[Dict[str, Optional[str]]] = None
                  ) -> Dict[str, str]:
    """Config file of each variant: ``joint`` is ``config``; the others are ``given[name]`` or,
    by default, ``<config stem><suffix>.py`` next to it (:data:`VARIANT_SUFFIXES`) where that
    file exists.

    Raises:
        FileNotFoundError: a config given explicitly does not exist.
    """
    given = given or {}
    stem = osp.splitext(config)[0]
    out = dict(joint=config)
    for name, suffix in VARIANT_SUFFIXES.items():
        path = given.get(name)
        if path is not None:
            if not osp.isfile(path):
                raise FileNotFoundError(f'benchmark: --{name.replace("_", "-")} config {path!r} '
                                        'does not exist.')
            out[name] = path
        elif osp.isfile(stem + suffix + '.py'):
            out[name] = stem + suffix + '.py'
    return out


# Which parts each variant must have (True) or lack (False), as its name says.
_VARIANT_PARTS = {
    'joint': dict(neck=True, attention=True, decode_head=True, depth_head=True),
    'no_attention': dict(neck=True, attention=False, decode_head=True, depth_head=True),
    'seg_only': dict(decode_head=True, depth_head=False),
    'depth_only': dict(decode_head=False, depth_head=True),
}


def check_variant(name: str, model_cfg: dict, path: str) -> None:
    """Raise ValueError when the segmentor config of ``path`` is not what variant ``name``
    measures (e.g. a seg-only config given as the joint model)."""
    neck = model_cfg.get('neck')
    has = dict(neck=neck is not None, decode_head=model_cfg.get('decode_head') is not None,
               depth_head=model_cfg.get('depth_head') is not None,
               attention=neck is not None and neck.get('attention') is not None)
    for part, wanted in _VARIANT_PARTS[name].items():
        if has[part] != wanted:
            key = 'model.neck.attention' if part == 'attention' else f'model.{part}'
            state = 'is None' if wanted else 'is set'
            raise ValueError(
                f'benchmark: {key} {state} in {path}, so it is not the {name!r} variant '
                f'({", ".join(f"{p}={w}" for p, w in _VARIANT_PARTS[name].items())}); give the '
                f'joint config (e.g. configs/ccam/ccam_r50_cityscapes.py) and the variants\' '
                f'own files (*_no-ccam.py, *_seg-only.py, *_depth-only.py).')


def variant_model_cfg(name: str, cfg: Config, path: str, shape: Sequence[int]) -> dict:
    """The segmentor config of one variant's config, checked, without pretrained weights and
    padded to exactly ``shape``."""
    model_cfg = fixed_input_size(without_pretrained(segmentor_cfg(cfg)), shape)
    check_variant(name, model_cfg, path)
    return model_cfg


def build_model(model_cfg: dict, device: str, channels_last: bool = False) -> nn.Module:
    """Build without ``init_weights`` (no pretrained loading), SyncBN -> BN, move to device."""
    from mmseg.registry import MODELS

    model = revert_sync_batchnorm(MODELS.build(copy.deepcopy(model_cfg)))
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model
