"""Fixtures and helpers shared by the test files: thread count, command-line tools (in-process
with ``load_script``, as a child process with ``run_python``), a tiny segmentor
config and seeded model building (``from conftest import tiny_seg_depth_cfg, build_model``; the
tests directory is on ``sys.path`` under pytest's default import mode)."""
import copy
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from typing import Optional, Sequence

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def one_thread():
    """One torch thread for the module: tiny convolutions on a shared CPU spend most of their
    time in OpenMP spin-waits with more (use with ``pytestmark = usefixtures('one_thread')``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def tiny_synthcity(tmp_path_factory):
    """A SynthCity dataset of 3 train and 1 val frames at 64 x 128 (seed 0), generated once per
    session; tests that change files copy it first."""
    from mmseg_ccam.datasets.synthcity import generate_synthcity
    root = tmp_path_factory.mktemp('tiny_synthcity')
    generate_synthcity(str(root), num_train=3, num_val=1, height=64, width=128, seed=0,
                       progress=False)
    return root


def load_script(relpath: str):
    """Import the script ``<repository>/<relpath>`` (``tools/...``, ``demo/...``: folders that
    are not packages) as a module, once per session."""
    name = '_script_' + relpath.replace('/', '_').replace('.py', '')
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_python(args: Sequence[str], cwd: str = ROOT, check: bool = True, timeout: float = 600,
               **env) -> subprocess.CompletedProcess:
    """``python ARGS`` in a child process, for what must be a real command line (exit status,
    stderr, a process that dies or holds a lock): this repository's package first on the
    path (not an installed copy), one torch thread, warnings off, ``env`` added to the
    environment (a None value removes the variable, e.g. ``PYTHONWARNINGS=None`` to see
    warnings); output captured as text. With ``check`` a non-zero exit fails the test showing
    the ends of stdout and stderr."""
    path = os.pathsep.join(p for p in (ROOT, os.environ.get('PYTHONPATH')) if p)
    env = {**os.environ, 'PYTHONPATH': path, 'OMP_NUM_THREADS': '1',
           'PYTHONWARNINGS': 'ignore', **env}
    env = {key: value for key, value in env.items() if value is not None}
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, \
            f'{args[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    return proc


def tiny_seg_depth_cfg(size: Sequence[int] = (32, 32), num_classes: int = 3,
                       seg_loss: Optional[dict] = None, **overrides) -> dict:
    """A ``SegDepthEncoderDecoder`` small enough for CPU tests (about 2k parameters).

    ResNetV1c-18 cut to two stages of 4 and 8 channels (strides 4 and 8), an FCN segmentation
    head and a ``DepthHead`` with ``SiLogLoss``; the preprocessor pads to ``size``. ``seg_loss``
    replaces the cross-entropy; other keyword arguments replace top-level keys.
    """
    norm = dict(type='BN', requires_grad=True)
    cfg = dict(
        type='SegDepthEncoderDecoder',
        data_preprocessor=dict(type='SegDepthDataPreProcessor', mean=[0.0] * 3, std=[255.0] * 3,
                               pad_val=0, seg_pad_val=255, size=tuple(size)),
        backbone=dict(type='ResNetV1c', depth=18, base_channels=4, stem_channels=4,
                      num_stages=2, out_indices=(0, 1), dilations=(1, 1), strides=(1, 2),
                      norm_cfg=norm, style='pytorch', contract_dilation=True),
        decode_head=dict(type='FCNHead', in_channels=8, in_index=1, channels=4, num_convs=1,
                         concat_input=False, dropout_ratio=0.0, num_classes=num_classes,
                         norm_cfg=norm,
                         loss_decode=copy.deepcopy(seg_loss) or dict(type='CrossEntropyLoss')),
        depth_head=dict(type='DepthHead', in_channels=8, in_index=1, channels=4,
                        dilations=(1, 2), c1_in_channels=4, c1_channels=4, norm_cfg=norm,
                        min_depth=0.1, max_depth=80.0, loss_decode=dict(type='SiLogLoss')),
        test_cfg=dict(mode='whole'))
    cfg.update(overrides)
    return cfg


def tiny_ccam_cfg(num_classes: int = 5, norm_type: str = 'BN', **overrides) -> dict:
    """A 4-stage ``SegDepthEncoderDecoder`` with a CCAM neck at levels 0 and 3 (the shipped
    models' structure at 1/8 of ResNet-18's width), ImageNet normalisation, whole-image test.
    Other keyword arguments replace top-level keys (e.g. ``neck=`` or ``depth_head=None``)."""
    norm = dict(type=norm_type, requires_grad=True)
    cfg = dict(
        type='SegDepthEncoderDecoder',
        data_preprocessor=dict(type='SegDepthDataPreProcessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                               seg_pad_val=255, depth_pad_val=0),
        backbone=dict(type='ResNetV1c', depth=18, base_channels=8, stem_channels=8,
                      num_stages=4, out_indices=(0, 1, 2, 3), norm_cfg=norm),
        neck=dict(type='CCAMNeck', in_channels=[8, 16, 32, 64], levels=(0, 3), norm_cfg=norm),
        decode_head=dict(type='FCNHead', in_channels=64, in_index=3, channels=8, num_convs=1,
                         concat_input=False, num_classes=num_classes, norm_cfg=norm),
        depth_head=dict(type='DepthHead', in_channels=64, in_index=3, channels=8,
                        dilations=(1, 2), c1_in_channels=8, c1_channels=4, norm_cfg=norm,
                        min_depth=0.5, max_depth=80.0),
        test_cfg=dict(mode='whole'))
    cfg.update(overrides)
    return cfg


def build_model(cfg: dict, seed: int = 0):
    """``MODELS.build(cfg)`` and ``init_weights()`` under ``torch.manual_seed(seed)``."""
    from mmseg.registry import MODELS

    import mmseg_ccam  # noqa: F401  (registers the package's modules)
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model
