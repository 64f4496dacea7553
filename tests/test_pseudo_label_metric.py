"""PseudoLabelMetric: confident predictions scored as pseudo-labels."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS

import mmseg_ccam  # noqa: F401  (registers the metric)
from mmseg_ccam.evaluation.metrics.pseudo_label_metric import pseudo_label_counts


def _sample(logits, gt):
    return {'seg_logits': {'data': torch.as_tensor(logits, dtype=torch.float32)},
            'gt_sem_seg': {'data': torch.as_tensor(gt)[None]},
            'pred_sem_seg': {'data': torch.as_tensor(logits).argmax(0)[None]}}


def _run(metric, samples):
    metric.dataset_meta = dict(classes=('road', 'car', 'bus'))
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_counts_and_metrics_by_hand():
    # 1 x 5 image, 3 classes. Softmax max per pixel: logit gap 5 -> 0.99 (confident at 0.9),
    # gap 0 between two classes -> <= 0.5 (not confident).
    big = 5.0
    logits = torch.tensor([
        [[big, big, 0.0, 0.0, 0.0]],    # road
        [[0.0, 0.0, big, 0.0, 0.0]],    # car
        [[0.0, 0.0, 0.0, 0.0, 0.0]]])   # bus
    # pixel: 0 road/road ok, 1 road/car wrong, 2 car/car ok, 3 tie road/car/bus: not confident,
    # 4 ignored
    gt = torch.tensor([[0, 1, 1, 0, 255]])
    counts = pseudo_label_counts(logits, gt, tau=0.9)
    np.testing.assert_array_equal(counts, [[2, 2, 0], [2, 1, 0], [1, 1, 0]])
    got = _run(METRICS.build(dict(type='PseudoLabelMetric', tau=0.9)), [_sample(logits, gt)])
    assert got['share'] == pytest.approx(75.0)          # 3 confident of 4 labeled
    assert got['precision'] == pytest.approx(200 / 3)   # 2 right of 3
    assert got['recall'] == pytest.approx(50.0)         # 2 right of 4
    assert got['precision.road'] == pytest.approx(50.0) and got['recall.road'] == 50.0
    assert got['precision.car'] == 100.0 and got['recall.car'] == 50.0
    assert math.isnan(got['precision.bus']) and math.isnan(got['recall.bus'])
    assert got['mRecall'] == pytest.approx(50.0)        # bus absent: left out


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_at_tau_zero_precision_is_pixel_accuracy(seed):
    """Every labeled pixel is confident at tau = 0, so precision = recall = mmseg's aAcc."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(3):
        logits = torch.randn(3, 6, 7, generator=g) * 3
        gt = torch.randint(0, 3, (6, 7), generator=g)
        gt[torch.rand(6, 7, generator=g) < 0.2] = 255
        samples.append(_sample(logits, gt))
    ours = _run(METRICS.build(dict(type='PseudoLabelMetric', tau=0.0)), samples)
    ref = IoUMetric(iou_metrics=['mIoU'])
    ref.dataset_meta = dict(classes=('road', 'car', 'bus'))
    ref.process({}, samples)
    a_acc = ref.compute_metrics(ref.results)['aAcc']
    assert ours['share'] == pytest.approx(100.0)
    assert ours['precision'] == pytest.approx(a_acc, abs=0.01)   # mmseg rounds to 2 decimals
    assert ours['recall'] == pytest.approx(ours['precision'])


def test_higher_tau_keeps_fewer_but_not_more_pixels():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 16, 16, generator=g) * 4
    gt = torch.randint(0, 3, (16, 16), generator=g)
    low, high = (pseudo_label_counts(logits, gt, tau) for tau in (0.5, 0.9))
    assert (high[1] <= low[1]).all() and (high[2] <= low[2]).all() and high[1].sum() > 0
    np.testing.assert_array_equal(high[0], low[0])


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(ValueError, match='C >= 2'):
        pseudo_label_counts(torch.zeros(1, 2, 2), torch.zeros(2, 2), 0.9)
    with pytest.raises(ValueError, match=r'labels \[0, 7\] outside 0..2'):
        pseudo_label_counts(torch.zeros(3, 1, 2), torch.tensor([[0, 7]]), 0.9)
    with pytest.raises(ValueError, match=r'tau=1.5 must be in \[0, 1\]'):
        METRICS.build(dict(type='PseudoLabelMetric', tau=1.5))
    metric = METRICS.build(dict(type='PseudoLabelMetric'))
    with pytest.raises(KeyError, match='no seg_logits'):
        metric.process({}, [{'gt_sem_seg': {'data': torch.zeros(1, 2, 2)}, 'img_path': 'x.png'}])
    with pytest.raises(ValueError, match='no labeled pixel'):
        _run(METRICS.build(dict(type='PseudoLabelMetric')),
             [_sample(torch.zeros(3, 1, 2), torch.full((1, 2), 255))])
