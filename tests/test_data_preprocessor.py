"""Tests of SegDepthDataPreProcessor: depth padded with 0, the rest as SegDataPreProcessor."""
import copy

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_ccam  # noqa: F401  (registers the pre-processor)
from mmseg_ccam.models.data_preprocessor import SegDepthDataPreProcessor, fill_padding

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def make_batch(sizes, with_depth=(True, True)):
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for (h, w), has_depth in zip(sizes, with_depth):
        inputs.append(torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8))
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 19, (1, h, w), generator=g))
        if has_depth:
            # values up to 300 m so that a 255 pad could not be told apart by value
            sample.gt_depth_map = PixelData(data=torch.rand(1, h, w, generator=g) * 300 + 1)
        sample.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def test_training_pads_depth_with_zero_and_seg_with_255():
    sizes = [(10, 14), (13, 9)]
    batch = make_batch(sizes)
    ours = MODELS.build(dict(type='SegDepthDataPreProcessor', mean=MEAN, std=STD,
                             bgr_to_rgb=True, size_divisor=8))
    assert isinstance(ours, SegDepthDataPreProcessor)
    parent = SegDataPreProcessor(mean=MEAN, std=STD, bgr_to_rgb=True, size_divisor=8)
    out = ours(copy.deepcopy(batch), training=True)
    ref = parent(copy.deepcopy(batch), training=True)

    assert out['inputs'].shape == (2, 3, 16, 16)
    torch.testing.assert_close(out['inputs'], ref['inputs'], rtol=0, atol=0)
    # independent check of the normalisation of sample 0 (BGR -> RGB, then (x - mean) / std)
    img0 = batch['inputs'][0].float()[[2, 1, 0]]
    expect0 = (img0 - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    torch.testing.assert_close(out['inputs'][0, :, :10, :14], expect0)
    assert torch.all(out['inputs'][0, :, 10:, :] == 0)
    assert torch.all(out['inputs'][0, :, :, 14:] == 0)

    for (h, w), src, sample, ref_sample in zip(sizes, batch['data_samples'], out['data_samples'],
                                               ref['data_samples']):
        depth, seg = sample.gt_depth_map.data, sample.gt_sem_seg.data
        assert depth.shape == seg.shape == (1, 16, 16)
        torch.testing.assert_close(depth[:, :h, :w], src.gt_depth_map.data)
        assert torch.all(depth[:, h:, :] == 0) and torch.all(depth[:, :, w:] == 0)
        assert (depth == 0).sum() == 16 * 16 - h * w
        torch.testing.assert_close(seg, ref_sample.gt_sem_seg.data)
        assert torch.all(seg[:, h:, :] == 255) and torch.all(seg[:, :, w:] == 255)
        # the parent shows the bug this class fixes
        assert torch.all(ref_sample.gt_depth_map.data[:, h:, :] == 255)
        assert sample.metainfo['pad_shape'] == ref_sample.metainfo['pad_shape']
        assert sample.metainfo['padding_size'] == ref_sample.metainfo['padding_size']


def test_fixed_size_custom_pad_and_missing_depth():
    batch = make_batch([(6, 7), (8, 8)], with_depth=(False, True))
    ours = SegDepthDataPreProcessor(size=(8, 10), depth_pad_val=-1.0)
    out = ours(batch, training=True)
    assert 'gt_depth_map' not in out['data_samples'][0]
    depth = out['data_samples'][1].gt_depth_map.data
    assert depth.shape == (1, 8, 10)
    assert torch.all(depth[:, :, 8:] == -1.0) and torch.all(depth[:, :, :8] > 0)
    assert torch.all(out['data_samples'][0].gt_sem_seg.data[:, 6:, :] == 255)


def test_eval_mode_matches_parent():
    batch = make_batch([(8, 8), (8, 8)])
    ours = SegDepthDataPreProcessor(mean=MEAN, std=STD, test_cfg=dict(size_divisor=16))
    parent = SegDataPreProcessor(mean=MEAN, std=STD, test_cfg=dict(size_divisor=16))
    out = ours(copy.deepcopy(batch), training=False)
    ref = parent(copy.deepcopy(batch), training=False)
    torch.testing.assert_close(out['inputs'], ref['inputs'])
    assert out['inputs'].shape == (2, 3, 16, 16)
    # test-time ground truth is not padded
    assert out['data_samples'][0].gt_depth_map.shape == (8, 8)


@pytest.mark.parametrize('padding', [(0, 0, 0, 0), (1, 2, 3, 0), (2, 0, 1, 4)])
def test_fill_padding(padding):
    left, right, top, bottom = padding
    inner = torch.full((1, 5, 6), 7.0)
    padded = torch.nn.functional.pad(inner, padding, value=255.0)
    fill_padding(padded, padding, 0.0)
    expected = torch.nn.functional.pad(inner, padding, value=0.0)
    torch.testing.assert_close(padded, expected)
