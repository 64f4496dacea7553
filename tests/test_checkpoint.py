"""Safe (weights_only) resume and atomic checkpoint writing: mmseg_ccam/engine/ (safe_globals.py,
atomic_runner.py, checkpoint_loading.py)."""
import builtins
import copy
import datetime
import os
import os.path as osp
import pickle
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import run_python
from mmengine.dataset import BaseDataset, ConcatDataset
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner.checkpoint import _load_checkpoint

import mmseg_ccam  # noqa: F401  (registers the allow-list at import)
from mmseg_ccam.engine import (
    MMENGINE_CHECKPOINT_SAFE_GLOBALS,
    AtomicCheckpointRunner,
    history_buffer_statistic,
    safe_global_names,
    temporary_checkpoint_name,
)

EXPECTED_NAMES = {
    'mmengine.logging.history_buffer.HistoryBuffer',
    'numpy.ndarray',
    'numpy.dtype',
    'numpy._core.multiarray._reconstruct',
    'numpy._core.multiarray.scalar',
    'numpy.core.multiarray._reconstruct',
    'numpy.core.multiarray.scalar',
    'builtins.getattr',
    'numpy.dtypes.BoolDType',
    'numpy.dtypes.Int8DType',
    'numpy.dtypes.UInt8DType',
    'numpy.dtypes.Int16DType',
    'numpy.dtypes.UInt16DType',
    'numpy.dtypes.Int32DType',
    'numpy.dtypes.UInt32DType',
    'numpy.dtypes.Int64DType',
    'numpy.dtypes.UInt64DType',
    'numpy.dtypes.LongLongDType',
    'numpy.dtypes.ULongLongDType',
    'numpy.dtypes.Float16DType',
    'numpy.dtypes.Float32DType',
    'numpy.dtypes.Float64DType',
}


# --------------------------------------------------------------------------- toy training set-up
class ToyMeanTeacher(BaseModel):
    """Student/teacher regressor; the teacher's predictions enter the loss, so a resume that
    lost the teacher would diverge."""

    def __init__(self):
        super().__init__()
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(0)
        self.student = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 1))
        torch.random.set_rng_state(gen_state)
        self.teacher = copy.deepcopy(self.student)
        self.teacher.requires_grad_(False)

    def forward(self, img, target, labeled, mode='tensor', **unused):
        out = self.student(img).squeeze(1)
        if mode != 'loss':
            return out
        with torch.no_grad():
            pseudo = self.teacher(img).squeeze(1)
        labeled = labeled.float()
        sup = ((out - target) ** 2 * labeled).sum() / labeled.sum().clamp(min=1)
        cons = ((out - pseudo) ** 2 * (1 - labeled)).sum() / (1 - labeled).sum().clamp(min=1)
        return dict(loss_sup=sup, loss_cons=cons)


class ToySource(BaseDataset):
    """``size`` random 1x8x8 images; ``labeled`` marks the source."""

    METAINFO = dict(name='toy')

    def __init__(self, size, labeled, offset):
        self._size, self._labeled, self._offset = size, labeled, offset
        super().__init__(serialize_data=False)

    def load_data_list(self):
        items = []
        for i in range(self._size):
            rng = np.random.default_rng(self._offset + i)
            img = rng.standard_normal((1, 8, 8)).astype(np.float32)
            items.append(dict(img=img, target=np.float32(img.mean() * 3),
                              labeled=np.int64(self._labeled)))
        return items


class NumpyLogHook(Hook):
    """Puts numpy scalars and arrays into the message hub, as metrics do."""

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        runner.message_hub.update_scalar('train/np_metric', np.float32(batch_idx) / 3)
        runner.message_hub.update_info('np_info', np.arange(3, dtype=np.int16) + batch_idx)


def make_runner(work_dir, name, max_iters, resume_from=None):
    dataset = ConcatDataset([ToySource(6, True, 0), ToySource(11, False, 100)])
    return AtomicCheckpointRunner(
        model=ToyMeanTeacher(),
        work_dir=str(work_dir),
        experiment_name=name,
        default_scope='mmseg',
        train_dataloader=dict(
            dataset=dataset,
            sampler=dict(type='MultiSourceSampler', batch_size=4, source_ratio=[2, 2]),
            batch_size=4, num_workers=0, collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=1000),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.2, by_epoch=False, begin=0, end=3),
            dict(type='MultiStepLR', milestones=[4], gamma=0.5, by_epoch=False)],
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='MeanTeacherHook', momentum=0.2), NumpyLogHook()],
        randomness=dict(seed=0, deterministic=True),
        load_from=resume_from,
        resume=resume_from is not None,
        log_level='WARNING')


@pytest.fixture
def restore_determinism():
    """``randomness.deterministic`` flips a process-wide torch flag; put it back."""
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


# ----------------------------------------------------------------------------------- allow-list
def test_allow_list_is_exactly_the_needed_names():
    assert safe_global_names() == EXPECTED_NAMES
    assert len(MMENGINE_CHECKPOINT_SAFE_GLOBALS) == len(EXPECTED_NAMES)
    registered = torch.serialization.get_safe_globals()
    for entry in MMENGINE_CHECKPOINT_SAFE_GLOBALS:
        assert entry in registered
    # The real getattr is never registered: only the restricted stand-in under its name.
    assert builtins.getattr not in registered
    by_name = {name: obj for obj, name in MMENGINE_CHECKPOINT_SAFE_GLOBALS}
    assert by_name['builtins.getattr'] is history_buffer_statistic


def test_restricted_getattr_only_resolves_history_buffer_statistics():
    assert history_buffer_statistic(HistoryBuffer, 'mean') is HistoryBuffer.mean
    assert history_buffer_statistic(HistoryBuffer, 'current') is HistoryBuffer.current
    for owner, name in [(HistoryBuffer, '__init__'), (HistoryBuffer, '__class__'),
                        (np.ndarray, 'tofile'), (os, 'system')]:
        with pytest.raises(pickle.UnpicklingError, match='Checkpoint refused'):
            history_buffer_statistic(owner, name)


class _Foreign:
    """Pickles as a call of ``func(*args)``: what a malicious checkpoint would contain."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize('func,args', [
    (builtins.print, ('pwned',)),          # harmless stand-ins for os.system
    (os.getcwd, ()),
    (getattr, (HistoryBuffer, '__init__')),  # the getattr gadget beyond HistoryBuffer stats
    (getattr, (np.ndarray, 'tofile')),
])
def test_foreign_callable_is_refused_by_mmengine_loading(tmp_path, capsys, func, args):
    path = str(tmp_path / 'evil.pth')
    torch.save({'meta': {}, 'state_dict': {'w': torch.zeros(2)}, 'x': _Foreign(func, args)},
               path)
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(path, map_location='cpu')
    assert 'pwned' not in capsys.readouterr().out


def test_weights_only_stays_on_for_plain_torch_load(tmp_path):
    # A benign but non-allow-listed class is still rejected: nothing switched weights_only off.
    path = str(tmp_path / 'x.pth')
    torch.save({'c': _Foreign(datetime.date, (2020, 1, 1))}, path)
    with pytest.raises(pickle.UnpicklingError, match='datetime'):
        torch.load(path)


# -------------------------------------------------------------------------------------- resume
def test_resume_reproduces_straight_training(tmp_path, restore_determinism):
    straight = make_runner(tmp_path / 'a', 'ckpt_test_straight', max_iters=6)
    straight.train()
    ckpt3 = str(tmp_path / 'a' / 'iter_3.pth')
    assert osp.isfile(ckpt3) and osp.isfile(str(tmp_path / 'a' / 'iter_6.pth'))
    assert not any(f.endswith('.tmp') for f in os.listdir(tmp_path / 'a'))

    # The checkpoint really holds what used to break weights_only loading, and it loads.
    loaded = torch.load(ckpt3, map_location='cpu')  # default weights_only=True
    scalars = loaded['message_hub']['log_scalars']
    assert isinstance(scalars['train/np_metric'], HistoryBuffer)
    assert scalars['train/np_metric'].current() == pytest.approx(2 / 3)
    np.testing.assert_array_equal(loaded['message_hub']['runtime_info']['np_info'], [2, 3, 4])
    assert loaded['meta']['iter'] == 3
    assert any(k.startswith('teacher.') for k in loaded['state_dict'])

    resumed = make_runner(tmp_path / 'b', 'ckpt_test_resumed', max_iters=6, resume_from=ckpt3)
    resumed.train()
    assert resumed.iter == 6

    final_a = straight.model.state_dict()
    final_b = resumed.model.state_dict()
    assert final_a.keys() == final_b.keys()
    for key in final_a:
        torch.testing.assert_close(final_b[key], final_a[key], rtol=0, atol=1e-6, msg=key)
    # The run actually trained and the teacher is neither the student nor its start.
    start = ToyMeanTeacher().state_dict()
    assert not torch.allclose(final_a['student.5.weight'], start['student.5.weight'])
    assert not torch.allclose(final_a['teacher.5.weight'], final_a['student.5.weight'])


# ------------------------------------------------------------------------------- atomic writing
def test_temporary_name_is_a_hidden_sibling():
    assert temporary_checkpoint_name('iter_2.pth') == '.iter_2.pth.tmp'
    assert temporary_checkpoint_name(osp.join('sub', 'best.pth')) == osp.join('sub',
                                                                              '.best.pth.tmp')


def test_registered_in_mmseg_runners():
    from mmseg.registry import RUNNERS
    assert RUNNERS.get('AtomicCheckpointRunner') is AtomicCheckpointRunner


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch, restore_determinism):
    runner = make_runner(tmp_path, 'ckpt_test_failed_save', max_iters=1)
    runner.train()
    runner.save_checkpoint(str(tmp_path), 'latest.pth', by_epoch=False)
    before = open(tmp_path / 'latest.pth', 'rb').read()

    from mmengine.fileio import LocalBackend

    def put_then_fail(self, obj, filepath):
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 3])
        raise OSError('disk full (simulated)')

    monkeypatch.setattr(LocalBackend, 'put', put_then_fail)
    with pytest.raises(OSError, match='simulated'):
        runner.save_checkpoint(str(tmp_path), 'latest.pth', by_epoch=False)
    assert open(tmp_path / 'latest.pth', 'rb').read() == before
    assert not osp.exists(tmp_path / '.latest.pth.tmp')


KILL_SCRIPT = textwrap.dedent('''
    import os, signal, sys
    sys.path.insert(0, {tests_dir!r})
    from mmengine.fileio import LocalBackend
    import test_checkpoint as t

    runner = t.make_runner({work_dir!r}, 'ckpt_test_kill', max_iters=1)
    runner.train()
    runner.save_checkpoint({work_dir!r}, 'latest.pth', by_epoch=False,
                           meta=dict(marker='first'))

    def put_then_die(self, obj, filepath):
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 3])
            f.flush()
        os.kill(os.getpid(), signal.SIGKILL)   # no cleanup can run

    LocalBackend.put = put_then_die
    runner.save_checkpoint({work_dir!r}, 'latest.pth', by_epoch=False,
                           meta=dict(marker='second'))
''')


def test_sigkill_during_save_leaves_previous_checkpoint_usable(tmp_path):
    script = tmp_path / 'kill.py'
    work_dir = tmp_path / 'wd'
    script.write_text(KILL_SCRIPT.format(tests_dir=osp.dirname(__file__),
                                         work_dir=str(work_dir)))
    proc = run_python([str(script)], check=False, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert osp.exists(work_dir / '.latest.pth.tmp')  # the half-written temporary
    ckpt = _load_checkpoint(str(work_dir / 'latest.pth'), map_location='cpu')
    assert ckpt['meta']['marker'] == 'first'
    assert 'teacher.0.weight' in ckpt['state_dict']


def test_zero_init_keys_come_from_the_modules_not_from_the_engine():
    from mmseg_ccam.engine import (
        IncompatibleCheckpointError,
        check_mismatch,
        checkpoint_key_mismatch,
        zero_init_keys,
    )
    from mmseg_ccam.models.utils.cross_channel_attention import CrossChannelAttention

    model = torch.nn.Module()
    model.neck = torch.nn.Module()
    model.neck.attentions = torch.nn.ModuleList([CrossChannelAttention(), CrossChannelAttention()])
    model.head = torch.nn.Linear(2, 2)
    declared = zero_init_keys(model)
    assert sorted(declared) == ['neck.attentions.0.gamma_d', 'neck.attentions.0.gamma_s',
                                'neck.attentions.1.gamma_d', 'neck.attentions.1.gamma_s']
    state = model.state_dict()
    no_gates = {k: v for k, v in state.items() if 'gamma' not in k}

    class Log:
        lines = []

        def warning(self, text):
            self.lines.append(text)

    report = checkpoint_key_mismatch(state, no_gates, declared)
    assert report['zero_gated'] == report['missing'] and len(report['missing']) == 4
    log = Log()
    check_mismatch(report, 'error', log)  # only the zero gates missing: a warning, no error
    assert log.lines == [
        'The checkpoint has no CCAM attention weights (4 gamma keys): they stay at 0, so the '
        "model computes what the checkpoint's model computed (attention off)."]
    # Without the modules' declaration the same keys are an architecture mismatch.
    with pytest.raises(IncompatibleCheckpointError, match='4 missing key'):
        check_mismatch(checkpoint_key_mismatch(state, no_gates), 'error', log)
    # A gate that is no longer 0 changes the function: not tolerated.
    with torch.no_grad():
        model.neck.attentions[1].gamma_s.fill_(0.5)
    report = checkpoint_key_mismatch(model.state_dict(), no_gates, declared)
    assert 'neck.attentions.1.gamma_s' not in report['zero_gated']
    with pytest.raises(IncompatibleCheckpointError):
        check_mismatch(report, 'error', log)
