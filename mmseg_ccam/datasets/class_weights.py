"""Class weights for a cross-entropy loss, from the pixel counts of a training split.

``loss_decode=dict(type='CrossEntropyLoss', class_weight=[...])`` takes one weight per class;
this module computes them from the ``*_labelTrainIds.png`` files a Cityscapes-format split
holds (``tools/analysis_tools/class_weights.py`` prints them as a config line).
"""
import glob
import os.path as osp
from typing import Iterable, Sequence

import numpy as np
from PIL import Image


def count_class_pixels(label_paths: Iterable[str], num_classes: int,
                       ignore_index: int = 255) -> np.ndarray:
    """Pixels per train id over a set of ``labelTrainIds`` maps.

    Args:
        label_paths (Iterable[str]): single-channel PNGs of train ids.
        num_classes (int): K; ids in ``[0, K)`` are counted.
        ignore_index (int): the id that is not counted. Default: 255.

    Returns:
        np.ndarray: int64 (K,) counts.

    Raises:
        ValueError: a file is not a single-channel map or holds an id that is neither a class
            nor ``ignore_index`` (a labelIds map passed for a labelTrainIds one, say).
    """
    counts = np.zeros(num_classes, dtype=np.int64)
    for path in label_paths:
        with Image.open(path) as image:
            label = np.asarray(image)
        if label.ndim != 2:
            raise ValueError(f'{path}: a labelTrainIds map has one channel, this one has shape '
                             f'{label.shape}')
        ids, n = np.unique(label, return_counts=True)
        bad = ids[(ids >= num_classes) & (ids != ignore_index)]
        if bad.size:
            raise ValueError(f'{path}: ids {bad.tolist()} are neither a class (< {num_classes}) '
                             f'nor ignore ({ignore_index}); pass *_labelTrainIds.png files')
        keep = ids < num_classes
        counts[ids[keep]] += n[keep]
    return counts


def find_train_id_maps(data_root: str, split: str) -> list:
    """The ``gtFine/<split>/<city>/*_gtFine_labelTrainIds.png`` files of a split, sorted.

    Raises:
        FileNotFoundError: the split holds none (names the folder searched).
    """
    folder = osp.join(data_root, 'gtFine', split)
    paths = sorted(glob.glob(osp.join(folder, '*', '*_gtFine_labelTrainIds.png')))
    if not paths:
        raise FileNotFoundError(f'no *_gtFine_labelTrainIds.png under {folder}; for Cityscapes '
                                'run cityscapesscripts\' createTrainIdLabelImgs first')
    return paths


def enet_class_weights(counts: Sequence[int], c: float = 1.02) -> np.ndarray:
    """ENet's class weights ``1 / ln(c + p_k)`` (Paszke et al., 2016), p_k the pixel share.

    Rare classes get up to ``1 / ln(c)`` (about 50 at c = 1.02) instead of the unbounded
    ``1 / p_k`` of inverse-frequency weighting. The weights are scaled so that their mean over
    the counted pixels is 1 (a weight reads as "times an average pixel"); a class-weighted
    cross-entropy divides by the sum of the weights (``WeightedCrossEntropyLoss``), so the scale
    does not change the loss. A class with no pixel gets the largest weight; it contributes no
    loss on this split.

    Args:
        counts (Sequence[int]): pixels per class, (K,), at least one positive.
        c (float): ENet's constant, > 1. Default: 1.02.

    Returns:
        np.ndarray: float64 (K,) weights.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError(f'counts must be non-negative pixels per class with a positive sum, '
                         f'got {counts.tolist()}')
    if c <= 1:
        raise ValueError(f'c must be > 1 (1 / ln(c + p) is unbounded at c = 1), got {c}')
    share = counts / counts.sum()
    weights = 1.0 / np.log(c + share)
    return weights / float((weights * share).sum())
