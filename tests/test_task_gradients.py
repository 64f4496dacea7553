"""Per-task gradients on the shared layers (mmseg_ccam.analysis.task_gradients and its tool)."""
import math
import os.path as osp

import pytest
import torch
from conftest import ROOT, build_model, load_script, tiny_ccam_cfg
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_ccam.analysis.task_gradients import gradient_stats, loss_groups, task_gradients

init_default_scope('mmseg')
pytestmark = pytest.mark.usefixtures('one_thread')


def _cfg(**overrides):
    cfg = tiny_ccam_cfg(**overrides)
    cfg['data_preprocessor']['size'] = (32, 64)
    return cfg


def _batch(n=2, h=32, w=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8))
        s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, h, w), generator=g))
        s.gt_depth_map = PixelData(data=torch.rand(1, h, w, generator=g) * 40 + 1)
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_loss_groups_sum_per_task_and_skip_logged_values():
    losses = {'decode.loss_ce': torch.tensor(2.0), 'decode.acc_seg': torch.tensor(55.0),
              'depth.loss_silog': torch.tensor(0.5),
              'depth.loss_berhu': [torch.tensor(0.25), torch.tensor([0.5, 1.5])],
              'num_no_depth': torch.tensor(0.0), 'loss_aux': torch.tensor(3.0)}
    groups = loss_groups(losses)
    assert list(groups) == ['decode', 'depth', 'loss_aux']
    # depth: 0.5 + 0.25 + mean(0.5, 1.5)
    assert [float(v) for v in groups.values()] == [2.0, 1.75, 3.0]
    with pytest.raises(ValueError, match="no loss .*'decode.acc_seg'"):
        loss_groups({'decode.acc_seg': torch.tensor(1.0)})


def test_gradient_stats_by_hand():
    grads = {'p': {'a': torch.tensor([3.0, 4.0]), 'b': torch.tensor([8.0, -6.0])},
             'q': {'a': torch.tensor([1.0, 0.0]), 'b': torch.tensor([0.0, 0.0])}}
    p, q = gradient_stats(grads)
    assert p == {'part': 'p', 'norm/a': 5.0, 'norm/b': 10.0, 'ratio/a:b': 0.5,
                 'cos/a:b': pytest.approx(0.0)}
    assert q['norm/b'] == 0.0 and math.isnan(q['ratio/a:b']) and math.isnan(q['cos/a:b'])


def test_task_gradients_equal_separate_backward_passes():
    """An independent route: backward of each task's loss alone, reading .grad."""
    model = build_model(_cfg())
    data = _batch()
    torch.manual_seed(1)  # the same dropout masks in every forward
    grads, losses = task_gradients(model, data)
    assert set(losses) == {'decode', 'depth'}
    shared = [(n, p) for n, p in model.named_parameters()
              if n.split('.')[0] in ('backbone', 'neck')]
    backward = {}
    for task, key in (('decode', 'decode.loss_ce'), ('depth', 'depth.loss_silog')):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        out = model(**model.data_preprocessor(data, training=True), mode='loss')
        assert float(out[key]) == pytest.approx(losses[task], rel=1e-5)
        out[key].backward()
        backward[task] = {n: None if p.grad is None else p.grad.clone() for n, p in shared}
        layer1 = torch.cat([p.grad.flatten() for n, p in shared
                            if n.startswith('backbone.layer1.')])
        torch.testing.assert_close(grads['backbone.layer1'][task], layer1, rtol=1e-4, atol=1e-7)
    # 'all shared': the parameters that both backward passes reach
    both = [n for n, _ in shared if all(backward[t][n] is not None for t in backward)]
    assert len(both) < len(shared)  # each task's own adapter in the neck is left out
    for task in backward:
        expected = torch.cat([backward[task][n].flatten() for n in both])
        torch.testing.assert_close(grads['all shared'][task], expected, rtol=1e-4, atol=1e-7)
    # Both tasks reach the backbone, and the result does not leave gradients behind.
    assert float(grads['all shared']['depth'].norm()) > 0
    model.zero_grad(set_to_none=True)
    task_gradients(model, data)
    assert all(p.grad is None for p in model.parameters())


def test_single_task_model_and_missing_shared_part():
    model = build_model(_cfg(neck=None, depth_head=None))
    grads, losses = task_gradients(model, _batch())
    assert list(losses) == ['decode']
    row = gradient_stats(grads)[-1]
    assert row['part'] == 'all shared' and set(row) == {'part', 'norm/decode'}
    with pytest.raises(ValueError, match=r"No trainable parameter under \['neck'\]"):
        task_gradients(model, _batch(), shared=('neck',))


def test_tool_prints_a_table_per_shared_part(tiny_synthcity, capsys):
    tool = load_script('tools/analysis_tools/task_gradients.py')
    root = str(tiny_synthcity)
    out = tool.main([osp.join(ROOT, 'configs/ccam/ccam_r18_synthcity.py'), '--batches', '2',
                     '--cfg-options', f'train_dataloader.dataset.data_root={root}',
                     'train_dataloader.batch_size=2'])
    assert '2 batches' in out and 'mean loss per task: decode' in out
    header = out.splitlines()[2]
    assert header == ('| part | norm/decode | norm/depth | ratio/decode:depth | '
                      'cos/decode:depth |')
    parts = [line.split('|')[1].strip() for line in out.splitlines()[4:]]
    assert parts[:2] == ['backbone.stem', 'backbone.layer1'] and parts[-1] == 'all shared'
    assert any(p.startswith('neck.') for p in parts)
    rows = {line.split('|')[1].strip(): [c.strip() for c in line.split('|')[2:-1]]
            for line in out.splitlines()[4:]}
    # A task's own neck adapter gets no gradient from the other task: no ratio, no cosine.
    assert rows['neck.seg_adapters'][1] == '0 ± 0' and rows['neck.seg_adapters'][3] == '–'
    for part in ('backbone.layer4', 'all shared'):
        norm_seg, norm_depth, _, cos = (float(c.split(' ± ')[0]) for c in rows[part])
        assert norm_seg > 0 and norm_depth > 0 and -1 <= cos <= 1
    # --seed fixes weights, data order and augmentation: the same table again.
    again = tool.main([osp.join(ROOT, 'configs/ccam/ccam_r18_synthcity.py'), '--batches', '2',
                       '--cfg-options', f'train_dataloader.dataset.data_root={root}',
                       'train_dataloader.batch_size=2'])
    assert again == out
    with pytest.raises(SystemExit, match='mean-teacher config'):
        tool.main([osp.join(ROOT, 'configs/ccam/ccam_r18_synthcity_semi.py')])
