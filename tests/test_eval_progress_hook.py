"""EvalProgressHook: about N progress lines per evaluation, with an ETA."""
import pytest

import mmseg_ccam.engine.hooks.eval_progress_hook as module
from mmseg_ccam.engine.hooks.eval_progress_hook import (
    EvalProgressHook,
    format_seconds,
    progress_line,
)


class _Runner:
    def __init__(self, n):
        self.test_dataloader = list(range(n))
        self.val_dataloader = list(range(n))


def test_progress_lines_and_eta(monkeypatch):
    clock = iter(float(t) for t in range(0, 1000, 2))  # every call: 2 s later
    monkeypatch.setattr(module.time, 'perf_counter', lambda: next(clock))
    hook = EvalProgressHook(num_updates=10)
    runner = _Runner(50)
    hook.before_test_epoch(runner)  # t = 0
    lines = [hook._step('test', i) for i in range(50)]
    shown = [line for line in lines if line]
    # every 5th iteration: 5, 10, ..., 50
    assert [i + 1 for i, line in enumerate(lines) if line] == list(range(5, 51, 5))
    # one clock read per iteration, 2 s apart: 10 s for 5 images -> 45 left take 90 s
    assert shown[0] == 'test 5/50 (10%), elapsed 0:10, eta 1:30'
    assert shown[-1].startswith('test 50/50 (100%)') and shown[-1].endswith('eta 0:00')


def test_short_evaluations_show_every_iteration_and_val_is_named():
    hook = EvalProgressHook(num_updates=10)
    hook.before_val_epoch(_Runner(3))
    lines = [hook._step('val', i) for i in range(3)]
    assert [line.split(',')[0] for line in lines] == ['val 1/3 (33%)', 'val 2/3 (67%)',
                                                      'val 3/3 (100%)']


def test_format_and_arguments():
    assert format_seconds(3725) == '1:02:05' and format_seconds(65) == '1:05'
    assert progress_line('test', 0, 4, 0.0).endswith('eta ?')
    with pytest.raises(ValueError, match='num_updates'):
        EvalProgressHook(num_updates=0)
