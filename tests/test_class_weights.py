"""ENet class weights from labelTrainIds maps, and the class-weighted cross-entropy that takes
maps with ignored pixels (MMSeg's own crashes on them)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import load_script
from mmseg.registry import MODELS
from PIL import Image

import mmseg_ccam  # noqa: F401
from mmseg_ccam.datasets.class_weights import (
    count_class_pixels,
    enet_class_weights,
    find_train_id_maps,
)


def _write_maps(root, maps):
    city = root / 'gtFine' / 'train' / 'town'
    city.mkdir(parents=True)
    for i, m in enumerate(maps):
        Image.fromarray(np.asarray(m, dtype=np.uint8)).save(
            city / f'town_{i:06d}_000019_gtFine_labelTrainIds.png')
    return root


def test_counts_and_weights_by_hand(tmp_path):
    # 12 labelled pixels: 6 of class 0, 4 of class 1, 2 of class 2, none of class 3; 255 ignored.
    maps = [[[0, 0, 0, 1], [1, 255, 255, 2]], [[0, 0, 0, 1], [1, 2, 255, 255]]]
    root = _write_maps(tmp_path, maps)
    counts = count_class_pixels(find_train_id_maps(str(root), 'train'), num_classes=4)
    assert counts.tolist() == [6, 4, 2, 0]
    w = enet_class_weights(counts, c=1.02)
    raw = [1 / math.log(1.02 + p) for p in (0.5, 1 / 3, 1 / 6, 0.0)]
    scale = 0.5 * raw[0] + raw[1] / 3 + raw[2] / 6
    np.testing.assert_allclose(w, [r / scale for r in raw], rtol=1e-12)
    assert float((w[:3] * counts[:3]).sum() / counts.sum()) == pytest.approx(1.0)


def test_bad_maps_are_named(tmp_path):
    root = _write_maps(tmp_path, [[[0, 33], [1, 2]]])  # 33: a labelIds id, not a train id
    with pytest.raises(ValueError, match=r'town_000000_000019_gtFine_labelTrainIds\.png.*33'):
        count_class_pixels(find_train_id_maps(str(root), 'train'), num_classes=19)
    with pytest.raises(FileNotFoundError, match='gtFine/val'):
        find_train_id_maps(str(root), 'val')
    with pytest.raises(ValueError, match='c must be > 1'):
        enet_class_weights([1, 2], c=1.0)


def test_tool_prints_the_config_line(tmp_path, capsys):
    root = _write_maps(tmp_path, [[[0, 0, 13, 255]]])
    tool = load_script('tools/analysis_tools/class_weights.py')
    assert tool.main([str(root)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    weights = [float(v) for v in line[len('class_weight=['):-1].split(',')]
    expected = enet_class_weights(np.bincount([0, 0, 13], minlength=19))
    np.testing.assert_allclose(weights, expected, atol=5e-5)
    assert tool.main([str(tmp_path / 'missing')]) == 2


def _batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 6, 7, generator=g)
    label = torch.randint(0, 5, (2, 6, 7), generator=g)
    label[0, :2] = 255
    label[1, :, 5:] = 255
    return logits, label


def test_weighted_loss_equals_torch_weighted_mean_with_ignored_pixels():
    logits, label = _batch()
    w = [0.4, 2.0, 1.0, 5.0, 0.7]
    ours = MODELS.build(dict(type='WeightedCrossEntropyLoss', class_weight=w,
                             avg_non_ignore=True, loss_weight=0.5))
    expected = 0.5 * F.cross_entropy(logits, label, weight=torch.tensor(w), ignore_index=255)
    torch.testing.assert_close(ours(logits, label, ignore_index=255), expected)
    # The reason the loss exists: MMSeg 1.2.2's class-weighted CrossEntropyLoss indexes the
    # weights with the ignore label.
    stock = MODELS.build(dict(type='CrossEntropyLoss', class_weight=w, avg_non_ignore=True))
    with pytest.raises(IndexError):
        stock(logits, label, ignore_index=255)


def test_weighted_loss_with_pixel_weights_and_without_class_weights():
    logits, label = _batch()
    w = torch.tensor([0.4, 2.0, 1.0, 5.0, 0.7])
    keep = (torch.arange(2 * 6 * 7).reshape(2, 6, 7) % 3 == 0).float()  # an OHEM-like mask
    loss = MODELS.build(dict(type='WeightedCrossEntropyLoss', class_weight=w.tolist()))
    ce = F.cross_entropy(logits, label, reduction='none', ignore_index=255)
    valid = label != 255
    wy = w[label.clamp(max=4)] * valid
    expected = (wy * ce * keep).sum() / wy.sum()
    torch.testing.assert_close(loss(logits, label, weight=keep, ignore_index=255), expected)
    # No class weights: exactly MMSeg's CrossEntropyLoss.
    ours = MODELS.build(dict(type='WeightedCrossEntropyLoss', avg_non_ignore=True))
    stock = MODELS.build(dict(type='CrossEntropyLoss', avg_non_ignore=True))
    assert torch.equal(ours(logits, label, ignore_index=255),
                       stock(logits, label, ignore_index=255))
    with pytest.raises(ValueError, match='softmax'):
        MODELS.build(dict(type='WeightedCrossEntropyLoss', use_sigmoid=True))
    with pytest.raises(ValueError, match='class_weight has 4 values but the head predicts 5'):
        MODELS.build(dict(type='WeightedCrossEntropyLoss', class_weight=[1.0] * 4))(
            logits, label, ignore_index=255)


def test_weighted_loss_float32_under_bf16_autocast():
    logits, label = _batch()
    w = [0.4, 2.0, 1.0, 5.0, 0.7]
    loss = MODELS.build(dict(type='WeightedCrossEntropyLoss', class_weight=w))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        value = loss(logits.bfloat16(), label, ignore_index=255)
    assert value.dtype == torch.float32
    expected = F.cross_entropy(logits.bfloat16().float(), label, weight=torch.tensor(w),
                               ignore_index=255)
    torch.testing.assert_close(value, expected, rtol=1e-3, atol=1e-3)
