"""Print ENet class weights of a Cityscapes-format training split as a config line.

Counts the pixels of every ``gtFine/<split>/*/*_gtFine_labelTrainIds.png`` and prints
``class_weight=[...]`` for ``loss_decode=dict(type='CrossEntropyLoss', ...)`` (weights
``1 / ln(1.02 + p_k)`` scaled to a pixel mean of 1; ``mmseg_ccam.datasets.class_weights``)::

    python tools/analysis_tools/class_weights.py data/synthcity_evidence --split train
"""
import argparse
import sys

import numpy as np

from mmseg_ccam.datasets.cityscapes_depth import CityscapesDepthDataset
from mmseg_ccam.datasets.class_weights import (
    count_class_pixels,
    enet_class_weights,
    find_train_id_maps,
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('data_root', help='Cityscapes-format root (holds gtFine/<split>)')
    parser.add_argument('--split', default='train')
    parser.add_argument('--c', type=float, default=1.02, help="ENet's constant (default 1.02)")
    args = parser.parse_args(argv)
    classes = CityscapesDepthDataset.METAINFO['classes']
    try:
        paths = find_train_id_maps(args.data_root, args.split)
        counts = count_class_pixels(paths, len(classes))
        weights = enet_class_weights(counts, args.c)
    except (FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    share = counts / counts.sum()
    print(f'# {len(paths)} maps under {args.data_root}/gtFine/{args.split}, '
          f'{int(counts.sum())} labelled pixels')
    print(f'# {"class":<14} {"share":>8} {"weight":>7}')
    for name, p, w in zip(classes, share, weights):
        print(f'# {name:<14} {p:8.5f} {w:7.4f}')
    print('class_weight=[' + ', '.join(f'{w:.4f}' for w in np.round(weights, 4)) + ']')
    return 0


if __name__ == '__main__':
    sys.exit(main())
