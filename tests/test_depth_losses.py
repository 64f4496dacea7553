"""BerHuLoss and InverseDepthL1Loss on hand-computed cases; SiLogLoss traps and why DepthHead
avoids them;
no depth loss takes log(0) or gives a NaN for zero / negative predictions and zero targets."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_ccam  # noqa: F401  (registers the losses)
from mmseg_ccam.datasets.cityscapes_geometry import CITYSCAPES_CAMERA, disparity_png_to_depth
from mmseg_ccam.models.decode_heads.depth_head import DEPTH_MAPPINGS, logits_to_depth
from mmseg_ccam.models.losses import berhu_loss, inverse_depth_l1_loss


def t(values):
    return torch.tensor(values, dtype=torch.float32).reshape(1, 1, 1, -1)


def test_berhu_hand_computed():
    # errors 0, 1, 2, 5 -> c = 0.2 * 5 = 1
    # berhu: 0, 1, (4 + 1) / 2 = 2.5, (25 + 1) / 2 = 13 -> mean 16.5 / 4
    # the 5th pixel is invalid (target 0) and its huge error must not set c.
    pred = t([1.0, 2.0, 3.0, 6.0, 100.0])
    target = t([1.0, 1.0, 1.0, 1.0, 0.0])
    loss = MODELS.build(dict(type='BerHuLoss'))
    assert loss.loss_name == 'loss_berhu'
    assert torch.isclose(loss(pred, target), torch.tensor(16.5 / 4))
    assert torch.isclose(loss(pred, target, reduction_override='sum'), torch.tensor(16.5))
    per_pixel = loss(pred, target, reduction_override='none').flatten()
    assert torch.allclose(per_pixel, torch.tensor([0.0, 1.0, 2.5, 13.0, 0.0]))
    # threshold 0.5 -> c = 2.5: 0, 1, 2, (25 + 6.25) / 5 = 6.25
    loss_half = MODELS.build(dict(type='BerHuLoss', threshold=0.5, loss_weight=2.0))
    assert torch.isclose(loss_half(pred, target), torch.tensor(2.0 * 9.25 / 4))


def test_berhu_gradient_matches_formula():
    pred = t([1.0, 2.0, 3.0, 6.0]).requires_grad_()
    target = t([1.0, 1.0, 1.0, 1.0])
    berhu_loss(pred, target, reduction='sum').backward()
    # d/de: 1 on the L1 part (sign(0) = 0 at e = 0), e / c on the L2 part (c = 1).
    assert torch.allclose(pred.grad.flatten(), torch.tensor([0.0, 1.0, 2.0, 5.0]))


def test_inverse_depth_l1_hand_computed():
    # |1/2 - 1/1| = 0.5, |1/4 - 1/4| = 0, third pixel invalid -> mean 0.25
    pred = t([2.0, 4.0, 7.0])
    target = t([1.0, 4.0, 0.0])
    loss = MODELS.build(dict(type='InverseDepthL1Loss', loss_weight=3.0))
    assert loss.loss_name == 'loss_inv_l1'
    assert torch.isclose(loss(pred, target), torch.tensor(3.0 * 0.25))
    # per-sample weight and avg_factor follow mmseg's interface
    assert torch.isclose(
        inverse_depth_l1_loss(pred, target, weight=torch.tensor([4.0]), avg_factor=1.0),
        torch.tensor(2.0), atol=1e-5)


def test_invalid_pixels_do_not_change_loss():
    torch.manual_seed(0)
    target = torch.rand(2, 1, 6, 6) * 20 + 1
    target[:, :, :2] = 0.0
    target[1, 0, 3, 3] = float('nan')
    pred = torch.rand(2, 1, 6, 6) * 20 + 1
    pred2 = pred.clone()
    pred2[:, :, :2] = 1e4
    pred2[1, 0, 3, 3] = 1e-3
    for fn in (berhu_loss, inverse_depth_l1_loss):
        assert torch.equal(fn(pred, target), fn(pred2, target))


def test_all_invalid_gives_zero_and_finite_grads():
    torch.manual_seed(0)
    for name in ('BerHuLoss', 'InverseDepthL1Loss'):
        loss = MODELS.build(dict(type=name))
        pred = (torch.rand(2, 1, 4, 4) + 0.5).requires_grad_()
        value = loss(pred, torch.zeros(2, 1, 4, 4))
        assert value.item() == 0.0 and value.requires_grad
        value.backward()
        assert torch.equal(pred.grad, torch.zeros_like(pred))


def test_mmseg_silog_counts_all_invalid_samples_in_its_mean():
    # What DepthHead guards against: SiLogLoss gives an all-invalid sample a
    # loss of 0 (finite gradient) but still counts it in the batch mean, so an
    # unlabeled frame would halve the loss of a labeled one. And sqrt(0) has a
    # NaN gradient where the prediction is exact.
    loss = MODELS.build(dict(type='SiLogLoss'))
    torch.manual_seed(0)
    pred = (torch.rand(2, 1, 4, 4) + 0.5).requires_grad_()
    target = torch.rand(2, 1, 4, 4) * 5 + 1
    target[1] = 0.0
    both = loss(pred, target)
    alone = loss(pred[:1], target[:1])
    assert torch.isclose(both, alone / 2)
    both.backward()
    assert torch.isfinite(pred.grad).all()
    exact = torch.ones(1, 1, 4, 4, requires_grad=True)
    loss(exact, torch.ones(1, 1, 4, 4)).backward()
    assert torch.isnan(exact.grad).all()


@settings(max_examples=30, deadline=None)
@given(
    pred=st.lists(st.floats(0.1, 80.0), min_size=4, max_size=4),
    target=st.lists(st.one_of(st.just(0.0), st.floats(0.1, 80.0)), min_size=4, max_size=4),
)
def test_berhu_bounds_property(pred, target):
    """berHu >= L1 pixel-wise ((e - c)^2 >= 0) and <= max(e, e^2 / c)."""
    p, g = t(pred), t(target)
    valid = g > 0
    berhu = berhu_loss(p, g, reduction='none')
    err = torch.where(valid, (p - g).abs(), torch.zeros_like(p))
    assert torch.all(berhu >= err - 1e-4)
    assert torch.all(berhu[~valid] == 0)
    n_valid = int(valid.sum())
    expected_mean = berhu.sum() / max(n_valid, 1)
    assert torch.isclose(berhu_loss(p, g), expected_mean, rtol=1e-5)


# ------------------------------------------------- degenerate inputs: never log(0), never NaN
ALL_LOSSES = ('SiLogLoss', 'BerHuLoss', 'InverseDepthL1Loss')


@pytest.mark.parametrize('name', ALL_LOSSES)
@pytest.mark.parametrize('fill', [0.0, -3.0])
def test_zero_and_negative_predictions_give_finite_loss_and_grads(name, fill):
    loss = MODELS.build(dict(type=name))
    target = torch.tensor([[[[2.0, 4.0], [0.0, 8.0]]]])  # one invalid (0) pixel
    pred = torch.full_like(target, fill)
    pred[0, 0, 1, 1] = 5.0  # a mix of bad and normal predictions
    pred.requires_grad_()
    value = loss(pred, target)
    assert torch.isfinite(value) and float(value) > 0
    value.backward()
    assert torch.isfinite(pred.grad).all()


@pytest.mark.parametrize('name', ALL_LOSSES)
def test_zero_targets_give_zero_loss_and_finite_grads(name):
    loss = MODELS.build(dict(type=name))
    pred = torch.tensor([[[[0.0, -1.0], [2.0, 1e-9]]]], requires_grad=True)
    value = loss(pred, torch.zeros(1, 1, 2, 2))
    assert float(value) == 0.0
    value.backward()
    assert torch.isfinite(pred.grad).all()


def test_mmseg_silog_nan_gradient_needs_every_valid_pixel_predicted_exactly():
    # sqrt(0) is the only NaN route of SiLogLoss: mean(d^2) - 0.5 mean(d)^2 = var(d) +
    # 0.5 mean(d)^2 is 0 only if d = log(gt) - log(pred) is 0 at every valid pixel of a sample.
    loss = MODELS.build(dict(type='SiLogLoss'))
    target = t([2.0, 4.0, 0.0, 8.0])
    exact = target.clone().requires_grad_()
    loss(exact, target).backward()
    assert torch.isnan(exact.grad).any()
    one_ulp = torch.nextafter(target, torch.full_like(target, 100.0)).requires_grad_()
    value = loss(one_ulp, target)
    value.backward()
    assert torch.isfinite(one_ulp.grad).all() and float(value) > 0


def test_depth_head_silog_gradient_is_finite_on_loader_depths():
    """Why no NaN-safe SI-log loss is needed: DepthHead drops samples without a valid pixel,
    and an exact prediction at every valid pixel cannot come from a saturated head (it predicts
    exactly min_depth or max_depth, which no Cityscapes disparity PNG value decodes to)."""
    p = np.arange(0, 65536, dtype=np.uint16)[None]
    for width in (2048, 1024, 512, 256, 128, 64):
        cam = CITYSCAPES_CAMERA.scaled_to_width(width)
        depth = disparity_png_to_depth(p, baseline=cam.baseline, fx=cam.fx, max_depth=80.0)
        assert not np.any((depth == np.float32(80.0)) | (depth == np.float32(0.1))), width
    head = MODELS.build(dict(type='DepthHead', in_channels=8, in_index=1, channels=4,
                             c1_in_channels=4, c1_channels=4, dilations=(1, 2),
                             norm_cfg=dict(type='BN'), loss_decode=dict(type='SiLogLoss')))
    gt = torch.from_numpy(disparity_png_to_depth(
        p[:, 1:4097].reshape(64, 64), baseline=0.209313, fx=2262.52 / 8, max_depth=80.0))
    one_valid = torch.zeros(64, 64)
    one_valid[3, 5] = gt[gt > 0.1][0]
    samples = []
    for depth in (gt, torch.zeros(64, 64), one_valid, gt):
        ds = SegDataSample(metainfo=dict(img_shape=(64, 64), pad_shape=(64, 64)))
        ds.gt_depth_map = PixelData(data=depth[None].float())
        samples.append(ds)
    g = torch.Generator().manual_seed(0)
    for logits in (torch.full((4, 1, 16, 16), -1e30), torch.full((4, 1, 16, 16), 1e30),
                   torch.randn(4, 1, 16, 16, generator=g) * 5):
        logits.requires_grad_()
        losses = head.loss_by_feat(logits_to_depth(logits, 'inverse_sigmoid', 0.1, 80.0),
                                   samples)
        losses['loss_silog'].backward()
        assert torch.isfinite(losses['loss_silog']) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize('mapping', DEPTH_MAPPINGS)
def test_depth_head_output_is_never_zero(mapping):
    # The depth head's predictions are what the losses take the log of: even saturated
    # logits stay within [min_depth, max_depth], so log(pred) is finite.
    logits = torch.tensor([-1e30, -100.0, 0.0, 100.0, 1e30, float('-inf'), float('inf')])
    depth = logits_to_depth(logits, mapping, 0.1, 80.0)
    assert torch.all(depth >= 0.1 - 1e-6) and torch.all(depth <= 80.0 + 1e-4)
    assert torch.isfinite(depth.log()).all()
