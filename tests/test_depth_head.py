"""DepthHead: depth mapping, valid-pixel losses, missing labels, prediction size."""
import math

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmseg_ccam.models.decode_heads import depth_to_logits, logits_to_depth

MAPPINGS = ('inverse_sigmoid', 'sigmoid', 'exp')


def build_head(**kwargs):
    cfg = dict(
        type='DepthHead',
        in_channels=16,
        in_index=3,
        channels=8,
        c1_in_channels=4,
        c1_channels=4,
        dilations=(1, 2),
        norm_cfg=dict(type='BN'),
        loss_decode=dict(type='SiLogLoss'))
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def feats(batch=2):
    torch.manual_seed(0)
    return (torch.randn(batch, 4, 8, 8), torch.randn(batch, 6, 4, 4), torch.randn(batch, 6, 4, 4),
            torch.randn(batch, 16, 4, 4))


def sample(depth=None, shape=(16, 16)):
    ds = SegDataSample(metainfo=dict(img_shape=shape, pad_shape=shape, ori_shape=shape))
    if depth is not None:
        ds.gt_depth_map = PixelData(data=depth.reshape(1, *shape).float())
    return ds


@pytest.mark.parametrize('mapping', MAPPINGS)
def test_mapping_range_and_inverse(mapping):
    logits = torch.linspace(-40, 40, 101)
    depth = logits_to_depth(logits, mapping, 0.1, 80.0)
    assert depth.min() >= 0.1 - 1e-6 and depth.max() <= 80.0 + 1e-4
    # s -> 0 gives the far end for the inverse mapping, the near end otherwise.
    far, near = (depth[0], depth[-1]) if mapping == 'inverse_sigmoid' else (depth[-1], depth[0])
    assert torch.isclose(far, torch.tensor(80.0), rtol=1e-4)
    assert torch.isclose(near, torch.tensor(0.1), rtol=1e-4)
    # monotonic: increasing for sigmoid / exp, decreasing for inverse_sigmoid
    steps = depth.diff()
    assert (steps <= 0).all() if mapping == 'inverse_sigmoid' else (steps >= 0).all()
    mid = torch.linspace(-5, 5, 11)
    back = depth_to_logits(logits_to_depth(mid, mapping, 0.1, 80.0), mapping, 0.1, 80.0)
    assert torch.allclose(back, mid, atol=1e-3)


def test_inverse_sigmoid_hand_computed():
    # logit log(3) -> s = 0.75; 1/d = 1/80 + 0.75 * (1/0.1 - 1/80) = 7.503125
    d = logits_to_depth(torch.tensor([math.log(3.0), 0.0, -50.0, 50.0]), 'inverse_sigmoid',
                        0.1, 80.0)
    expected = torch.tensor([1 / 7.503125, 1 / 5.00625, 80.0, 0.1])
    assert torch.allclose(d, expected, rtol=1e-5)
    # s = 0 is the far end for the inverse mapping, the near end for the others
    assert torch.isclose(logits_to_depth(torch.tensor(-50.0), 'sigmoid', 0.1, 80.0),
                         torch.tensor(0.1))
    # exp: log-linear, s = 0.5 is the geometric mean
    assert torch.isclose(logits_to_depth(torch.tensor(0.0), 'exp', 0.1, 80.0),
                         torch.tensor(math.sqrt(8.0)), rtol=1e-5)


@pytest.mark.parametrize('mapping', MAPPINGS)
def test_head_forward_range_and_init_depth(mapping):
    head = build_head(depth_mapping=mapping, min_depth=0.5, max_depth=50.0, init_depth=12.0)
    out = head(feats())
    assert out.shape == (2, 1, 8, 8)
    assert out.min() >= 0.5 - 1e-5 and out.max() <= 50.0 + 1e-4
    with torch.no_grad():
        head.conv_seg.weight.zero_()
    assert torch.allclose(head(feats()), torch.full((2, 1, 8, 8), 12.0), rtol=1e-4)


def test_bad_config():
    with pytest.raises(ValueError, match='depth_mapping'):
        build_head(depth_mapping='linear')
    with pytest.raises(ValueError, match='min_depth'):
        build_head(min_depth=5.0, max_depth=1.0)
    with pytest.raises(ValueError, match='one channel'):
        build_head(num_classes=19)


def test_loss_missing_and_invalid_samples():
    head = build_head(loss_decode=[dict(type='SiLogLoss'), dict(type='BerHuLoss')])
    torch.manual_seed(1)
    pred = (torch.rand(2, 1, 8, 8) * 20 + 1).requires_grad_()
    gt = torch.rand(16, 16) * 30 + 1
    alone = head.loss_by_feat(pred[:1], [sample(gt)])
    # sample 1 lacks gt_depth_map (mmsegmentation#3696) -> counts as invalid
    mixed = head.loss_by_feat(pred, [sample(gt), sample()])
    # sample 1 all zero -> same
    zeros = head.loss_by_feat(pred, [sample(gt), sample(torch.zeros(16, 16))])
    for key in ('loss_silog', 'loss_berhu'):
        assert torch.isclose(mixed[key], alone[key])
        assert torch.isclose(zeros[key], alone[key])
    # depth beyond max_depth (e.g. SegDataPreProcessor's 255 padding) is ignored
    padded = gt.clone()
    padded[:, 12:] = 255.0
    holes = gt.clone()
    holes[:, 12:] = 0.0
    a = head.loss_by_feat(pred[:1], [sample(padded)])
    b = head.loss_by_feat(pred[:1], [sample(holes)])
    assert torch.equal(a['loss_silog'], b['loss_silog'])


def test_loss_all_invalid_is_zero_with_graph():
    head = build_head(loss_decode=[dict(type='SiLogLoss'), dict(type='InverseDepthL1Loss')])
    x = tuple(f.requires_grad_() for f in feats())
    for samples in ([sample(), sample()], [sample(torch.zeros(16, 16))] * 2):
        losses = head.loss(x, samples, None)
        assert set(losses) == {'loss_silog', 'loss_inv_l1'}
        total = sum(losses.values())
        assert total.item() == 0.0 and total.requires_grad
        total.backward()
        assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)


def test_loss_value_matches_direct_silog_on_resized_pred():
    torch.manual_seed(0)
    head = build_head()
    pred = torch.rand(1, 1, 4, 4) * 10 + 1
    gt = torch.rand(8, 8) * 10 + 1
    gt[0, 0] = 0.0
    up = torch.nn.functional.interpolate(pred, size=(8, 8), mode='bilinear', align_corners=False)
    expected = MODELS.build(dict(type='SiLogLoss'))(up, gt.reshape(1, 1, 8, 8))
    got = head.loss_by_feat(pred, [sample(gt, shape=(8, 8))])['loss_silog']
    assert torch.isclose(got, expected)


def test_predict_upsamples_to_input_size():
    head = build_head().eval()
    metas = [dict(img_shape=(30, 40), pad_shape=(32, 48), ori_shape=(30, 40))] * 2
    with torch.no_grad():
        depth = head.predict(feats(), metas, None)
        raw = head(feats())
    assert depth.shape == (2, 1, 32, 48)
    expected = torch.nn.functional.interpolate(raw, size=(32, 48), mode='bilinear',
                                               align_corners=False)
    assert torch.allclose(depth, expected)
