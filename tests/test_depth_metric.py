"""Tests of StreamingDepthMetric against mmseg's DepthMetric and hand-computed values."""
import math

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.logging import MMLogger
from mmseg.evaluation.metrics import DepthMetric
from mmseg.registry import METRICS

import mmseg_ccam  # noqa: F401  (registers the metric)
from mmseg_ccam.evaluation.metrics.depth_metric import SUM_FIELDS, StreamingDepthMetric

ALL = ('d1', 'd2', 'd3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog')


def sample(gt, pred, name='x_leftImg8bit.png'):
    gt = torch.as_tensor(gt, dtype=torch.float32)
    pred = torch.as_tensor(pred, dtype=torch.float32)
    return {'gt_depth_map': {'data': gt[None]}, 'pred_depth_map': {'data': pred[None]},
            'img_path': name}


def run(metric, samples, batch=2):
    for i in range(0, len(samples), batch):
        metric.process({}, samples[i:i + batch])
    return metric.compute_metrics(metric.results)


def random_samples(seed, n=5, h=12, w=17):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        gt = torch.rand(h, w, generator=g) * 100  # some > 80: outside the range
        gt[torch.rand(h, w, generator=g) < 0.3] = 0  # random invalid mask
        noise = torch.rand(2, h, w, generator=g)
        pred = gt * (0.6 + 0.8 * noise[0]) + 0.5 * noise[1]
        pred = pred.clamp(min=0.05)
        out.append(sample(gt, pred))
    return out


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_equals_mmseg_depth_metric(seed):
    samples = random_samples(seed)
    ours = METRICS.build(dict(type='StreamingDepthMetric', min_depth_eval=1e-3,
                              max_depth_eval=80.0))
    ref = DepthMetric(min_depth_eval=1e-3, max_depth_eval=80.0)
    got, want = run(ours, samples), run(ref, samples)
    assert set(got) == set(ALL)
    for key in ALL:
        assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), key
    # memory per image is 10 numbers, whatever the image size
    assert all(np.shape(r) == (len(SUM_FIELDS),) for r in ours.results)


def hand_samples():
    # image A: two pixels; image B: three valid pixels + one invalid (0) + one beyond 80 m
    a = sample([[2.0, 4.0]], [[2.0, 2.0]])
    b = sample([[10.0, 10.0, 10.0, 0.0, 100.0]], [[10.0, 12.0, 8.0, 5.0, 5.0]])
    return [a, b]


def test_hand_computed_two_images():
    ln2, l12, l08 = math.log(2), math.log(1.2), math.log(0.8)
    a = dict(abs_rel=0.25, sq_rel=0.5, rmse=math.sqrt(2), rmse_log=ln2 / math.sqrt(2),
             log10=math.log10(2) / 2, silog=ln2 * math.sqrt(3 / 8), d1=0.5, d2=0.5, d3=0.5)
    ms, m = (l12**2 + l08**2) / 3, (l12 + l08) / 3
    b = dict(abs_rel=0.4 / 3, sq_rel=0.8 / 3, rmse=math.sqrt(8 / 3), rmse_log=math.sqrt(ms),
             log10=(abs(math.log10(1.2)) + abs(math.log10(0.8))) / 3,
             silog=math.sqrt(ms - 0.5 * m**2), d1=2 / 3, d2=1.0, d3=1.0)  # 1.25 is not < 1.25
    got = run(StreamingDepthMetric(), hand_samples())
    for key in ALL:
        assert got[key] == pytest.approx((a[key] + b[key]) / 2, rel=1e-6), key

    pooled = run(StreamingDepthMetric(average='pixel'), hand_samples())
    assert pooled['abs_rel'] == pytest.approx((0.5 + 0.2 + 0.2) / 5)
    assert pooled['rmse'] == pytest.approx(math.sqrt((4 + 4 + 4) / 5))
    assert pooled['d1'] == pytest.approx(3 / 5)


def test_range_limits_pixels():
    # gt 0.5 and 90 are outside (1, 80): only the middle pixel counts, and it is perfect
    s = sample([[0.5, 30.0, 90.0]], [[5.0, 30.0, 1.0]])
    got = run(StreamingDepthMetric(min_depth_eval=1.0, max_depth_eval=80.0), [s])
    assert got['abs_rel'] == 0 and got['rmse'] == 0 and got['d1'] == 1
    # bounds are strict, as in mmseg: gt == max_depth_eval is excluded
    got = run(StreamingDepthMetric(min_depth_eval=1.0, max_depth_eval=30.0), [
        sample([[30.0, 10.0]], [[1.0, 10.0]])])
    assert got['abs_rel'] == 0


def test_subset_of_metrics():
    full = run(StreamingDepthMetric(), hand_samples())
    sub = run(StreamingDepthMetric(depth_metrics=['rmse', 'd1']), hand_samples())
    assert list(sub) == ['rmse', 'd1'] and sub['rmse'] == full['rmse'] and sub['d1'] == full['d1']
    with pytest.raises(TypeError):  # the upstream bug this metric avoids
        DepthMetric(depth_metrics=['rmse'])
    with pytest.raises(ValueError, match="'rms'"):
        StreamingDepthMetric(depth_metrics=['rms'])


def test_zero_prediction_stays_finite():
    s = sample([[10.0, 20.0]], [[0.0, 20.0]])
    got = run(StreamingDepthMetric(pred_eps=1e-6), [s])
    assert all(math.isfinite(v) for v in got.values())
    ref = run(StreamingDepthMetric(), [sample([[10.0, 20.0]], [[1e-6, 20.0]])])
    for key in ALL:
        assert got[key] == pytest.approx(ref[key]), key
    assert got['abs_rel'] == pytest.approx((1 - 1e-7) / 2)


@pytest.mark.parametrize('bad', [0.0, -2.0])
def test_zero_or_negative_predictions_and_zero_targets_stay_finite(bad):
    # zero targets are excluded (gt > min_depth_eval) even with min_depth_eval=0; zero and
    # negative predictions are clamped to pred_eps before the logs
    s = sample([[0.0, 10.0, 0.0, 20.0]], [[bad, bad, 5.0, 20.0]])
    for metric in (StreamingDepthMetric(min_depth_eval=0.0), StreamingDepthMetric(),
                   StreamingDepthMetric(average='pixel')):
        got = run(metric, [s])
        assert all(math.isfinite(v) for v in got.values()), got
    # the two valid pixels: prediction pred_eps=1e-6 for gt 10, exact for gt 20
    assert got['abs_rel'] == pytest.approx((1 - 1e-7) / 2)
    assert got['d1'] == 0.5


def test_images_without_valid_pixels_are_skipped(capsys):
    MMLogger.get_instance('test_depth_metric_skip', log_level='INFO')  # logs to captured stdout
    empty = sample([[0.0, 0.0]], [[3.0, 3.0]])
    metric = StreamingDepthMetric()
    got = run(metric, hand_samples() + [empty, empty])
    assert got == run(StreamingDepthMetric(), hand_samples())
    assert 'skipped 2 of 4 image(s)' in capsys.readouterr().out
    with pytest.raises(ValueError, match='no image has a valid'):
        run(StreamingDepthMetric(), [empty])


def test_evaluate_through_base_metric():
    # BaseMetric.evaluate collects the per-image tuples (as across GPUs) and prefixes names
    metric = StreamingDepthMetric(prefix='depth')
    metric.process({}, hand_samples())
    out = metric.evaluate(size=2)
    assert out['depth/d1'] == pytest.approx((0.5 + 2 / 3) / 2)
    assert metric.results == []


def test_errors():
    with pytest.raises(ValueError, match='average'):
        StreamingDepthMetric(average='batch')
    with pytest.raises(ValueError, match='differ in size'):
        StreamingDepthMetric().process({}, [sample([[1.0, 2.0]], [[1.0]])])
    with pytest.raises(KeyError, match='gt_depth_map'):
        StreamingDepthMetric().process({}, [{'pred_depth_map': {'data': torch.ones(1, 2, 2)}}])


def test_output_dir(tmp_path):
    metric = StreamingDepthMetric(output_dir=str(tmp_path), format_only=True)
    metric.process({}, [sample([[0.0, 0.0]], [[10.5, 300.0]], name='a/f1_leftImg8bit.png')])
    assert metric.compute_metrics(metric.results) == {}
    png = cv2.imread(str(tmp_path / 'f1_leftImg8bit.png'), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.tolist() == [[2688, 65535]]  # 10.5*256, clipped


depths = st.lists(st.floats(0.01, 79.0), min_size=1, max_size=30)


@settings(max_examples=40, deadline=None)
@given(st.lists(depths, min_size=1, max_size=4))
def test_perfect_prediction(images):
    got = run(StreamingDepthMetric(), [sample([d], [d]) for d in images])
    for key in ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog'):
        assert got[key] == pytest.approx(0.0, abs=1e-6), key
    assert got['d1'] == got['d2'] == got['d3'] == 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(depths, min_size=1, max_size=4))
def test_doubled_prediction(images):
    # ratio 2 > 1.25^3 = 1.953: every delta is 0; abs_rel is exactly 1; log errors are log 2
    got = run(StreamingDepthMetric(), [sample([d], [[2 * v for v in d]]) for d in images])
    assert got['d1'] == got['d2'] == got['d3'] == 0.0
    assert got['abs_rel'] == pytest.approx(1.0, rel=1e-6)
    assert got['rmse_log'] == pytest.approx(math.log(2), rel=1e-5)
    assert got['silog'] == pytest.approx(math.log(2) / math.sqrt(2), rel=1e-5)
    assert got['log10'] == pytest.approx(math.log10(2), rel=1e-5)


def test_median_scaling_by_hand():
    # Image 1: the prediction is the ground truth halved: factor 2, then no error at all.
    # Image 2: gt [1, 2, 4], pred [2, 2, 2]: factor median(gt)/median(pred) = 1, so the
    # errors are the unscaled ones (abs_rel = (1/1 + 0 + 2/4) / 3 = 0.5).
    metric = StreamingDepthMetric(median_scaling=True)
    got = run(metric, [sample([[2.0, 4.0, 8.0]], [[1.0, 2.0, 4.0]]),
                       sample([[1.0, 2.0, 4.0]], [[2.0, 2.0, 2.0]])])
    assert got['median_scale'] == pytest.approx(1.5)
    assert got['abs_rel'] == pytest.approx((0.0 + 0.5) / 2)
    assert got['d1'] == pytest.approx((1.0 + 1 / 3) / 2)
    assert list(got) == list(ALL) + ['median_scale']
    # Without median scaling the first image has abs_rel 0.5 and no median_scale key.
    plain = run(StreamingDepthMetric(), [sample([[2.0, 4.0, 8.0]], [[1.0, 2.0, 4.0]])])
    assert plain['abs_rel'] == pytest.approx(0.5) and 'median_scale' not in plain


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), log_factor=st.floats(-3.0, 3.0))
def test_median_scaled_errors_ignore_a_global_scale(seed, log_factor):
    """Multiplying every prediction by c > 0 leaves the median-scaled errors unchanged and
    divides median_scale by c."""
    c = math.exp(log_factor)
    samples = random_samples(seed, n=3)
    scaled = [sample(s['gt_depth_map']['data'][0], s['pred_depth_map']['data'][0] * c)
              for s in samples]
    a = run(StreamingDepthMetric(median_scaling=True), samples)
    b = run(StreamingDepthMetric(median_scaling=True), scaled)
    for key in ALL:
        assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-5), key
    assert b['median_scale'] == pytest.approx(a['median_scale'] / c, rel=1e-4)
