"""Export a segmentation + depth checkpoint to ONNX and check it against PyTorch.

The graph is ``model(inputs, mode='tensor')``: input ``input`` (B, 3, H, W) float32, already
normalised as the config's data preprocessor does (mean/std and channel order are stored in
the ONNX metadata); outputs ``seg`` (B, K, h, w) logits and ``depth`` (B, 1, h, w) metres at
the heads' resolution. After export, onnxruntime and PyTorch run the same random input and
the largest absolute difference per output is printed (with ``--dynamic``, also at a second
size). Needs ``pip install onnx onnxruntime``.

Example::

    python tools/deployment/pytorch2onnx.py configs/ccam/ccam_r18_synthcity.py \\
        checkpoints/ccam_r18_synthcity.pth --shape 256 512 --out m.onnx --dynamic
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Optional, Sequence

from mmengine.config import DictAction

from mmseg_ccam.apis import init_model
from mmseg_ccam.deployment import (
    check_onnx,
    default_check_shapes,
    export_onnx,
    format_check,
    select_export_model,
    worst_relative_diff,
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export to ONNX (mode="tensor": seg logits '
                                     'and metric depth) and compare with PyTorch')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), required=True,
                        help='input height and width of the exported graph')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument('--dynamic', action='store_true',
                        help='dynamic batch, height and width')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset version')
    parser.add_argument('--tolerance', type=float, default=1e-3,
                        help='fail when max |onnx - torch| / max |torch| exceeds this for an '
                        'output')
    parser.add_argument('--skip-check', action='store_true',
                        help='do not run onnxruntime after the export')
    parser.add_argument('--json', help='write the check report to this JSON file')
    parser.add_argument('--member', choices=['teacher', 'student'], default='teacher',
                        help='semi-supervised (mean-teacher) checkpoint: export the teacher '
                        '(default; the model the semi runs evaluate) or the student')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries')
    args = parser.parse_args(argv)
    if min(args.shape) < 1:
        parser.error(f'--shape must be positive, got {args.shape}')
    if not args.tolerance > 0:
        parser.error(f'--tolerance must be > 0, got {args.tolerance}')
    if args.opset < 7:
        parser.error(f'--opset must be >= 7, got {args.opset}')
    for name, path in (('--out', args.out), ('--json', args.json)):
        if path and osp.isdir(path):
            parser.error(f'{name} {path!r} is a directory; give a file name.')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    model = init_model(args.config, args.checkpoint, device='cpu',
                       cfg_options=args.cfg_options)
    model, which = select_export_model(model, args.member)
    print(f'exporting {which}')
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    names = export_onnx(model, args.out, args.shape, dynamic=args.dynamic,
                        opset_version=args.opset)
    print(f'exported {", ".join(names)} to {args.out} '
          f'({osp.getsize(args.out) / 1e6:.1f} MB, opset {args.opset}, '
          f'{"dynamic" if args.dynamic else "static"} shape)')
    if args.skip_check:
        return 0
    report = check_onnx(model, args.out, default_check_shapes(args.shape, args.dynamic))
    print(format_check(report))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=2)
    worst = worst_relative_diff(report)
    if worst > args.tolerance:
        print(f'FAILED: relative difference {worst:.3g} > --tolerance {args.tolerance}; the '
              'ONNX graph does not match PyTorch (with --dynamic, an input size baked into '
              'the graph shows up this way).', file=sys.stderr)
        return 1
    print(f'check passed (relative difference {worst:.3g} <= {args.tolerance})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
