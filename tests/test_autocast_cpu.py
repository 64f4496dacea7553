"""Mixed precision on the CPU: the steps of every model kind under bfloat16 autocast.

``tools/train.py --amp`` trains under MMEngine's ``AmpOptimWrapper``: the forward (data
preprocessor + model + losses) runs inside ``optim_wrapper.optim_context``, which enters
``torch.autocast``. The same is done here with ``torch.autocast('cpu', dtype=torch.bfloat16)``
(the CPU's autocast type; float16 autocast is a CUDA feature) for the model kinds of
``test_device_placement.py``: the losses stay finite, the precision-sensitive maths stays in
float32 (CCAM's energy and softmax, the depth head's sigmoid / reciprocal, the inverse-depth
loss's reciprocals, read from the dtypes of the calls made in those files), the predictions
carry float32 depth, and the metrics compute in the dtypes they use in float32. The ``--amp``
refusal without CUDA is tested too.
"""
import os.path as osp
import sys
from typing import Callable, List

import numpy as np
import pytest
import torch
from conftest import load_script
from mmengine.optim import OptimWrapper
from mmseg.registry import METRICS
from test_device_placement import KINDS, NUM_CLASSES, base_kind, build, eval_batch, train_batch
from torch.overrides import TorchFunctionMode

import mmseg_ccam

pytestmark = pytest.mark.usefixtures('one_thread')
PKG = osp.dirname(osp.abspath(mmseg_ccam.__file__))
TORCH = osp.dirname(osp.abspath(torch.__file__))
WATCHED = (osp.join(PKG, 'models', 'utils', 'cross_channel_attention.py'),
           osp.join(PKG, 'models', 'decode_heads', 'depth_head.py'),
           osp.join(PKG, 'models', 'losses', 'inverse_depth_l1_loss.py'))


class Bf16OptimWrapper(OptimWrapper):
    """What ``AmpOptimWrapper(dtype='bfloat16')`` does around the forward, on the CPU (MMEngine's
    ``AmpOptimWrapper`` itself refuses to build without CUDA)."""

    def optim_context(self, model):
        import contextlib

        @contextlib.contextmanager
        def ctx():
            with super(Bf16OptimWrapper, self).optim_context(model), torch.autocast(
                    'cpu', dtype=torch.bfloat16):
                yield
        return ctx()


class DtypeRecorder(TorchFunctionMode):
    """``(file, line, function name, input tensor dtypes, output dtype)`` of every torch call
    made directly by code in the watched files."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: List[tuple] = []

    def __torch_function__(self, func: Callable, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        f = sys._getframe(1)
        while f is not None and osp.abspath(f.f_code.co_filename).startswith(TORCH):
            f = f.f_back
        if f is not None and osp.abspath(f.f_code.co_filename) in WATCHED:
            ins = [a.dtype for a in args if isinstance(a, torch.Tensor)]
            name = getattr(func, '__name__', str(func))
            self.calls.append((osp.basename(f.f_code.co_filename), f.f_lineno, name, ins,
                               out.dtype if isinstance(out, torch.Tensor) else None))
        return out


def assert_float32_maths(calls: List[tuple], ccam: bool, depth: bool,
                         inverse_loss: bool = False) -> None:
    """CCAM's bmm / softmax, the depth head's sigmoid / reciprocal and the inverse-depth
    loss's reciprocals in float32."""
    by = {}
    for file, line, name, ins, out in calls:
        by.setdefault((file, name), []).append((line, ins, out))
    checks = []
    if ccam:
        checks += [('cross_channel_attention.py', 'softmax'),
                   ('cross_channel_attention.py', 'bmm')]
    if depth:
        checks += [('depth_head.py', 'sigmoid'), ('depth_head.py', '__rdiv__')]
    if inverse_loss:
        checks += [('inverse_depth_l1_loss.py', '__rdiv__')]
    for key in checks:
        assert by.get(key), f'{key} was not called: {sorted(by)}'
        for line, ins, out in by[key]:
            assert all(d == torch.float32 for d in ins) and out == torch.float32, (
                f'{key[0]}:{line} {key[1]} ran on {ins} -> {out} under bfloat16 autocast')


@pytest.mark.parametrize('kind', KINDS)
def test_bf16_autocast_steps(kind):
    base = base_kind(kind)
    model = build(kind)
    model.train()
    wrapper = Bf16OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    recorder = DtypeRecorder()
    with recorder:
        log_vars = model.train_step(train_batch(kind), wrapper)
    losses = {k: float(v) for k, v in log_vars.items() if 'loss' in k}
    assert losses and all(np.isfinite(v) for v in losses.values()), log_vars
    ccam = base in ('joint', 'semi')
    assert_float32_maths(recorder.calls, ccam=ccam, depth=base != 'seg-only',
                         inverse_loss=kind == 'no-ccam')
    # Autocast was active: the segmentation head's convolutions ran in bfloat16.
    seg = model.student if base == 'semi' else model
    if base != 'depth-only':
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
            out = seg._forward(torch.randn(2, 3, 32, 64))
        assert out['seg'].dtype == torch.bfloat16
        if base != 'seg-only':
            assert out['depth'].dtype == torch.float32

    # Inference as MMEngine's loops with fp16=True: the model's step under autocast, the
    # metrics outside it. Their accumulators keep the dtypes of a float32 run.
    model.eval()
    with torch.no_grad():
        ref = model.val_step(eval_batch(tta=False))
        with torch.autocast('cpu', dtype=torch.bfloat16):
            amp = model.val_step(eval_batch(tta=False))
    if base != 'seg-only':
        assert amp[0].pred_depth_map.data.dtype == torch.float32
    for metric_cfg in metric_cfgs(base):
        r_ref, r_amp = (run_metric(metric_cfg, preds) for preds in (ref, amp))
        assert [dtypes(x) for x in r_amp[0]] == [dtypes(x) for x in r_ref[0]], metric_cfg
        assert {k: type(v) for k, v in r_amp[1].items()} == {
            k: type(v) for k, v in r_ref[1].items()}
        # NaN only where the float32 run has NaN (classes absent from labels and predictions)
        for k, v in r_amp[1].items():
            assert np.isfinite(v) or not np.isfinite(r_ref[1][k]), (k, v, r_ref[1][k])


def metric_cfgs(base: str) -> list:
    out = []
    if base != 'depth-only':
        out += [dict(type='ClassIoUMetric'), dict(type='PseudoLabelMetric', tau=0.5)]
    if base != 'seg-only':
        out.append(dict(type='StreamingDepthMetric'))
    return out


def dtypes(result) -> list:
    items = result if isinstance(result, (list, tuple)) else [result]
    return [getattr(x, 'dtype', type(x)) for x in items]


def run_metric(metric_cfg: dict, preds) -> tuple:
    from mmengine.structures import PixelData
    metric = METRICS.build(metric_cfg)
    metric.dataset_meta = dict(classes=[f'c{i}' for i in range(NUM_CLASSES)])
    packed = []
    for s in preds:
        s = s.clone()
        shape = s.metainfo['ori_shape']
        s.gt_sem_seg = PixelData(data=(torch.arange(shape[1]) * NUM_CLASSES // shape[1])
                                 .expand(*shape)[None].clone())
        s.gt_depth_map = PixelData(data=torch.linspace(40.0, 2.0, shape[0])[:, None]
                                   .expand(*shape)[None].clone())
        packed.append(s.to_dict())
    metric.process({}, packed)
    results = list(metric.results)
    return results, metric.compute_metrics(metric.results)


def test_train_amp_without_cuda_is_refused_in_one_line(monkeypatch, capsys,
                                                         tmp_path):
    """``tools/train.py --amp`` without CUDA: one line on stderr, exit status 2, before any
    dataset or model is built (MMEngine's AmpOptimWrapper would stop with a bare
    AssertionError)."""
    train = load_script('tools/train.py')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    config = osp.join(osp.dirname(PKG), 'configs', 'ccam', 'ccam_r18_synthcity.py')
    monkeypatch.setattr(sys, 'argv', ['tools/train.py', config, '--amp', '--work-dir',
                                      str(tmp_path / 'work')])
    with pytest.raises(SystemExit) as exc:
        train.main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('tools/train.py: mixed precision'), err
    assert 'needs CUDA' in err[0] and 'drop --amp' in err[0]
    assert not (tmp_path / 'work').exists()

    from mmengine.config import Config
    cfg = Config(dict(optim_wrapper=dict(type='AmpOptimWrapper', optimizer=dict(type='SGD'))))
    with pytest.raises(train.AmpUnavailableError):  # set in the config, without --amp
        train.check_amp_device(cfg, cuda=False)
    train.check_amp_device(cfg, cuda=True)  # the CUDA path is MMEngine's, unchanged
    train.check_amp_device(Config(dict(optim_wrapper=dict(type='OptimWrapper'))), cuda=False)
