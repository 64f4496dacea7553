"""Which shipped configs export to ONNX: a table of export + onnxruntime check per config.

Each config's model is built with random weights (no checkpoint needed; ``pretrained`` and
``init_cfg`` are turned off), every CCAM ``gamma`` set to 0.5 so that the attention takes part
(it is 0 at initialisation), exported with dynamic axes and compared with PyTorch at the
export size and at a second size.

Example::

    python tools/deployment/onnx_support.py configs/ccam/ccam_r18_synthcity.py \\
        configs/ccam/ccam_mit-b0_cityscapes.py --shape 128 256
"""
import argparse
import os.path as osp
import tempfile
import traceback
import warnings
from typing import List, Optional, Sequence

import torch
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_ccam  # noqa: F401
from mmseg_ccam.apis.inference import strip_pretrained
from mmseg_ccam.deployment import (
    check_onnx,
    default_check_shapes,
    export_onnx,
    worst_relative_diff,
)
from mmseg_ccam.utils.config_check import load_checked_config


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='ONNX export support table of configs')
    parser.add_argument('configs', nargs='+', help='config files')
    parser.add_argument('--shape', type=int, nargs=2, default=(128, 256), metavar=('H', 'W'))
    parser.add_argument('--static', action='store_true', help='static shape (default dynamic)')
    parser.add_argument('--tolerance', type=float, default=1e-3)
    args = parser.parse_args(argv)
    if min(args.shape) < 1:
        parser.error(f'--shape H W must be positive, got {args.shape[0]} {args.shape[1]}')
    if not args.tolerance > 0:
        parser.error(f'--tolerance must be > 0, got {args.tolerance}')
    return args


def check_config(config: str, shape: Sequence[int], dynamic: bool, tolerance: float) -> str:
    cfg = load_checked_config(config, with_data=False)
    strip_pretrained(cfg.model)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.split('.')[-1] in ('gamma_s', 'gamma_d'):
                param.fill_(0.5)
    with tempfile.TemporaryDirectory() as tmp:
        out = osp.join(tmp, 'model.onnx')
        try:
            export_onnx(model, out, shape, dynamic=dynamic)
        except Exception as err:  # report, do not stop the table
            return f'export fails: {type(err).__name__}: {str(err).splitlines()[0][:120]}'
        try:
            report = check_onnx(model, out, default_check_shapes(shape, dynamic))
        except Exception as err:
            return f'onnxruntime fails: {type(err).__name__}: {str(err).splitlines()[0][:120]}'
    worst = worst_relative_diff(report)
    sizes = ', '.join(f'{r["shape"][0]}x{r["shape"][1]}' for r in report)
    verdict = 'ok' if worst <= tolerance else 'MISMATCH'
    return f'{verdict} (max relative diff {worst:.2g} at {sizes})'


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    args = parse_args(argv)
    warnings.filterwarnings('ignore')
    rows = []
    for config in args.configs:
        try:
            result = check_config(config, args.shape, not args.static, args.tolerance)
        except Exception:
            result = 'build fails: ' + traceback.format_exc().splitlines()[-1][:120]
        rows.append(f'| {osp.basename(config)} | {result} |')
        print(rows[-1], flush=True)
    return rows


if __name__ == '__main__':
    main()
