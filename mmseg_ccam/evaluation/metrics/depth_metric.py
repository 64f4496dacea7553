"""Depth metric that accumulates per-image sums instead of per-pixel arrays."""
import logging
import math
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmengine.utils import mkdir_or_exist
from mmseg.registry import METRICS
from prettytable import PrettyTable
from torch import Tensor

# Order of the per-image sums produced by :func:`depth_error_sums`.
SUM_FIELDS = ('n', 'abs_rel', 'sq_rel', 'sq_err', 'log_sq', 'log', 'abs_log10', 'd1', 'd2', 'd3')


def depth_error_sums(gt: Tensor, pred: Tensor) -> np.ndarray:
    """Sums over the pixels of one image from which every metric follows.

    Args:
        gt (Tensor): Valid ground-truth depths, shape ``(N,)``, all > 0.
        pred (Tensor): Predicted depths at the same pixels, ``(N,)``, all > 0.

    Returns:
        np.ndarray: float64 ``(10,)`` in the order of ``SUM_FIELDS``: N, Σ|Δ|/gt, ΣΔ²/gt, ΣΔ²,
        Σ(log Δ)², Σ log Δ, Σ|log10 Δ|, and the counts of ``max(gt/pred, pred/gt) < 1.25^k``.
    """
    # Element-wise work stays in the input precision (as mmseg's); only the sums are float64,
    # so they do not lose digits over millions of pixels.
    diff = pred - gt
    diff_log = torch.log(pred) - torch.log(gt)
    thresh = torch.maximum(gt / pred, pred / gt)

    def total(x: Tensor) -> Tensor:
        return x.sum(dtype=torch.float64)

    sums = torch.stack([
        torch.tensor(float(gt.numel()), dtype=torch.float64, device=gt.device),
        total(diff.abs() / gt),
        total(diff.pow(2) / gt),
        total(diff.pow(2)),
        total(diff_log.pow(2)),
        total(diff_log),
        # log10(a) - log10(b) = (ln a - ln b) / ln 10: saves two logs per pixel
        total(diff_log.abs()) / math.log(10.0),
        total(thresh < 1.25),
        total(thresh < 1.25**2),
        total(thresh < 1.25**3),
    ])
    return sums.cpu().numpy()


def metrics_from_sums(sums: np.ndarray) -> Dict[str, float]:
    """Depth metrics of one set of pixels from its sums (same formulas as mmseg ``DepthMetric``).

    Args:
        sums (np.ndarray): ``(10,)`` as returned by :func:`depth_error_sums`, with ``N > 0``.

    Returns:
        dict[str, float]: d1, d2, d3, abs_rel, sq_rel, rmse, rmse_log, log10, silog.
    """
    s = dict(zip(SUM_FIELDS, (float(v) for v in sums)))
    n = s['n']
    mean_log_sq, mean_log = s['log_sq'] / n, s['log'] / n
    return {
        'd1': s['d1'] / n,
        'd2': s['d2'] / n,
        'd3': s['d3'] / n,
        'abs_rel': s['abs_rel'] / n,
        'sq_rel': s['sq_rel'] / n,
        'rmse': float(np.sqrt(s['sq_err'] / n)),
        'rmse_log': float(np.sqrt(mean_log_sq)),
        'log10': s['abs_log10'] / n,
        # mean(x²) - mean(x)²/2 >= mean(x²)/2 >= 0; max() only guards rounding.
        'silog': float(np.sqrt(max(mean_log_sq - 0.5 * mean_log**2, 0.0))),
    }


def check_finite_prediction(pred: Tensor, what: str, sample: dict) -> None:
    """Refuse a prediction holding NaN or inf: its metrics would be numbers that mean nothing
    (NaN depth drops out of the error sums and counts as a miss for δ; NaN logits argmax to
    class 0 everywhere), so the evaluation fails naming the image and the likely cause.

    Raises:
        FloatingPointError: with the image path and the count of non-finite values.
    """
    bad = int((~torch.isfinite(pred)).sum())
    if bad:
        raise FloatingPointError(
            f'The model predicted {bad} non-finite {what} value(s) (NaN/inf) of '
            f'{pred.numel()} for {sample.get("img_path", "an image")}: its weights hold '
            'NaN/inf (a diverged run or a damaged checkpoint), so no metric is defined. '
            'Evaluate an earlier checkpoint or retrain with a lower learning rate / '
            'gradient clipping.')


@METRICS.register_module()
class StreamingDepthMetric(BaseMetric):
    """Monocular depth metrics with constant memory per image.

    The definitions and the averaging are those of mmseg's ``DepthMetric``: on each image the
    metrics are computed over pixels with ``min_depth_eval < gt < max_depth_eval``, then averaged
    over images (``average='image'``). ``process`` keeps only 10 sums per image, so memory does
    not grow with image size and multi-GPU collection moves a few floats per image.
    ``average='pixel'`` pools the sums of all images instead (every pixel weighs the same).

    Predictions are clamped to at least ``pred_eps`` before the logs: a prediction of 0 (or
    below) would make ``log`` -inf and turn rmse_log/silog/log10 of the whole set into inf/NaN;
    the clamp keeps such a pixel a large, finite error. Any prediction >= ``pred_eps`` is
    untouched, so results equal mmseg's whenever mmseg's are finite. Ground truth enters only
    where ``gt > min_depth_eval >= 0``, so ``log(gt)`` never sees 0 either (0 = no measurement).
    A NaN / inf *prediction* is not hidden: it makes the metrics NaN / inf.

    Images without a single valid pixel are skipped; their number is logged.

    Reads ``data_sample['pred_depth_map']['data']`` and ``data_sample['gt_depth_map']['data']``
    (``1 x H x W`` or ``H x W``, metres).

    Args:
        depth_metrics (list[str], optional): Subset of ``METRICS`` to report. Defaults to all.
        min_depth_eval (float): Ground truth must be above it. Defaults to 1e-3.
        max_depth_eval (float): Ground truth must be below it. Defaults to 80.0.
        average (str): ``'image'`` (mean of per-image metrics, as mmseg) or ``'pixel'``.
            Defaults to ``'image'``.
        pred_eps (float): Lower clamp of predictions. Defaults to 1e-6.
        depth_scale_factor (float): Scale of depth written to ``output_dir`` as uint16 PNG.
            Defaults to 256.0 (Cityscapes-like 1/256 m resolution).
        output_dir (str, optional): Write predictions here. Defaults to None.
        format_only (bool): Only write predictions (no ground truth needed). Defaults to False.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to None.
        collect_dir (str, optional): Directory for collecting results across ranks on CPU
            (``BaseMetric``). Defaults to None.
        median_scaling (bool): Multiply each image's prediction by median(gt) / median(pred)
            over its valid pixels before the errors (the evaluation of scale-ambiguous models,
            e.g. self-supervised monocular depth), and report the mean of that factor as
            ``median_scale`` (1 = no global scale bias; 1.2 = predictions 20 % too near).
            The errors then measure shape, not scale. Defaults to False.

    Any other argument raises ``TypeError`` (a misspelled one, e.g. ``max_depth_evl``, is not
    silently ignored as ``**kwargs`` would).
    """
    METRICS = ('d1', 'd2', 'd3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog')

    def __init__(self,
                 depth_metrics: Optional[Sequence[str]] = None,
                 min_depth_eval: float = 1e-3,
                 max_depth_eval: float = 80.0,
                 average: str = 'image',
                 pred_eps: float = 1e-6,
                 depth_scale_factor: float = 256.0,
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None,
                 median_scaling: bool = False) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if depth_metrics is None:
            self.metrics: List[str] = list(self.METRICS)
        else:
            if isinstance(depth_metrics, str):
                depth_metrics = [depth_metrics]
            unknown = [m for m in depth_metrics if m not in self.METRICS]
            if unknown or not depth_metrics:
                raise ValueError(f'StreamingDepthMetric: depth_metrics {list(depth_metrics)} '
                                 f'must be a non-empty subset of {self.METRICS}')
            self.metrics = list(depth_metrics)
        if average not in ('image', 'pixel'):
            raise ValueError(f"StreamingDepthMetric: average={average!r} must be 'image' or "
                             f"'pixel'")
        if not 0 <= min_depth_eval < max_depth_eval:
            raise ValueError(f'StreamingDepthMetric: need 0 <= min_depth_eval < max_depth_eval, '
                             f'got {min_depth_eval}, {max_depth_eval}')
        if pred_eps <= 0:
            raise ValueError(f'StreamingDepthMetric: pred_eps={pred_eps} must be > 0')
        self.median_scaling = bool(median_scaling)
        if self.median_scaling:
            self.metrics.append('median_scale')
        self.min_depth_eval = min_depth_eval
        self.max_depth_eval = max_depth_eval
        self.average = average
        self.pred_eps = pred_eps
        self.depth_scale_factor = depth_scale_factor
        self.output_dir = output_dir
        self.format_only = format_only
        if format_only and not output_dir:
            raise ValueError('StreamingDepthMetric: format_only=True needs output_dir')
        if self.output_dir and is_main_process():
            mkdir_or_exist(self.output_dir)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Store 10 sums per image in ``self.results``.

        Args:
            data_batch (dict): Batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs with ``pred_depth_map`` and
                ``gt_depth_map``.
        """
        for sample in data_samples:
            if 'pred_depth_map' not in sample:
                raise KeyError('StreamingDepthMetric: data sample has no pred_depth_map; the '
                               'model must predict depth (a depth head) to be evaluated')
            pred = sample['pred_depth_map']['data'].squeeze()
            if pred.dtype != torch.float64:
                pred = pred.float()  # half-precision logs would lose the metric's digits
            check_finite_prediction(pred, 'depth', sample)
            if self.output_dir:
                self._write_prediction(sample, pred)
            if self.format_only:
                continue
            if 'gt_depth_map' not in sample:
                raise KeyError(f'StreamingDepthMetric: no gt_depth_map for '
                               f'{sample.get("img_path")}; add LoadCityscapesDepth to the test '
                               f'pipeline or set format_only=True')
            gt = sample['gt_depth_map']['data'].squeeze().to(pred)
            if gt.shape != pred.shape:
                raise ValueError(f'StreamingDepthMetric: prediction {tuple(pred.shape)} and '
                                 f'ground truth {tuple(gt.shape)} differ in size for '
                                 f'{sample.get("img_path")}')
            mask = (gt > self.min_depth_eval) & (gt < self.max_depth_eval)
            if not bool(mask.any()):
                self.results.append(np.zeros(len(SUM_FIELDS) + self.median_scaling))
                continue
            gt_valid, pred_valid = gt[mask], pred[mask].clamp(min=self.pred_eps)
            if self.median_scaling:
                scale = float(gt_valid.median() / pred_valid.median())
                sums = depth_error_sums(gt_valid, pred_valid * scale)
                self.results.append(np.append(sums, scale))
            else:
                self.results.append(depth_error_sums(gt_valid, pred_valid))

    def _write_prediction(self, sample: dict, pred: Tensor) -> None:
        name = osp.splitext(osp.basename(sample.get('img_path') or 'pred'))[0]
        scaled = pred.float().cpu().numpy() * self.depth_scale_factor
        # Clip instead of letting the uint16 cast wrap around.
        out = np.clip(np.round(scaled), 0, 65535).astype(np.uint16)
        cv2.imwrite(osp.join(self.output_dir, f'{name}.png'), out)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Average the per-image metrics.

        Args:
            results (list): Per-image sums from all ranks.

        Returns:
            dict[str, float]: The requested metrics.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        if self.format_only:
            logger.info(f'depth predictions are saved to {self.output_dir}')
            return OrderedDict()
        rows = np.asarray(results, dtype=np.float64).reshape(
            -1, len(SUM_FIELDS) + self.median_scaling)
        sums = rows[:, :len(SUM_FIELDS)]
        valid = sums[:, 0] > 0
        skipped = int((~valid).sum())
        if skipped:
            print_log(f'StreamingDepthMetric: skipped {skipped} of {len(sums)} image(s) with no '
                      f'ground-truth depth in ({self.min_depth_eval}, {self.max_depth_eval})',
                      logger, level=logging.WARNING)
        if not valid.any():
            raise ValueError('StreamingDepthMetric: no image has a valid ground-truth pixel; '
                             'check the depth loading and min/max_depth_eval')
        if self.average == 'pixel':
            per_set = [metrics_from_sums(sums[valid].sum(0))]
        else:
            per_set = [metrics_from_sums(s) for s in sums[valid]]
        if self.median_scaling:
            for m in per_set:
                m['median_scale'] = float(rows[valid, -1].mean())
        metrics = OrderedDict(
            (k, float(np.mean([m[k] for m in per_set]))) for k in self.metrics)

        table = PrettyTable()
        for key, val in metrics.items():
            table.add_column(key, [round(val, 5)])
        print_log(f'depth results over {int(valid.sum())} image(s):', logger)
        print_log('\n' + table.get_string(), logger=logger)
        return metrics
