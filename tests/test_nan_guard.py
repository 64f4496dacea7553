"""Non-finite loss guard: training stops at the first NaN/inf loss, before the optimizer step,
the EMA teacher update and the checkpoint of that iteration (models/utils/loss_guard.py)."""
import copy
import hashlib
import os
import os.path as osp

import pytest
import torch
from conftest import tiny_seg_depth_cfg
from mmengine.dataset import BaseDataset
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint
from mmengine.structures import PixelData
from mmseg.models.losses import CrossEntropyLoss
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_ccam  # noqa: F401  (registers the modules)
from mmseg_ccam.engine import AtomicCheckpointRunner
from mmseg_ccam.models.utils.loss_guard import NonFiniteLossError, check_finite_losses

init_default_scope('mmseg')

H, W = 32, 32
NUM_CLASSES = 3
NAN_ITER = 4  # runner.iter (0-based) of the bad batch: iteration 5 in the log


pytestmark = pytest.mark.usefixtures('one_thread')


@MODELS.register_module(force=True)
class NaNAtIterCrossEntropyLoss(CrossEntropyLoss):
    """CrossEntropyLoss that returns NaN when MMEngine's runtime info 'iter' equals
    ``nan_at_iter``: a loss that blows up at one iteration of a real training loop."""

    def __init__(self, nan_at_iter: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.nan_at_iter = nan_at_iter

    def forward(self, *args, **kwargs):
        loss = super().forward(*args, **kwargs)
        if MessageHub.get_current_instance().get_info('iter') == self.nan_at_iter:
            return loss * float('nan')
        return loss


def segmentor_cfg(nan_at_iter=-1, **kwargs):
    return tiny_seg_depth_cfg(
        size=(H, W), num_classes=NUM_CLASSES,
        seg_loss=dict(type='NaNAtIterCrossEntropyLoss', nan_at_iter=nan_at_iter), **kwargs)


def mean_teacher_cfg(nan_at_iter=-1):
    seg = segmentor_cfg(nan_at_iter)
    return dict(type='MeanTeacherSegDepth', segmentor=seg,
                semi_train_cfg=dict(tau=0.0, color_aug=None))


def make_sample(i):
    """Sample ``i``: even = labeled, odd = unlabeled (all-255 map); all have depth."""
    g = torch.Generator().manual_seed(i)
    img = torch.randint(0, 256, (3, H, W), generator=g, dtype=torch.uint8)
    labeled = i % 2 == 0
    meta = dict(img_path=f'frames/f{i}.png', img_shape=(H, W), ori_shape=(H, W),
                pad_shape=(H, W), has_seg_label=labeled)
    ds = SegDataSample(metainfo=meta)
    label = torch.full((1, H, W), 255, dtype=torch.long)
    if labeled:
        label[:, :, :W // 2] = 0
        label[:, :, W // 2:] = 1 + i % 2
    ds.gt_sem_seg = PixelData(data=label)
    ds.gt_depth_map = PixelData(data=torch.linspace(20.0, 2.0, H)[:, None].expand(1, H, W)
                                .clone())
    return img, ds


class FramesDataset(BaseDataset):
    METAINFO = dict(name='nan_guard_frames')

    def __init__(self, size=4):
        self._size = size
        super().__init__(serialize_data=False)

    def load_data_list(self):
        return [dict(zip(('inputs', 'data_samples'), make_sample(i))) for i in range(self._size)]


class RecordCheckpointsHook(Hook):
    """After every iteration (after CheckpointHook), remember the bytes and mtime of each
    checkpoint in the work dir."""

    priority = 'LOWEST'

    def __init__(self):
        self.seen = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        for name in os.listdir(runner.work_dir):
            if name.endswith('.pth'):
                path = osp.join(runner.work_dir, name)
                with open(path, 'rb') as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                self.seen[name] = (digest, os.stat(path).st_mtime_ns)


def test_runner_stops_at_first_nan_and_keeps_last_checkpoint(tmp_path):
    record = RecordCheckpointsHook()
    runner = AtomicCheckpointRunner(
        model=mean_teacher_cfg(nan_at_iter=NAN_ITER),
        work_dir=str(tmp_path),
        experiment_name='nan_guard_e2e',
        default_scope='mmseg',
        train_dataloader=dict(
            dataset=FramesDataset(4), sampler=dict(type='InfiniteSampler', shuffle=False),
            batch_size=4, num_workers=0, collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=8, val_interval=1000),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='MeanTeacherHook', momentum=0.5), record],
        randomness=dict(seed=0),
        log_level='WARNING')
    with pytest.raises(FloatingPointError) as info:
        runner.train()
    msg = str(info.value)
    assert isinstance(info.value, NonFiniteLossError)
    # iteration as logged (1-based) and runner.iter, the term, the images of the batch
    assert f'iteration {NAN_ITER + 1} ' in msg and f'runner.iter={NAN_ITER}' in msg
    assert 'sup.decode.loss_ce=nan' in msg
    assert 'unsup.loss_seg' not in msg and 'depth.loss_silog' not in msg  # finite terms
    # InfiniteSampler without shuffling (and no 2 s sleep of MMEngine at each epoch end):
    # every batch holds samples 0-3 in order
    assert 'Batch: frames/f0.png, frames/f1.png, frames/f2.png, frames/f3.png.' in msg
    assert '--resume' in msg and 'clip_grad' in msg

    # Checkpoints: iter_2 and iter_4 exist and are byte-identical to what was written then;
    # nothing was written for iteration 5 or later.
    names = sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth'))
    assert names == ['iter_2.pth', 'iter_4.pth']
    assert not any(n.endswith('.tmp') for n in os.listdir(tmp_path))
    for name in names:
        path = str(tmp_path / name)
        with open(path, 'rb') as f:
            assert record.seen[name] == (hashlib.sha256(f.read()).hexdigest(),
                                         os.stat(path).st_mtime_ns), name
    with open(tmp_path / 'last_checkpoint') as f:
        assert f.read().strip().endswith('iter_4.pth')

    # The in-memory model is still the one of iter_4.pth: no optimizer step moved the
    # student and no EMA update moved the teacher (buffers included: the EMA copies the
    # student's BN statistics, which the failed forward pass did change).
    saved = _load_checkpoint(str(tmp_path / 'iter_4.pth'), map_location='cpu')['state_dict']
    model = runner.model
    for name, param in model.named_parameters():
        assert torch.equal(param.detach(), saved[name]), name
    for name, buf in model.teacher.named_buffers():
        assert torch.equal(buf, saved['teacher.' + name]), name
    # ...while the iterations before did train (this comparison could fail).
    assert runner.iter == NAN_ITER
    earlier = _load_checkpoint(str(tmp_path / 'iter_2.pth'), map_location='cpu')['state_dict']
    assert not torch.equal(earlier['student.decode_head.conv_seg.weight'],
                           saved['student.decode_head.conv_seg.weight'])
    assert not torch.equal(earlier['teacher.decode_head.conv_seg.weight'],
                           saved['teacher.decode_head.conv_seg.weight'])


def unit_batch(n=4):
    samples = [make_sample(i) for i in range(n)]
    return dict(inputs=[s[0] for s in samples], data_samples=[s[1] for s in samples])


@pytest.mark.parametrize('kind, term', [('sup', 'decode.loss_ce'),
                                        ('semi', 'sup.decode.loss_ce')])
def test_failed_train_step_changes_no_weight(kind, term):
    hub = MessageHub.get_instance(f'nan_guard_unit_{kind}')  # becomes the current hub
    hub.update_info('iter', 6)
    cfg = segmentor_cfg(nan_at_iter=6) if kind == 'sup' else mean_teacher_cfg(nan_at_iter=6)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    before = copy.deepcopy({k: v for k, v in model.named_parameters()})
    with pytest.raises(NonFiniteLossError) as info:
        model.train_step(unit_batch(), optim)
    msg = str(info.value)
    assert 'iteration 7 (runner.iter=6' in msg
    assert f'{term}=nan' in msg and 'frames/f0.png, frames/f1.png, frames/f2.png' in msg
    assert type(model).__name__ in msg
    for name, param in model.named_parameters():
        assert torch.equal(param, before[name]), name
        assert param.grad is None, name  # no backward pass either
    assert optim.optimizer.state_dict()['state'] == {}  # no step: no momentum buffer

    # The same step at another iteration is finite and does move the weights (the test
    # above can fail), and with the check off the NaN reaches the weights.
    hub.update_info('iter', 7)
    log_vars = model.train_step(unit_batch(), optim)
    assert torch.isfinite(log_vars['loss'])
    assert any(not torch.equal(p, before[k]) for k, p in model.named_parameters())
    hub.update_info('iter', 6)
    model.check_finite_loss = False
    model.train_step(unit_batch(), optim)
    assert any(not torch.isfinite(p).all() for p in model.parameters() if p.requires_grad)


def test_check_finite_losses_messages():
    MessageHub.get_instance('nan_guard_no_iter')  # current hub without 'iter'
    ok = dict(loss=torch.tensor(1.0), **{'decode.loss_ce': torch.tensor(1.0),
                                         'decode.acc_seg': torch.tensor(float('nan'))})
    check_finite_losses(ok, ['a.png'])  # non-loss entries are not checked
    bad = dict(loss=torch.tensor(float('inf')), **{'depth.loss_silog': torch.tensor(float('inf')),
                                                   'decode.loss_ce': torch.tensor(0.5)})
    with pytest.raises(NonFiniteLossError, match=r'unknown iteration.*depth\.loss_silog=inf'):
        check_finite_losses(bad, None)
    big = torch.tensor(3e38)
    overflow = dict(loss=big + big, **{'a.loss_x': big, 'b.loss_y': big})
    with pytest.raises(NonFiniteLossError, match='sum overflowed') as info:
        check_finite_losses(overflow, [f'p{i}.png' for i in range(20)])
    assert 'p15.png ... (+4 more)' in str(info.value)
