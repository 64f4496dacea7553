"""Which classes each mixing mask takes from the unlabeled targets and which it adds.

For ``--batches`` training batches of a semi-supervised config (its train dataloader and
pipeline), the checkpoint's teacher predicts the pseudo-labels and depth of the unlabeled
frames once; every registered mixing mask (``MIX_MASKS``), with the config's warp and with the
partner unmoved, then mixes the same predictions with the same partners
(``mmseg_ccam.analysis.mix_statistics``; ``DepthOrderMask`` is AffineMix, ``DepthOrderMask-unmoved``
DepthMix, ``ClassMask-unmoved`` ClassMix). The first table gives
each class's share of the target pixels before mixing and after each mask, the second the
share of each class's pixels that the paste covers, the last row the pasted fraction.

Example::

    python tools/analysis_tools/mix_statistics.py configs/evidence/semi_r18_1-8.py \
        work_dirs/evidence/semi/seed0/iter_1000.pth --batches 25
"""
import argparse
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.config import DictAction

import mmseg_ccam  # noqa: F401  (registers the modules)
from mmseg_ccam.analysis.mix_statistics import mix_arms, mix_statistics
from mmseg_ccam.analysis.model_setup import setup_batch_run
from mmseg_ccam.models.segmentors.mean_teacher_seg_depth import split_labeled


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a semi-supervised (MeanTeacherSegDepth) config')
    parser.add_argument('checkpoint', help='trained weights; the teacher predicts the targets')
    parser.add_argument('--batches', type=int, default=25, help='training batches to count')
    parser.add_argument('--seed', type=int, default=0, help='data order and mixing draws')
    parser.add_argument('--arms', nargs='+', default=mix_arms(), choices=mix_arms(),
                        help='registered masks, NAME-unmoved without the warp (default: all)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_args(argv)


def _pct(num: np.ndarray, den) -> List[str]:
    with np.errstate(invalid='ignore', divide='ignore'):
        share = 100.0 * np.asarray(num, dtype=np.float64) / den
    return ['–' if not np.isfinite(s) else f'{s:.1f}' for s in np.atleast_1d(share)]


def tables(totals: Dict[str, Dict[str, np.ndarray]], classes: Sequence[str]) -> str:
    """Markdown tables of summed :func:`mix_statistics` counts; classes absent from every
    target (before and after every mode) are left out."""
    modes = list(totals)
    first = totals[modes[0]]
    pixels = first['pixels']
    shown = [c for c in range(len(classes))
             if first['before'][c] > 0 or any(totals[m]['after'][c] > 0 for m in modes)]
    before = _pct(first['before'], pixels)
    after = {m: _pct(totals[m]['after'], pixels) for m in modes}
    covered = {m: _pct(totals[m]['covered'], first['before']) for m in modes}
    lines = ['Share of the unlabeled target pixels (%):', '',
             '| class | pseudo-labels | ' + ' | '.join(modes) + ' |',
             '|---|---:|' + '---:|' * len(modes)]
    lines += [f'| {classes[c]} | {before[c]} | ' + ' | '.join(after[m][c] for m in modes) + ' |'
              for c in shown]
    lines += ['', "Share of each class's pseudo-label pixels covered by the paste (%):", '',
              '| class | ' + ' | '.join(modes) + ' |', '|---|' + '---:|' * len(modes)]
    lines += [f'| {classes[c]} | ' + ' | '.join(covered[m][c] for m in modes) + ' |'
              for c in shown]
    lines.append('| pasted fraction | ' + ' | '.join(
        _pct(totals[m]['pasted'].sum(), pixels)[0] for m in modes) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    _, model, loader = setup_batch_run(args, semi=True, reason=(
        'mixing acts on the unlabeled frames of a MeanTeacherSegDepth config.'))
    model.eval()
    classes = loader.dataset.metainfo['classes']
    totals: Dict[str, Dict[str, np.ndarray]] = {}
    frames = 0
    for i, data in enumerate(loader):
        if i == args.batches:
            break
        data = model.data_preprocessor(data, training=True)
        counts = mix_statistics(model, data['inputs'], data['data_samples'], args.arms,
                                seed=args.seed + i)
        for mode, c in counts.items():
            acc = totals.setdefault(mode, {k: np.zeros_like(v) for k, v in c.items()})
            for k, v in c.items():
                acc[k] = acc[k] + v
        frames += len(split_labeled(data['data_samples'])[1])
    if not totals:
        raise SystemExit(f'No unlabeled frame in {args.batches} batches of {args.config}: '
                         'check its train dataloader (labeled + unlabeled subsets).')
    out = (f'{args.config} ({args.checkpoint}), {frames} unlabeled frames in '
           f'{min(i + 1, args.batches)} batches, teacher predictions mixed by each mask with '
           f'the same partners\n\n{tables(totals, classes)}')
    print(out)
    return out


if __name__ == '__main__':
    main()
