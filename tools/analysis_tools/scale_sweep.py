"""Evaluate a checkpoint one view at a time at several test scales.

For each ratio r, runs ``tools/test.py`` with the test ``Resize`` at r x the config's test
scale, on the config's val loader (``--split test``: its test loader), without and with
per-image median scaling of depth, and prints one Markdown row per ratio: mIoU, AbsRel, δ1,
RMSE, the median-scaled AbsRel (the shape of the depth map) and the median scale (its bias:
above 1 the view predicts too near). Ratios outside the training ``RandomResize`` range are
marked: they show why TTA scales belong inside it
(docs/model_zoo.md, "Test scale").

Example::

    OMP_NUM_THREADS=2 python tools/analysis_tools/scale_sweep.py \\
        configs/ccam/ccam_lite0_synthcity_cw.py checkpoints/ccam_lite0_synthcity_cw.pth \\
        --ratios 0.5 0.75 1.0 1.25 1.5 1.75 --out scale_sweep.json
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import tempfile
from typing import List, Optional, Sequence

from mmengine.config import Config

from mmseg_ccam.analysis.scale_sweep import (
    eval_resize,
    format_scale_table,
    scale_rows,
    train_ratio_range,
    val_as_test,
)
from mmseg_ccam.evaluation.report import check_output_file

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--ratios', type=float, nargs='+', default=[0.5, 0.75, 1.0, 1.25, 1.5])
    parser.add_argument('--split', choices=('val', 'test'), default='val',
                        help="the config's val loader (default: settings are chosen on val) or "
                        'its test loader')
    parser.add_argument('--data-root', help="the evaluated dataset's data_root (default: the "
                        "config's)")
    parser.add_argument('--out', help='also write the rows as JSON to this file')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='passed on to every tools/test.py run')
    return parser.parse_args(argv)


def run_test(config: str, checkpoint: str, options: List[str], work: str) -> dict:
    """``tools/test.py`` with ``--cfg-options options``; its flat metrics."""
    out = osp.join(work, 'metrics.json')
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'test.py'), config, checkpoint, '--out', out,
         '--work-dir', osp.join(work, 'work'), '--cfg-options', *options],
        capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f'tools/test.py {config} {checkpoint} --cfg-options {" ".join(options)} '
                         f'failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}')
    with open(out, encoding='utf-8') as f:
        return json.load(f)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.out:
        check_output_file(args.out, '--out')
    if any(r <= 0 for r in args.ratios):
        raise SystemExit(f'--ratios: every ratio must be positive, got {args.ratios}.')
    cfg = Config.fromfile(args.config)
    if args.split == 'val':
        cfg = val_as_test(cfg)
    try:
        key, base = eval_resize(cfg)
    except KeyError as err:
        raise SystemExit(f'{args.config}: {err.args[0]}') from None
    trained = train_ratio_range(cfg)
    depth_metric = [i for i, e in enumerate(cfg.test_evaluator)
                    if e.get('type') == 'StreamingDepthMetric']
    common = list(args.cfg_options) + (
        [f'test_dataloader.dataset.data_root={args.data_root}'] if args.data_root else [])
    raw, scaled = [], []
    with tempfile.TemporaryDirectory() as work:
        config = args.config
        if args.split == 'val':
            config = osp.join(work, 'val_' + osp.basename(args.config))
            cfg.dump(config)
        for ratio in args.ratios:
            view = common + [f'{key}=({int(base[0] * ratio)},{int(base[1] * ratio)})']
            raw.append(run_test(config, args.checkpoint, view, work))
            scaled.append(run_test(config, args.checkpoint, view + [
                f'test_evaluator.{i}.median_scaling=True' for i in depth_metric], work)
                if depth_metric else {})
            print(f'{ratio:g}x done', file=sys.stderr, flush=True)
    # the training range in multiples of the test scale (the RandomResize scale may differ)
    train_range = None
    if trained:
        low, high, (train_w, train_h) = trained
        train_range = (low * train_w / base[0], high * train_w / base[0])
        print(f'Training RandomResize: {low:g}-{high:g} x {train_w}×{train_h} = '
              f'{train_range[0]:g}-{train_range[1]:g} x the test scale {base[0]}×{base[1]}; '
              f'{args.split} split.')
    rows = scale_rows(args.ratios, base, raw, scaled, train_range)
    print(format_scale_table(rows))
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint, split=args.split,
                           test_scale=base,
                           train_range=train_range, rows=rows), f, indent=2)
        print(f'rows written to {args.out}')


if __name__ == '__main__':
    main()
