"""Cost of the joint CCAM model next to its ablations and single-task baselines, side by side.

``CONFIG`` is the joint model; its variants are the ablation config files next to it
(``<stem>_no-ccam.py``, ``<stem>_seg-only.py``, ``<stem>_depth-only.py``) or the files given
with ``--no-attention`` / ``--seg-only`` / ``--depth-only``. What is measured and how:
:mod:`mmseg_ccam.analysis.benchmark` and ``docs/benchmarks.md``.

Examples::

    python tools/analysis_tools/benchmark.py configs/ccam/ccam_r50_cityscapes.py \
        --device cpu --shape 256 512 --json b.json
    python tools/analysis_tools/benchmark.py configs/ccam/ccam_r50_cityscapes.py \
        --device cuda --shape 512 1024 --amp --channels-last --json b_cuda.json
    python tools/analysis_tools/benchmark.py configs/ccam/ccam_r18_synthcity_semi.py \
        --shape 128 256

``tools/analysis_tools/benchmark_table.py --benchmark b.json`` reads the JSON.
"""
import argparse
import json
import os
import sys
from typing import Optional, Sequence

from mmengine.config import DictAction

from mmseg_ccam.analysis.benchmark import VARIANT_SUFFIXES, VARIANTS, report, run_benchmark


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Params, FLOPs, latency, train step and memory of the joint CCAM model, '
        'its no-attention ablation and the single-task baselines, with the cost ratios.')
    parser.add_argument('config', help='config of the joint model (or of a mean teacher)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda' (default: cpu)")
    parser.add_argument('--shape', type=int, nargs=2, default=[256, 512], metavar=('H', 'W'),
                        help='input size (default: 256 512)')
    parser.add_argument('--json', metavar='OUT', help='write the results as JSON here')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed calls before each measurement (default: cpu 1, cuda 10)')
    parser.add_argument('--repeat', type=int, default=None,
                        help='timed forwards per variant (and semi-supervised steps), median '
                        'reported (default: cpu 5, cuda 50)')
    parser.add_argument('--train-repeat', type=int, default=None,
                        help='timed train steps per variant, median reported '
                        '(default: cpu 1, cuda 20)')
    parser.add_argument('--batch', type=int, default=2, help='samples per train step')
    parser.add_argument('--amp', action='store_true',
                        help='float16 autocast + AmpOptimWrapper (CUDA)')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels-last memory format for the model and inputs')
    semi = parser.add_mutually_exclusive_group()
    semi.add_argument('--semi', dest='semi', action='store_true', default=None,
                      help='time the mean-teacher step (default: for MeanTeacherSegDepth '
                      'configs)')
    semi.add_argument('--no-semi', dest='semi', action='store_false')
    parser.add_argument('--variants', nargs='*', choices=VARIANTS, default=None,
                        help='variants to measure (default: each one with a config file; all '
                        'four are needed for the ratios; none with --semi: only the '
                        'semi-supervised step)')
    for name, suffix in VARIANT_SUFFIXES.items():
        parser.add_argument(f'--{name.replace("_", "-")}', metavar='CONFIG', default=None,
                            help=f'config of the {name} variant (default: <config stem>'
                            f'{suffix}.py next to the config, when it exists)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch\'s choice)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    result = run_benchmark(args.config, args.device, args.shape, args.warmup, args.repeat,
                           args.batch, args.amp, args.channels_last, args.semi,
                           args.cfg_options, args.seed, threads=args.threads,
                           train_repeat=args.train_repeat, variants=args.variants,
                           variant_configs={n: getattr(args, n) for n in VARIANT_SUFFIXES},
                           log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(report(result))
    if args.json:
        out_dir = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(out_dir, exist_ok=True)
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
        print(f'wrote {args.json}')
    return result


if __name__ == '__main__':
    main()
