"""IoUMetric that also returns the per-class IoU it prints."""
from typing import Dict, Sequence

import numpy as np
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS

from .depth_metric import check_finite_prediction


@METRICS.register_module()
class ClassIoUMetric(IoUMetric):
    """MMSegmentation's :class:`IoUMetric` plus one ``IoU.<class>`` entry per class.

    The stock metric only logs the per-class table; returning the values lets
    ``tools/test.py`` print them in its table and write them to ``--out`` JSON. All arguments
    are those of :class:`IoUMetric`. Values are percentages rounded to 2 decimals, NaN for a
    class that occurs neither in the labels nor in the predictions.
    """

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """:meth:`IoUMetric.process`, refusing non-finite ``seg_logits`` (NaN logits argmax to
        class 0 everywhere, which IoU would score as a number)."""
        for sample in data_samples:
            logits = sample.get('seg_logits')
            if isinstance(logits, dict) and 'data' in logits:
                check_finite_prediction(logits['data'], 'segmentation logit', sample)
        super().process(data_batch, data_samples)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        if self.format_only:
            return metrics
        intersect = sum(r[0] for r in results).cpu().numpy().astype(np.float64)
        union = sum(r[1] for r in results).cpu().numpy().astype(np.float64)
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = intersect / union
        for name, value in zip(self.dataset_meta['classes'], iou):
            metrics[f'IoU.{name}'] = float(np.round(value * 100, 2))
        return metrics
