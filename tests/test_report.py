"""The metrics table and flat JSON of tools/test.py, and ClassIoUMetric."""
import math

import pytest
import torch

import mmseg_ccam  # noqa: F401
from mmseg_ccam.evaluation.metrics.class_iou_metric import ClassIoUMetric
from mmseg_ccam.evaluation.report import REQUIRED_KEYS, flatten_metrics, format_metrics_table


def test_flatten_strips_prefixes_and_fills_missing_keys():
    flat = flatten_metrics({'mIoU': 50.0, 'depth/abs_rel': 0.25, 'IoU.road': 90.5})
    assert flat['abs_rel'] == 0.25 and flat['mIoU'] == 50.0 and flat['IoU.road'] == 90.5
    assert set(REQUIRED_KEYS) <= set(flat)
    assert flat['rmse'] is None and flat['aAcc'] is None


def test_flatten_rejects_a_name_reported_twice():
    with pytest.raises(ValueError, match='abs_rel'):
        flatten_metrics({'a/abs_rel': 1.0, 'b/abs_rel': 2.0})


def test_table_lists_both_tasks_and_classes():
    flat = flatten_metrics({'mIoU': 12.345, 'aAcc': 80.0, 'mAcc': 20.0, 'abs_rel': 0.123456,
                            'd1': 0.9, 'IoU.car': 33.3})
    table = format_metrics_table(flat)
    assert '| segmentation |     mIoU |  12.35 |' in table
    assert '0.1235' in table and '33.30' in table
    # A missing value prints as '-', not as a number.
    assert '|        depth |     rmse |      - |' in table


def test_class_iou_metric_returns_per_class_iou():
    metric = ClassIoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    pred = torch.tensor([[0, 0, 1, 1]])
    gt = torch.tensor([[0, 1, 1, 255]])
    sample = dict(pred_sem_seg=dict(data=pred), gt_sem_seg=dict(data=gt))
    metric.process({}, [sample])
    out = metric.compute_metrics(metric.results)
    # class a: inter 1, union 2 -> 50 %; class b: inter 1, union 2 -> 50 %; c absent -> NaN.
    assert out['IoU.a'] == 50.0 and out['IoU.b'] == 50.0
    assert math.isnan(out['IoU.c'])
    assert out['mIoU'] == 50.0


def test_float32_values_keep_their_short_form():
    import numpy as np
    flat = flatten_metrics({'mIoU': np.float32(0.06), 'abs_rel': np.float64(0.1234567891)})
    assert flat['mIoU'] == 0.06 and flat['abs_rel'] == 0.1234567891
