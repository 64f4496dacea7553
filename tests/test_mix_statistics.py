"""Class counts of the mixing masks (mmseg_ccam.analysis.mix_statistics and its tool)."""
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import ROOT, load_script
from mmengine.config import Config
from test_mean_teacher_seg_depth import NUM_CLASSES, H, W, build, make_batch

from mmseg_ccam.analysis.mix_statistics import mix_arms, mix_class_counts, mix_statistics

pytestmark = pytest.mark.usefixtures('one_thread')


def test_mix_class_counts_by_hand():
    pseudo = torch.tensor([[[0, 0, 1], [2, 2, 2]]])
    mixed = torch.tensor([[[0, 3, 3], [2, 255, 1]]])
    mask = torch.tensor([[[False, True, True], [False, True, True]]])
    counts = mix_class_counts(pseudo, mixed, mask, num_classes=4)
    assert counts['before'].tolist() == [2, 1, 3, 0]
    assert counts['after'].tolist() == [1, 1, 1, 2]  # the ignored pixel is not counted
    assert counts['covered'].tolist() == [1, 1, 2, 0]
    assert counts['pasted'].tolist() == [0, 1, 0, 2]
    with pytest.raises(ValueError, match='must have one shape'):
        mix_class_counts(pseudo, mixed[..., :2], mask, num_classes=4)


def _teacher(model, labels, depths):
    """Replace the teacher's prediction: frame i is all class labels[i] at depth depths[i]."""
    def predict(x):
        b = x.shape[0]
        pseudo = torch.tensor(labels)[:b, None, None].expand(b, H, W).clone()
        depth = torch.tensor(depths, dtype=torch.float32)[:b, None, None, None]
        return pseudo, torch.ones(b, H, W), depth.expand(b, 1, H, W).clone()
    model.teacher_predict = predict


def test_masks_on_two_flat_frames_by_hand():
    """Frame A: class 0 at 10 m; frame B: class 1 at 5 m; margin 0.3. B is nearer than A by
    more than the margin (1.3 * 5 < 10) and A never is (1.3 * 10 > 5), so the depth masks
    paste B over A only; ClassMix pastes B's one class over A and A's over B."""
    model = build(semi_train_cfg=dict(
        tau=0.9, mix=dict(mask=dict(type='DepthOrderMask', margin=0.3))))
    _teacher(model, [0, 1], [10.0, 5.0])
    inputs, samples = make_batch(labeled=(True, False, False))
    stats = mix_statistics(model, inputs, samples, seed=3)
    # every registered mask, moved and unmoved
    assert list(stats) == mix_arms() and {'DepthOrderMask', 'ClassMask-unmoved'} <= set(stats)
    frame = H * W
    for c in stats.values():
        # the labeled frame is left out; every mode sees the same unmixed targets
        assert c['pixels'] == 2 * frame
        assert c['before'].tolist() == [frame, frame] + [0] * (NUM_CLASSES - 2)
        np.testing.assert_array_equal(c['after'], c['before'] - c['covered'] + c['pasted'])
    depthmix = stats['DepthOrderMask-unmoved']  # no warp: all of B over all of A
    assert depthmix['after'].tolist()[:2] == [0, 2 * frame]
    assert depthmix['covered'].tolist()[:2] == [frame, 0]
    classmix = stats['ClassMask-unmoved']  # each frame gets its partner's only class, everywhere
    assert classmix['after'].tolist()[:2] == [frame, frame]
    assert classmix['covered'].tolist()[:2] == [frame, frame]
    affinemix = stats['DepthOrderMask']  # B, zoomed nearer, over A where the moved B has pixels
    assert affinemix['covered'][1] == 0 and affinemix['pasted'][0] == 0
    assert frame // 2 < affinemix['pasted'][1] <= frame


def test_same_seed_same_partners_and_errors():
    model = build(semi_train_cfg=dict(
        tau=0.9, mix=dict(mask=dict(type='DepthOrderMask', margin=0.3))))
    inputs, samples = make_batch(labeled=(False, False, False, False))
    a = mix_statistics(model, inputs, samples, arms=['DepthOrderMask'], seed=1)
    b = mix_statistics(model, inputs, samples, arms=['DepthOrderMask', 'ShuffledDepthMask'],
                       seed=1)
    for k in ('before', 'after', 'covered', 'pasted'):
        np.testing.assert_array_equal(a['DepthOrderMask'][k], b['DepthOrderMask'][k])
    assert mix_statistics(model, *make_batch(labeled=(True, True)), seed=0) == {}
    with pytest.raises(ValueError, match=r"unknown arm\(s\) \['cutmix'\]"):
        mix_statistics(model, inputs, samples, arms=['cutmix'])
    with pytest.raises(ValueError, match='must be a MeanTeacherSegDepth'):
        mix_statistics(model.student, inputs, samples)


def test_tool_prints_both_tables(tiny_synthcity, tmp_path):
    from mmseg.registry import MODELS
    tool = load_script('tools/analysis_tools/mix_statistics.py')
    config = osp.join(ROOT, 'configs/ccam/ccam_r18_synthcity_semi.py')
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = str(tmp_path / 'init.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    # 1 labeled + 2 unlabeled of the 3 frames (1/8 of 3 selects none)
    options = [f'train_dataloader.dataset.datasets.{i}.{key}'
               for i in (0, 1) for key in (f'data_root={tiny_synthcity}', 'labeled_ratio=0.34')]
    out = tool.main([config, ckpt, '--batches', '1', '--arms', 'DepthOrderMask-unmoved',
                     'ClassMask-unmoved',
                     '--cfg-options', *options])
    lines = out.splitlines()
    assert '2 unlabeled frames in 1 batches' in lines[0]
    assert lines[4] == '| class | pseudo-labels | DepthOrderMask-unmoved | ClassMask-unmoved |'
    first = [line for line in lines[6:] if line.startswith('| ')]
    rows = first[:first.index("| class | DepthOrderMask-unmoved | ClassMask-unmoved |")]
    # every column of the first table is a distribution over the classes shown
    for col in (1, 2, 3):
        assert sum(float(r.split('|')[col + 1]) for r in rows) == pytest.approx(100, abs=0.3)
    assert lines[-1].startswith('| pasted fraction | ')
    with pytest.raises(SystemExit, match='not a semi-supervised config'):
        tool.main([osp.join(ROOT, 'configs/ccam/ccam_r18_synthcity.py'), ckpt])
