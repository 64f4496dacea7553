"""MeanTeacherHook: EMA update, momentum schedule, freezing, interval, DDP unwrap, Runner."""
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
    def __init__(self, channels=3, teacher=None):
        super().__init__()
        self.student = conv_bn(channels)
        self.teacher = teacher if teacher is not None else conv_bn(channels)

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


@pytest.mark.parametrize('momentum', [0.99, 0.5])
@pytest.mark.parametrize('iteration', [0, 1, 4, 250])
def test_one_update_matches_formula(iteration, momentum):
    model = TeacherStudent()
    randomise(model.student, 1)
    randomise(model.teacher, 2)
    runner = fake_runner(model, iteration)
    hook = MeanTeacherHook(momentum=momentum, init_teacher_from_student=False)
    hook.before_train(runner)
    old = snapshot(model.teacher)
    hook.after_train_iter(runner, batch_idx=iteration)

    m = min(1 - 1 / (iteration + 1), momentum)  # t = iteration updates done before (interval 1)
    student = snapshot(model.student)
    for name, _ in model.teacher.named_parameters():
        expected = (m * old[name].double() + (1 - m) * student[name].double()).float()
        torch.testing.assert_close(model.teacher.state_dict()[name], expected,
                                   rtol=1e-6, atol=1e-6)
    for name, buf in model.teacher.named_buffers():
        assert torch.equal(buf, student[name]), name  # copied, not averaged
    assert model.teacher.state_dict()['1.num_batches_tracked'].item() == 1
    assert runner.message_hub.get_scalar('train/teacher_momentum').current() == pytest.approx(m)


def test_first_update_copies_student_exactly():
    model = TeacherStudent()
    randomise(model.student, 1)
    randomise(model.teacher, 2)
    with torch.no_grad():
        model.teacher[0].weight.fill_(float('inf'))  # m=0 must not compute 0 * inf
    runner = fake_runner(model, 0)
    hook = MeanTeacherHook(init_teacher_from_student=False)
    hook.before_train(runner)
    hook.after_train_iter(runner, batch_idx=0)
    for k, v in model.student.state_dict().items():
        assert torch.equal(model.teacher.state_dict()[k], v), k


def test_momentum_schedule():
    expected = [0.0, 1 / 2, 2 / 3, 3 / 4, 4 / 5]
    assert [ema_momentum(t, 0.99) for t in range(5)] == pytest.approx(expected)
    assert ema_momentum(98, 0.99) == pytest.approx(1 - 1 / 99)
    assert ema_momentum(99, 0.99) == pytest.approx(0.99)
    assert ema_momentum(10_000, 0.99) == 0.99
    assert [ema_momentum(t, 0.6) for t in range(4)] == pytest.approx([0.0, 0.5, 0.6, 0.6])
    with pytest.raises(ValueError):
        ema_momentum(-1, 0.99)


@pytest.mark.parametrize('interval', [1, 3])
def test_interval_and_logged_momentum(interval):
    """Updates happen after iterations interval-1, 2*interval-1, ...; t counts updates."""
    model = TeacherStudent()
    randomise(model.student, 1)
    runner = fake_runner(model)
    hook = MeanTeacherHook(momentum=0.6, interval=interval, init_teacher_from_student=False)
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
            used.append(runner.message_hub.get_scalar('train/teacher_momentum').current())
    assert used == pytest.approx([0.0, 0.5, 0.6])


def test_teacher_frozen_and_gets_no_grad():
    torch.manual_seed(0)  # module init and input: the test must not depend on the draw
    model = TeacherStudent()
    runner = fake_runner(model)
    MeanTeacherHook().before_train(runner)
    assert all(not p.requires_grad for p in model.teacher.parameters())
    assert all(p.requires_grad for p in model.student.parameters())
    img = torch.randn(2, 1, 6, 6)
    # A non-zero target: with target 0 the batch sum of dL/dout is 0 and so is the BN bias grad.
    losses = model(img, torch.ones(2), mode='loss')
    losses['loss'].backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    grads = {name: p.grad for name, p in model.student.named_parameters()}
    assert all(g is not None for g in grads.values())
    # A train-mode BatchNorm subtracts the batch mean, so the conv bias cannot change the
    # output: its gradient is zero up to rounding. Every other parameter must get a real one.
    assert grads['0.bias'].abs().max() < 1e-5
    for name in ('0.weight', '1.weight', '1.bias'):
        assert grads[name].abs().sum() > 1e-3, name


def test_init_from_student_only_when_not_resumed():
    model = TeacherStudent()
    randomise(model.student, 1)
    randomise(model.teacher, 2)
    MeanTeacherHook().before_train(fake_runner(model, 0))
    for k, v in model.student.state_dict().items():
        assert torch.equal(model.teacher.state_dict()[k], v), k

    resumed = TeacherStudent()
    randomise(resumed.student, 1)
    randomise(resumed.teacher, 2)
    kept = snapshot(resumed.teacher)
    MeanTeacherHook().before_train(fake_runner(resumed, 40))  # runner.iter > 0: resumed
    for k, v in kept.items():
        assert torch.equal(resumed.teacher.state_dict()[k], v), k


def test_teacher_kept_in_eval_mode():
    model = TeacherStudent()
    runner = fake_runner(model)
    hook = MeanTeacherHook()
    hook.before_train(runner)
    model.train()  # what the loop does before each iteration
    hook.before_train_iter(runner, batch_idx=0)
    assert model.student.training and not model.teacher.training
    stats = model.teacher[1].running_mean.clone()
    model.teacher(torch.randn(4, 1, 6, 6))
    assert torch.equal(model.teacher[1].running_mean, stats)  # eval BN: stats untouched


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
        inner.teacher.requires_grad_(False)  # as the segmentor must do before wrapping
        wrapped = MMDistributedDataParallel(module=inner)
        runner = fake_runner(wrapped, 0)
        hook = MeanTeacherHook()
        hook.before_train(runner)
        for k, v in inner.student.state_dict().items():
            assert torch.equal(inner.teacher.state_dict()[k], v), k

        trainable = TeacherStudent()  # teacher left trainable: DDP already registered it
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
        custom_hooks=[dict(type='MeanTeacherHook', momentum=0.6), recorder],
        log_level='WARNING')
    runner.train()

    # Independent replay of the EMA from the recorded students.
    buffers = {name for name, _ in runner.model.teacher.named_buffers()}
    ref = copy.deepcopy(recorder.students[0])
    for t, student in enumerate(recorder.students):
        m = min(1 - 1 / (t + 1), 0.6)
        for k, v in student.items():
            ref[k] = v.clone() if k in buffers else m * ref[k] + (1 - m) * v
    teacher = runner.model.teacher.state_dict()
    for k, v in ref.items():
        torch.testing.assert_close(teacher[k], v, rtol=1e-6, atol=1e-6, msg=k)
    assert not torch.allclose(teacher['0.weight'], recorder.students[-1]['0.weight'])
    assert all(not p.requires_grad for p in runner.model.teacher.parameters())
    assert not runner.model.teacher.training
