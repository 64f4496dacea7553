"""Train a joint segmentation + depth model (MMSegmentation's ``tools/train.py`` CLI).

Examples::

    python tools/train.py configs/ccam/ccam_r18_synthcity.py
    python tools/train.py CONFIG --work-dir work_dirs/x --resume --amp \
        --cfg-options train_cfg.max_iters=100
    torchrun --nproc_per_node=2 tools/train.py CONFIG --launcher pytorch
"""
import argparse
import logging
import os
import sys
from typing import Optional

import torch
from mmengine.logging import print_log

import mmseg_ccam  # noqa: F401  (registers components, checkpoint allow-list)
from mmseg_ccam.engine import checkpoint_seed
from mmseg_ccam.utils import init_cpu_distributed, load_config
from mmseg_ccam.utils.data_roots import MissingDataError, check_data_roots
from mmseg_ccam.utils.launch import build_runner, explain_build_errors, parse_launch_args
from mmseg_ccam.utils.work_dir import WorkDirLock, find_resume_checkpoint


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentation + depth model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints')
    parser.add_argument('--resume', action='store_true',
                        help='resume from the latest checkpoint in the work dir (an error if '
                        'it has none); resuming is exact: random states are restored')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (AmpOptimWrapper)')
    return parse_launch_args(parser, 'train_cfg.max_iters=100')


class AmpUnavailableError(RuntimeError):
    """Mixed precision asked for on a machine where MMEngine's ``AmpOptimWrapper`` cannot run."""


def check_amp_device(cfg, cuda: Optional[bool] = None) -> None:
    """Refuse ``AmpOptimWrapper`` (``--amp`` or set in the config) without CUDA.

    MMEngine's ``AmpOptimWrapper`` asserts at build time that a GPU (or NPU / MLU / MUSA) is
    present, also with ``dtype='bfloat16'``, and float16 autocast with loss scaling is a CUDA
    feature; on the CPU the run would stop with a bare ``AssertionError`` after the dataset and
    model were built. bfloat16 autocast of the model itself works on the CPU
    (``tests/test_autocast_cpu.py``) but is slower than float32 on most CPUs, so no CPU
    substitute is made: the run is refused with one line saying what to do.
    """
    cuda = torch.cuda.is_available() if cuda is None else cuda
    wrapper = cfg.get('optim_wrapper', {}).get('type', 'OptimWrapper')
    if wrapper == 'AmpOptimWrapper' and not cuda:
        raise AmpUnavailableError(
            'mixed precision (--amp, or optim_wrapper.type=AmpOptimWrapper in the config) '
            'needs CUDA: MMEngine\'s AmpOptimWrapper does not run on the CPU. Train in '
            'float32 on this machine: drop --amp (or set optim_wrapper.type=OptimWrapper).')


def enable_amp(cfg) -> None:
    """Switch ``optim_wrapper`` to ``AmpOptimWrapper`` (float16 autocast, dynamic loss
    scaling), as MMSegmentation's ``tools/train.py --amp``."""
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper == 'AmpOptimWrapper':
        print_log('AMP is already enabled in the config.', logger='current',
                  level=logging.WARNING)
        return
    if wrapper != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type="OptimWrapper", got {wrapper!r}.')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def main() -> None:
    args = parse_args()
    cfg = load_config(args)
    if args.amp:
        enable_amp(cfg)
    try:
        check_amp_device(cfg)
    except AmpUnavailableError as e:
        print(f'tools/train.py: {e}', file=sys.stderr)
        sys.exit(2)
    cfg.resume = args.resume
    if args.resume:
        prepare_resume(cfg)
    try:
        # The runner would fail on a missing dataset folder 30 lines of traceback deep.
        check_data_roots(cfg, ['train_dataloader'] + (['val_dataloader'] if cfg.get('val_cfg')
                                                      else []))
    except MissingDataError as err:
        print(f'tools/train.py: {err}', file=sys.stderr)
        sys.exit(2)
    init_cpu_distributed(cfg)
    # One run per work dir (rank 0 holds the lock; the kernel drops it when the process ends).
    rank = int(os.environ.get('RANK', os.environ.get('SLURM_PROCID', '0')))
    lock = WorkDirLock(cfg.work_dir) if rank == 0 else None
    if lock is not None:
        lock.acquire()
    try:
        runner = build_runner(cfg, args.config)
        # The train loop, optimizer wrapper and datasets are built inside train().
        with explain_build_errors(cfg, args.config):
            runner.train()
    finally:
        if lock is not None:
            lock.release()


def prepare_resume(cfg) -> None:
    """Refuse ``--resume`` without a checkpoint; reuse the checkpoint's seed if the config
    has none (the data sampler is built, and seeded, before the checkpoint is read)."""
    found = find_resume_checkpoint(cfg.work_dir)
    if cfg.get('load_from') is None:
        cfg.load_from = found  # this work dir's own file, not the path of a copied original
    randomness = cfg.get('randomness') or {}
    if randomness.get('seed') is None:
        seed = checkpoint_seed(found)
        if seed is not None:
            cfg.randomness = dict(randomness, seed=seed)


if __name__ == '__main__':
    main()
