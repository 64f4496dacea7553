"""Per-task gradients on the shared backbone and neck of a joint segmentation + depth model.

For each of ``--batches`` training batches (the config's train dataloader and pipeline), the
gradient of the segmentation loss and that of the depth loss on every shared part
(``backbone.stem``, ``backbone.layer1`` ... ``neck.*`` and all of them together) are computed
separately; the table gives their norms, the norm ratio and the cosine, averaged over the
batches (mean ± std). A ratio far from 1 says one task dominates the shared features; a cosine
below 0 says the two tasks pull the shared weights in opposite directions.

Example::

    python tools/analysis_tools/task_gradients.py configs/evidence/sup_r18_ccam.py \
        work_dirs/evidence/ccam/seed0/iter_1000.pth --batches 8
"""
import argparse
from typing import List, Optional, Sequence

import numpy as np
from mmengine.config import DictAction

import mmseg_ccam  # noqa: F401  (registers the modules)
from mmseg_ccam.analysis.model_setup import setup_batch_run
from mmseg_ccam.analysis.task_gradients import gradient_stats, task_gradients


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?',
                        help='weights to measure (default: the config\'s initialisation)')
    parser.add_argument('--batches', type=int, default=8, help='training batches to average')
    parser.add_argument('--seed', type=int, default=0, help='data order and augmentation')
    parser.add_argument('--shared', nargs='+', default=['backbone', 'neck'],
                        help='top-level modules that every task trains')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_args(argv)


def summarise(per_batch: List[List[dict]]) -> str:
    """Markdown table: mean ± std over batches of every column of :func:`gradient_stats`."""
    parts = [row['part'] for row in per_batch[0]]
    columns = [k for k in per_batch[0][0] if k != 'part']
    lines = ['| part | ' + ' | '.join(columns) + ' |', '|---|' + '---:|' * len(columns)]
    for i, part in enumerate(parts):
        cells = []
        for c in columns:
            values = np.array([rows[i][c] for rows in per_batch], dtype=np.float64)
            values = values[np.isfinite(values)]
            std = values.std(ddof=1) if values.size > 1 else 0.0
            cells.append('–' if values.size == 0 else f'{values.mean():.3g} ± {std:.2g}')
        lines.append(f'| {part} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    # Weights, data order and augmentation draws all follow --seed.
    _, model, loader = setup_batch_run(args, semi=False, reason=(
        'pass the supervised config of its segmentor (the teacher has no gradients).'))
    per_batch, losses = [], []
    for i, data in enumerate(loader):
        if i == args.batches:
            break
        grads, task_losses = task_gradients(model, data, shared=args.shared)
        per_batch.append(gradient_stats(grads))
        losses.append(task_losses)
    table = summarise(per_batch)
    mean_losses = ', '.join(f'{t} {np.mean([x[t] for x in losses]):.4f}' for t in losses[0])
    out = (f'{args.config} ({args.checkpoint or "initial weights"}), {len(per_batch)} batches, '
           f'mean loss per task: {mean_losses}\n\n{table}')
    print(out)
    return out


if __name__ == '__main__':
    main()
