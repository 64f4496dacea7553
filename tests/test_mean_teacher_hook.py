"""MeanTeacherHook: EMA update (MMEngine momentum meaning), buffers, schedule, interval, checks,
DDP unwrap, Runner."""
import copy
import socket
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmseg_ccam  # noqa: F401
from mmseg_ccam.engine.hooks.mean_teacher_hook import MeanTeacherHook, ema_momentum


def conv_bn(channels=3):
    return nn.Sequential(nn.Conv2d(1, channels, 3), nn.BatchNorm2d(channels))


class TeacherStudent(BaseModel):
    """Owns its teacher as MeanTeacherSegDepth does: frozen in __init__, always in eval."""

    def __init__(self, channels=3, teacher=None, freeze=True):
        super().__init__()
        self.student = conv_bn(channels)
        self.teacher = teacher if teacher is not None else conv_bn(channels)
        if freeze:
            self.teacher.requires_grad_(False)

    def train(self, mode=True):
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, img, target=None, mode='tensor', **unused):
        out = self.student(img).mean((1, 2, 3))
        if mode == 'loss':
            pseudo = self.teacher(img).mean((1, 2, 3))  # as the real model uses the teacher
            return dict(loss=((out - target) ** 2).mean() + ((out - pseudo) ** 2).mean())
        return out


def randomise(module, seed):
    """Distinct random weights and BN statistics, so copies and averages are distinguishable."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        for name, b in module.named_buffers():
            if name.endswith('num_batches_tracked'):
                b.fill_(seed)
            else:
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)


def fake_runner(model, iteration=0):
    hub = MessageHub.get_instance(f'mt_hook_test_{id(model)}')
    return SimpleNamespace(model=model, iter=iteration, message_hub=hub)


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize('update_buffers', [False, True])
@pytest.mark.parametrize('momentum', [0.01, 0.5])
@pytest.mark.parametrize('iteration', [0, 1, 4, 250])
def test_one_update_matches_formula(iteration, momentum, update_buffers):
    model = TeacherStudent()
    randomise(model.student, 1)
    randomise(model.teacher, 2)
    runner = fake_runner(model, iteration)
    hook = MeanTeacherHook(momentum=momentum, update_buffers=update_buffers)
    hook.before_train(runner)
    old = snapshot(model.teacher)
    hook.after_train_iter(runner, batch_idx=iteration)

    w = max(1 / (iteration + 1), momentum)  # student weight; t = iteration (interval 1)
    student = snapshot(model.student)
    teacher = model.teacher.state_dict()
    averaged = {name for name, _ in model.teacher.named_parameters()}
    if update_buffers:
        averaged |= {'1.running_mean', '1.running_var'}
    for name in teacher:
        if name in averaged:
            expected = ((1 - w) * old[name].double() + w * student[name].double()).float()
            torch.testing.assert_close(teacher[name], expected, rtol=1e-6, atol=1e-6)
        else:
            assert torch.equal(teacher[name], student[name]), name  # copied
    assert teacher['1.num_batches_tracked'].item() == 1  # integer buffer: always copied
    if update_buffers and iteration > 0:
        assert not torch.equal(teacher['1.running_mean'], student['1.running_mean'])
    assert runner.message_hub.get_scalar('train/ema_momentum').current() == pytest.approx(w)


def test_first_update_copies_student_exactly():
    model = TeacherStudent()
    randomise(model.student, 1)
    randomise(model.teacher, 2)
    with torch.no_grad():
        model.teacher[0].weight.fill_(float('inf'))  # w=1 must not compute 0 * inf
    runner = fake_runner(model, 0)
    hook = MeanTeacherHook()
    hook.before_train(runner)
    hook.after_train_iter(runner, batch_idx=0)
    for k, v in model.student.state_dict().items():
        assert torch.equal(model.teacher.state_dict()[k], v), k


def test_momentum_schedule():
    expected = [1.0, 1 / 2, 1 / 3, 1 / 4, 1 / 5]
    assert [ema_momentum(t, 0.01) for t in range(5)] == pytest.approx(expected)
    assert ema_momentum(98, 0.01) == pytest.approx(1 / 99)
    assert ema_momentum(99, 0.01) == pytest.approx(0.01)
    assert ema_momentum(10_000, 0.01) == 0.01
    assert [ema_momentum(t, 0.4) for t in range(4)] == pytest.approx([1.0, 0.5, 0.4, 0.4])
    with pytest.raises(ValueError):
        ema_momentum(-1, 0.01)


@pytest.mark.parametrize('interval', [1, 3])
def test_interval_and_logged_momentum(interval):
    """Updates happen after iterations interval-1, 2*interval-1, ...; t counts updates."""
    model = TeacherStudent()
    randomise(model.student, 1)
    runner = fake_runner(model)
    hook = MeanTeacherHook(momentum=0.4, interval=interval)
    hook.before_train(runner)
    used = []
    for it in range(3 * interval):
        randomise(model.student, 10 + it)  # a new student every iteration
        before = snapshot(model.teacher)
        runner.iter = it
        hook.after_train_iter(runner, batch_idx=it)
        changed = not torch.equal(before['0.weight'], model.teacher[0].weight)
        assert changed == ((it + 1) % interval == 0), it
        if changed:
            used.append(runner.message_hub.get_scalar('train/ema_momentum').current())
    assert used == pytest.approx([1.0, 0.5, 0.4])


@pytest.mark.parametrize('momentum', [0.0, 0.99, 0.999, 1.0, 1.5, -0.1])
def test_momentum_outside_student_weight_range_raises(momentum):
    """0 would freeze the teacher; 0.99 (a teacher weight in the opposite convention) would
    make it a copy of the student: both must fail loudly, naming the meaning."""
    with pytest.raises(ValueError, match="student's weight.*momentum=0.01"):
        MeanTeacherHook(momentum=momentum)


def test_mmdet_value_keeps_teacher_slow():
    """MMDetection's default momentum 0.001 means the same here: after the warm-up the teacher
    moves by 0.1 % of the student-teacher difference per update."""
    model = TeacherStudent()
    randomise(model.student, 1)
    randomise(model.teacher, 2)
    runner = fake_runner(model, 5000)
    hook = MeanTeacherHook(momentum=0.001)
    hook.before_train(runner)
    old = snapshot(model.teacher)
    hook.after_train_iter(runner, batch_idx=0)
    delta = model.teacher[0].weight - old['0.weight']
    torch.testing.assert_close(delta, 0.001 * (model.student[0].weight - old['0.weight']),
                               rtol=1e-4, atol=1e-6)


def test_hook_does_not_own_freezing_or_init():
    """The model freezes and initialises the teacher; the hook refuses a trainable teacher and
    leaves the teacher's weights alone before the first update."""
    model = TeacherStudent(freeze=False)
    with pytest.raises(RuntimeError, match="requires_grad_\\(False\\).*__init__"):
        MeanTeacherHook().before_train(fake_runner(model))
    model = TeacherStudent()
    randomise(model.student, 1)
    randomise(model.teacher, 2)
    kept = snapshot(model.teacher)
    MeanTeacherHook().before_train(fake_runner(model, 0))
    for k, v in kept.items():
        assert torch.equal(model.teacher.state_dict()[k], v), k
    assert not hasattr(MeanTeacherHook, 'before_train_iter') or \
        MeanTeacherHook.before_train_iter is Hook.before_train_iter


def test_structure_mismatch_names_first_key():
    model = TeacherStudent(channels=3, teacher=conv_bn(4))
    with pytest.raises(ValueError, match=r"'0\.weight'.*\(4, 1, 3, 3\).*\(3, 1, 3, 3\)"):
        MeanTeacherHook().before_train(fake_runner(model))
    model = TeacherStudent(teacher=nn.Sequential(nn.Conv2d(1, 3, 3)))
    with pytest.raises(ValueError, match=r"'1\.weight' is missing from model\.teacher"):
        MeanTeacherHook().before_train(fake_runner(model))


def test_bad_model_and_args():
    with pytest.raises(AttributeError, match="'teacher'"):
        MeanTeacherHook().before_train(fake_runner(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match='momentum'):
        MeanTeacherHook(momentum=1.5)
    with pytest.raises(TypeError):
        MeanTeacherHook(teacher_eval=True)  # the model owns eval mode
    with pytest.raises(ValueError, match='interval'):
        MeanTeacherHook(interval=0)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_ddp_wrapped_model_is_unwrapped():
    from mmengine.model import MMDistributedDataParallel
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{_free_port()}', rank=0,
                            world_size=1)
    try:
        inner = TeacherStudent()
        randomise(inner.student, 1)
        wrapped = MMDistributedDataParallel(module=inner)
        runner = fake_runner(wrapped, 0)
        hook = MeanTeacherHook()
        hook.before_train(runner)
        hook.after_train_iter(runner, batch_idx=0)  # first update: a copy of the student
        for k, v in inner.student.state_dict().items():
            assert torch.equal(inner.teacher.state_dict()[k], v), k

        trainable = TeacherStudent(freeze=False)  # DDP registered the teacher as trainable
        with pytest.raises(RuntimeError, match='requires_grad_\\(False\\)'):
            MeanTeacherHook().before_train(fake_runner(MMDistributedDataParallel(
                module=trainable), 0))
    finally:
        dist.destroy_process_group()


# --------------------------------------------------------------------------- real mmengine Runner
class Regression(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        img = rng.standard_normal((1, 6, 6)).astype(np.float32)
        return dict(img=img, target=np.float32(img.mean()))


class RecordStudent(Hook):
    """Records the student after each optimizer step (runs after MeanTeacherHook)."""

    priority = 'LOW'

    def __init__(self):
        self.students = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.students.append(snapshot(runner.model.student))


def test_with_real_runner(tmp_path):
    recorder = RecordStudent()
    runner = Runner(
        model=TeacherStudent(),
        work_dir=str(tmp_path),
        experiment_name='mt_hook_runner_test',
        default_scope='mmseg',
        train_dataloader=dict(dataset=Regression(), batch_size=4, num_workers=0,
                              sampler=dict(type='InfiniteSampler', shuffle=True, seed=0),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=5, val_interval=1000),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='MeanTeacherHook', momentum=0.4, update_buffers=False),
                      recorder],
        log_level='WARNING')
    runner.train()

    # Independent replay of the EMA from the recorded students.
    buffers = {name for name, _ in runner.model.teacher.named_buffers()}
    ref = copy.deepcopy(recorder.students[0])
    for t, student in enumerate(recorder.students):
        w = max(1 / (t + 1), 0.4)
        for k, v in student.items():
            ref[k] = v.clone() if k in buffers else (1 - w) * ref[k] + w * v
    teacher = runner.model.teacher.state_dict()
    for k, v in ref.items():
        torch.testing.assert_close(teacher[k], v, rtol=1e-6, atol=1e-6, msg=k)
    assert not torch.allclose(teacher['0.weight'], recorder.students[-1]['0.weight'])
    assert all(not p.requires_grad for p in runner.model.teacher.parameters())
    assert not runner.model.teacher.training
