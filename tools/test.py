"""Evaluate a checkpoint on both tasks and print one table (MMSegmentation's CLI).

Examples::

    python tools/test.py configs/ccam/ccam_r18_synthcity.py work_dirs/x/iter_1000.pth \
        --out metrics.json
    python tools/test.py CONFIG CKPT --show-dir vis/

The evaluation log goes to ``--work-dir``, by default ``work_dirs/test/<config name>`` (not the
training run's work dir, whose ``<timestamp>`` folders hold the training logs). A missing
checkpoint, config or dataset folder is reported in one line (exit status 2); a missing
SynthCity names the command that generates it.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.dist import is_main_process

import mmseg_ccam  # noqa: F401  (registers components, checkpoint allow-list)
from mmseg_ccam.engine import check_checkpoint_file
from mmseg_ccam.evaluation.report import (
    check_output_file,
    flatten_metrics,
    format_metrics_table,
    write_metrics_json,
)
from mmseg_ccam.models.segmentors import tta_config
from mmseg_ccam.utils import init_cpu_distributed, load_config
from mmseg_ccam.utils.data_roots import check_data_roots
from mmseg_ccam.utils.exceptions import IncompatibleCheckpointError
from mmseg_ccam.utils.launch import build_runner, explain_build_errors, parse_launch_args


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a segmentation + depth model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for the evaluation log (default: '
                        'work_dirs/test/<config name>)')
    parser.add_argument('--out', help='write the metrics as one flat JSON object to this file '
                        '(null for a metric undefined on the set, e.g. IoU of an absent class)')
    parser.add_argument('--show-dir', help='write a visualisation PNG per image to this dir')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation: the config\'s tta_pipeline (scales x flips) '
                        'merged by its tta_model')
    parser.add_argument('--wait-time', type=float, default=0, help='interval of --show (s)')
    return parse_launch_args(parser, 'test_dataloader.batch_size=2')


def enable_show_dir(cfg, show_dir: str, wait_time: float) -> None:
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise KeyError('--show-dir needs default_hooks.visualization (SegVisualizationHook) in '
                       'the config.')
    hooks.visualization.update(draw=True, interval=1, wait_time=wait_time)
    cfg.visualizer.save_dir = show_dir


def default_work_dir(config: str) -> str:
    """``work_dirs/test/<config name>``: test logs apart from the training run's folders."""
    return osp.join('./work_dirs', 'test', osp.splitext(osp.basename(config))[0])


def main() -> None:
    args = parse_args()
    try:
        test(args)
    except (FileNotFoundError, IsADirectoryError) as err:
        # A user's mistake (checkpoint, config or dataset folder missing, a folder given as
        # checkpoint): one line, no traceback; the message says what to do.
        print(f'tools/test.py: {err}', file=sys.stderr)
        sys.exit(2)


def test(args: argparse.Namespace) -> None:
    check_checkpoint_file(args.checkpoint)  # a directory, a JSON file, an empty file
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'Checkpoint {args.checkpoint!r} does not exist.')
    if args.out:
        check_output_file(args.out, '--out')  # before the evaluation, not after it
    cfg = load_config(args)
    if args.work_dir is None and cfg.work_dir == osp.join(
            './work_dirs', osp.splitext(osp.basename(args.config))[0]):
        cfg.work_dir = default_work_dir(args.config)  # not the training run's work dir
    # With --show-dir, MMSeg's SegVisualizationHook asks for runner.iter, which builds the
    # train loop and so the train dataset: that folder must exist too.
    check_data_roots(cfg, ['test_dataloader'] + (['train_dataloader'] if args.show_dir else []))
    cfg.load_from = args.checkpoint
    # About 10 progress lines with an ETA (the LoggerHook logs every 50 images only).
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [dict(type='EvalProgressHook')]
    if args.tta:
        cfg = tta_config(cfg)
    if args.show_dir:
        enable_show_dir(cfg, args.show_dir, args.wait_time)
    init_cpu_distributed(cfg)
    runner = build_runner(cfg, args.config)
    try:
        with explain_build_errors(cfg, args.config):
            metrics = runner.test()
    except IncompatibleCheckpointError as err:
        # e.g. a supervised checkpoint given to a semi-supervised config (no teacher weights)
        if err.checkpoint is None:
            err.checkpoint = args.checkpoint
        raise
    if not is_main_process():
        return
    flat = flatten_metrics(metrics)
    print(format_metrics_table(flat))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        write_metrics_json(flat, args.out)  # NaN (class absent from the set) -> null
        print(f'metrics written to {args.out}')


if __name__ == '__main__':
    main()
