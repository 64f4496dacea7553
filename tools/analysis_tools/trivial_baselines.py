"""Scores of the two trivial predictors a trained model must beat.

* constant class: every pixel gets the most frequent train class of the training split;
* mean depth: every pixel gets the mean valid training depth (metres).

Both are scored with the same metrics as ``tools/test.py`` (ClassIoUMetric,
StreamingDepthMetric) on the evaluation split.

Example::

    python tools/analysis_tools/trivial_baselines.py data/synthcity
"""
import argparse
import os.path as osp
import sys
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS

import mmseg_ccam  # noqa: F401
from mmseg_ccam.evaluation.metrics.class_iou_metric import ClassIoUMetric
from mmseg_ccam.evaluation.metrics.depth_metric import StreamingDepthMetric
from mmseg_ccam.evaluation.report import flatten_metrics, format_metrics_table
from mmseg_ccam.utils.data_roots import missing_data_message


def load_split(data_root: str, split: str) -> list:
    """Ground-truth label and depth maps of one split, at full resolution."""
    dataset = DATASETS.build(dict(
        type='CityscapesDepthDataset', data_root=data_root, lazy_init=False,
        data_prefix=dict(img_path=f'leftImg8bit/{split}', seg_map_path=f'gtFine/{split}',
                         depth_path=f'disparity/{split}', camera_path=f'camera/{split}'),
        pipeline=[]))
    load = Compose([dict(type='LoadAnnotations'), dict(type='LoadCityscapesDepth')])
    num_classes = len(dataset.metainfo['classes'])
    out = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        sample = load(dict(info, seg_fields=[]))
        labels = sample['gt_seg_map']
        bad = labels[(labels != 255) & (labels >= num_classes)]
        if bad.size:
            raise ValueError(
                f'{info.get("seg_map_path")}: label ids up to {int(bad.max())}, but train ids '
                f'are 0..{num_classes - 1} or 255: this looks like a *_labelIds.png tree (or '
                'another label set). Use the *_gtFine_labelTrainIds.png files (cityscapesScripts '
                'createTrainIdLabelImgs; SynthCity writes both).')
        out.append(sample)
    return out


def trivial_baselines(data_root: str, train_split: str = 'train', eval_split: str = 'val',
                      max_depth: float = 80.0) -> Tuple[dict, Dict[str, Optional[float]]]:
    """Fit the two trivial predictors on ``train_split`` and score them on ``eval_split``.

    Returns:
        tuple[dict, dict]: ``info`` (``constant_class``, ``mean_depth_m``, frame counts and
        splits) and the flat metrics (``mIoU``, ``aAcc``, ``mAcc``, ``abs_rel``, ``d1``, ...,
        without the per-class IoU).
    """
    with DefaultScope.overwrite_default_scope('mmseg'):
        train = load_split(data_root, train_split)
        evals = load_split(data_root, eval_split)
    classes = DATASETS.get('CityscapesDepthDataset').METAINFO['classes']
    counts = sum(np.bincount(r['gt_seg_map'][r['gt_seg_map'] != 255].ravel(),
                             minlength=len(classes)) for r in train)
    majority = int(np.argmax(counts))
    depths = np.concatenate([r['gt_depth_map'][r['gt_depth_map'] > 0] for r in train])
    mean_depth = float(depths.mean())

    iou = ClassIoUMetric(iou_metrics=['mIoU'])
    iou.dataset_meta = dict(classes=classes)
    depth = StreamingDepthMetric(max_depth_eval=max_depth)
    for r in evals:
        gt_seg = torch.from_numpy(r['gt_seg_map'].astype(np.int64))[None]
        gt_depth = torch.from_numpy(r['gt_depth_map'])[None]
        sample = dict(pred_sem_seg=dict(data=torch.full_like(gt_seg, majority)),
                      gt_sem_seg=dict(data=gt_seg),
                      pred_depth_map=dict(data=torch.full_like(gt_depth, mean_depth)),
                      gt_depth_map=dict(data=gt_depth))
        iou.process({}, [sample])
        depth.process({}, [sample])
    metrics = {**iou.compute_metrics(iou.results), **depth.compute_metrics(depth.results)}
    info = dict(constant_class=classes[majority], mean_depth_m=mean_depth,
                train_split=train_split, train_frames=len(train), eval_split=eval_split,
                eval_frames=len(evals))
    flat = {k: v for k, v in flatten_metrics(metrics).items() if not k.startswith('IoU.')}
    return info, flat


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data_root')
    parser.add_argument('--train-split', default='train')
    parser.add_argument('--eval-split', default='val')
    parser.add_argument('--max-depth', type=float, default=80.0)
    args = parser.parse_args(argv)
    if not args.max_depth > 0:
        parser.error(f'--max-depth must be > 0 m, got {args.max_depth}')
    for split in (args.train_split, args.eval_split):
        folder = osp.join(args.data_root, 'leftImg8bit', split)
        if not osp.isdir(folder):
            print(f'trivial_baselines.py: {missing_data_message(args.data_root, folder)}',
                  file=sys.stderr)
            sys.exit(2)

    info, flat = trivial_baselines(args.data_root, args.train_split, args.eval_split,
                                   args.max_depth)
    print(f"constant class: {info['constant_class']!r}; mean depth: {info['mean_depth_m']:.2f} m "
          f"({info['train_frames']} {args.train_split} frames); scored on {info['eval_frames']} "
          f'{args.eval_split} frames')
    print(format_metrics_table(flat))


if __name__ == '__main__':
    main()
