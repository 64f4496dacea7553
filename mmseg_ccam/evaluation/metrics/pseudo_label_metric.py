"""How good a model's confident predictions would be as pseudo-labels."""
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS
from prettytable import PrettyTable


def pseudo_label_counts(logits: torch.Tensor, gt: torch.Tensor, tau: float,
                        ignore_index: int = 255) -> np.ndarray:
    """Per-class pixel counts of one image for :class:`PseudoLabelMetric`.

    Args:
        logits (Tensor): Segmentation logits, ``(C, H, W)`` with C >= 2.
        gt (Tensor): Labels, ``(H, W)`` or ``(1, H, W)``; ``ignore_index`` is left out.
        tau (float): Confidence threshold on the softmax maximum.
        ignore_index (int): Label of unlabeled pixels.

    Returns:
        np.ndarray: int64 ``(3, C)``: labeled pixels per true class, confident pixels
        (max softmax >= tau) per predicted class, and confident pixels predicted right.
    """
    if logits.dim() != 3 or logits.shape[0] < 2:
        raise ValueError(f'PseudoLabelMetric needs (C, H, W) multi-class logits with C >= 2, '
                         f'got shape {tuple(logits.shape)}.')
    gt = gt.reshape(logits.shape[1:]).to(logits.device).long()
    conf, pred = logits.float().softmax(dim=0).max(dim=0)
    valid = gt != ignore_index
    confident = valid & (conf >= tau)
    c = logits.shape[0]
    if valid.any() and (int(gt[valid].min()) < 0 or int(gt[valid].max()) >= c):
        raise ValueError(f'PseudoLabelMetric: labels {sorted(set(gt[valid].unique().tolist()))} '
                         f'outside 0..{c - 1} (and not ignore_index={ignore_index}); the '
                         'labels do not match the model\'s classes.')
    return torch.stack([
        torch.bincount(gt[valid], minlength=c),
        torch.bincount(pred[confident], minlength=c),
        torch.bincount(pred[confident & (pred == gt)], minlength=c),
    ]).cpu().numpy().astype(np.int64)


@METRICS.register_module()
class PseudoLabelMetric(BaseMetric):
    """Quality of the pseudo-labels a model would give: its predictions with softmax
    confidence >= ``tau``, scored against the ground truth of labeled frames.

    Mean-teacher training keeps only the teacher's confident pixels; this metric says how many
    there are and how often they are right, overall and per class, so that a semi-supervised
    run that gains nothing can be told apart from one whose pseudo-labels are wrong or never
    reach some classes. Use it on a labeled split in place of (or beside) ``IoUMetric``, in a
    config that inherits the run's::

        _base_ = ['./semi_r18_1-8.py']
        test_evaluator = [dict(type='PseudoLabelMetric', tau=0.9)]

    A ``MeanTeacherSegDepth`` is scored with the model its ``semi_test_cfg`` evaluates (the
    teacher by default).

    Reads ``seg_logits`` (``C x H x W``, at the label's size, as MMSegmentation's
    ``postprocess_result`` writes them) and ``gt_sem_seg`` of each data sample.

    Returns (percentages): ``share`` (confident pixels among labeled pixels), ``precision``
    (confident pixels predicted right), ``recall`` (labeled pixels that get a right confident
    label), ``mRecall`` (mean of the per-class recall over the classes present in the labels),
    and per class ``precision.<class>`` (NaN if never predicted confidently) and
    ``recall.<class>`` (NaN if absent from the labels).

    Args:
        tau (float): Confidence threshold, as ``semi_train_cfg.tau``. Defaults to 0.968.
        ignore_index (int): Label of unlabeled pixels. Defaults to 255.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
        collect_dir (str, optional): Directory for collecting results across ranks on CPU.
    """

    def __init__(self, tau: float = 0.968, ignore_index: int = 255,
                 collect_device: str = 'cpu', prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if not 0.0 <= tau <= 1.0:
            raise ValueError(f'PseudoLabelMetric: tau={tau} must be in [0, 1].')
        self.tau = float(tau)
        self.ignore_index = ignore_index

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            for key in ('seg_logits', 'gt_sem_seg'):
                if key not in sample:
                    raise KeyError(f'PseudoLabelMetric: no {key} in the data sample of '
                                   f'{sample.get("img_path")}; it needs a segmentation model '
                                   f'and labeled frames (LoadAnnotations in the pipeline).')
            self.results.append(pseudo_label_counts(
                sample['seg_logits']['data'], sample['gt_sem_seg']['data'], self.tau,
                self.ignore_index))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        gt, confident, correct = np.sum(results, axis=0).astype(np.float64)
        if gt.sum() == 0:
            raise ValueError('PseudoLabelMetric: no labeled pixel in the evaluated frames; '
                             'score it on a labeled split.')
        classes = self.dataset_meta.get('classes') if self.dataset_meta else None
        if classes is None or len(classes) != len(gt):
            classes = [str(i) for i in range(len(gt))]
        with np.errstate(divide='ignore', invalid='ignore'):
            precision = np.where(confident > 0, correct / confident, np.nan) * 100
            recall = np.where(gt > 0, correct / gt, np.nan) * 100
        metrics = OrderedDict(
            share=100 * confident.sum() / gt.sum(),
            precision=100 * correct.sum() / confident.sum() if confident.sum() else float('nan'),
            recall=100 * correct.sum() / gt.sum(),
            mRecall=float(np.nanmean(recall)))
        for name, p, r in zip(classes, precision, recall):
            metrics[f'precision.{name}'] = float(p)
            metrics[f'recall.{name}'] = float(r)

        table = PrettyTable(['class', 'labeled %', 'confident %', 'precision', 'recall'])
        for name, g, c, p, r in zip(classes, gt, confident, precision, recall):
            table.add_row([name, round(100 * g / gt.sum(), 2), round(100 * c / gt.sum(), 2),
                           round(float(p), 2), round(float(r), 2)])
        logger = MMLogger.get_current_instance()
        print_log(f'pseudo-labels at tau={self.tau}: share {metrics["share"]:.2f} %, '
                  f'precision {metrics["precision"]:.2f} %, recall {metrics["recall"]:.2f} %, '
                  f'mRecall {metrics["mRecall"]:.2f} %', logger)
        print_log('\n' + table.get_string(), logger=logger)
        return {k: float(round(v, 4)) for k, v in metrics.items()}
