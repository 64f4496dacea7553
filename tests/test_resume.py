"""Exact resume: a run killed at iteration 4 of 8 and resumed with ``tools/train.py --resume``
ends with the weights of the uninterrupted run, supervised and semi-supervised.

The tiny runs keep everything that consumes random numbers: dropout in the heads, the data
pipeline in the main process (``num_workers=0``: RandomResize / RandomCrop / RandomFlip /
PhotoMetricDistortion draw from the global NumPy RNG), the mean-teacher step's batch
augmentation (its generator is seeded from torch's global RNG) and a validation right after the
iteration-4 checkpoint.
"""
import os
import os.path as osp
from argparse import Namespace

import pytest
import torch
from conftest import ROOT, run_python
from mmengine.hooks import Hook
from mmengine.runner.checkpoint import _load_checkpoint

from mmseg_ccam.datasets.synthcity import generate_synthcity
from mmseg_ccam.engine.hooks.random_state_hook import STATE_KEY
from mmseg_ccam.utils.launch import build_runner, load_config

# The resumed half runs in a subprocess with OMP_NUM_THREADS=1; the in-process runs must use the
# same thread count, or float reductions split differently and the weights differ in the last bits.
pytestmark = pytest.mark.usefixtures('one_thread')
CONFIGS = {'sup': 'configs/ccam/ccam_r18_synthcity.py',
           'semi': 'configs/ccam/ccam_r18_synthcity_semi.py'}


class _Killed(BaseException):
    """Stands in for SIGKILL: nothing of the process survives but what is on disk."""


class KillAfterIter(Hook):
    priority = 'LOWEST'  # after CheckpointHook (VERY_LOW): the checkpoint is on disk

    def __init__(self, at: int) -> None:
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at:
            raise _Killed()


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('resume') / 'synthcity'
    generate_synthcity(str(root), num_train=8, num_val=2, height=64, width=128, seed=5,
                       progress=False)
    return str(root)


def options(mode: str, data: str) -> dict:
    roots = ([f'train_dataloader.dataset.datasets.{i}.data_root' for i in (0, 1)]
             if mode == 'semi' else ['train_dataloader.dataset.data_root'])
    opts = {key: data for key in roots + ['val_dataloader.dataset.data_root',
                                          'test_dataloader.dataset.data_root']}
    opts.update({
        'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
        'val_dataloader.num_workers': 0, 'val_dataloader.persistent_workers': False,
        'train_cfg.max_iters': 8, 'train_cfg.val_interval': 4,
        'default_hooks.checkpoint.interval': 4, 'default_hooks.logger.interval': 1,
    })
    # 64x64 crops of the 64x128 frames: a few ms per iteration.
    pipelines = ([f'train_dataloader.dataset.datasets.{i}.pipeline' for i in (0, 1)]
                 if mode == 'semi' else ['train_dataloader.dataset.pipeline'])
    for pipeline in pipelines:
        opts[f'{pipeline}.3.scale'] = (128, 64)  # RandomResize
        opts[f'{pipeline}.4.crop_size'] = (64, 64)  # RandomCrop
    preprocessors = (['model.data_preprocessor', 'model.segmentor.data_preprocessor']
                     if mode == 'semi' else ['model.data_preprocessor'])
    for preprocessor in preprocessors:
        opts[f'{preprocessor}.size'] = (64, 64)
    opts['val_dataloader.dataset.pipeline.1.scale'] = (128, 64)  # Resize
    if mode == 'sup':
        opts['train_dataloader.batch_size'] = 2
    return opts


def cli_options(opts: dict) -> list:
    return [f'{k}={v}'.replace(' ', '') for k, v in opts.items()]


def run_in_process(mode: str, data: str, work_dir: str, kill_at=None):
    cfg = load_config(Namespace(config=osp.join(ROOT, CONFIGS[mode]), launcher='none',
                                cfg_options=options(mode, data), work_dir=work_dir))
    runner = build_runner(cfg)
    if kill_at is not None:
        runner.register_hook(KillAfterIter(kill_at))
    try:
        runner.train()
    except _Killed:
        pass


def final_weights(work_dir: str) -> dict:
    return _load_checkpoint(osp.join(work_dir, 'iter_8.pth'), map_location='cpu')['state_dict']


@pytest.mark.parametrize('mode', ['sup', 'semi'])
def test_kill_at_4_of_8_and_resume_equals_uninterrupted(mode, data, tmp_path):
    straight, killed = str(tmp_path / 'straight'), str(tmp_path / 'killed')
    torch.manual_seed(123)  # the runs must not depend on the state the test process is in
    run_in_process(mode, data, straight)
    run_in_process(mode, data, killed, kill_at=4)
    assert sorted(f for f in os.listdir(killed) if f.endswith('.pth')) == ['iter_4.pth']
    saved = _load_checkpoint(osp.join(killed, 'iter_4.pth'), map_location='cpu')
    assert len(saved[STATE_KEY]) == 1 and set(saved[STATE_KEY][0]) >= {'python', 'numpy',
                                                                         'torch'}

    # Resume in a fresh process through the command line, as a user would.
    proc = run_python(['tools/train.py', CONFIGS[mode], '--work-dir', killed, '--resume',
                       '--cfg-options', *cli_options(options(mode, data))], timeout=900)
    assert 'Advance dataloader 4 steps' in proc.stdout + proc.stderr

    a, b = final_weights(straight), final_weights(killed)
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.allclose(a[k].float(), b[k].float(), rtol=1e-5,
                                                 atol=1e-7)]
    assert differ == [], f'{len(differ)} of {len(a)} tensors differ, e.g. {differ[:3]}'
    # The runs trained (the check above would hold trivially for frozen weights) ...
    start = _load_checkpoint(osp.join(killed, 'iter_4.pth'), map_location='cpu')['state_dict']
    moved = [k for k in a if a[k].is_floating_point() and not torch.equal(a[k], start[k])]
    assert len(moved) > len(a) // 2
    if mode == 'semi':  # ... and the teacher is part of what matches
        assert any(k.startswith('teacher.') for k in a)
