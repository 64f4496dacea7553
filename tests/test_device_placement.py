"""Every tensor created inside a training / inference step lands on its inputs' device.

No line of the package has run on a GPU, so the device slips a CUDA user would meet first (a
tensor made with ``torch.full(...)`` and no ``device=`` lands on the CPU while the batch is on the
GPU; MMSeg's loss then stacks both and stops) are caught here on the CPU.

How: :class:`FactoryRecorder`, a ``TorchFunctionMode``, sees every call of a tensor factory
(``torch.full/zeros/ones/empty/tensor/as_tensor/arange/rand*/randint/randperm/linspace/eye/...``;
``*_like`` and ``Tensor.new_*`` follow their input and are not factories here) made while a step
runs: the data preprocessor, the model (backbone, CCAM neck, heads, losses, the mean teacher's
batch augmentations), the optimizer wrapper, the EMA hook, the TTA merge. The step runs with the
model and its inputs on the CPU while the *default* device is ``meta``
(``with torch.device('meta')``), so a factory without ``device=`` lands on ``meta`` instead of the
inputs' device. A call fails the test, with the file and line of the package code that made it
(the innermost ``mmseg_ccam/`` frame), when

- it comes from package code and has no explicit ``device=`` (``torch.tensor`` / ``as_tensor``
  of a tensor follow it and are fine), or
- its result is on another device than the inputs (whoever called the factory, as long as the
  call was reached from package code: library code called with our arguments counts).

Why this set-up and not the alternatives (each was tried):

- Running the step with the model and inputs on ``meta`` stops at the first host read (``bool``
  / ``int`` / ``.item()`` of a tensor: the depth head's "any valid pixel", ColorAug's label
  range, the loss guard), so it covers the forward of ``mode='tensor'`` only;
  :func:`test_tensor_forward_on_meta` runs that part, which in addition catches a factory that
  names ``device='cpu'`` explicitly.
- Only setting the default device to ``meta`` makes a forgotten ``device=`` fail somewhere
  later (a stack, a ``where``), at a line that is not the culprit, or not at all where the
  tensor is read on the host (``.item()`` of a CPU scalar works, of a meta one raises in an
  unrelated place).
- Only recording calls without ``device=`` (default device CPU) misses a factory that takes its
  device from the wrong tensor or from ``torch.get_default_device()``.

The recorder + ``meta`` default catches all three and names the line. A factory that
deliberately makes a host tensor (the mean teacher's seed draw from the CPU generator that
MMEngine seeds) must say so with ``device='cpu'``. What no CPU test can tell apart is an
explicit ``device='cpu'`` that should have been the inputs' device outside the tensor forward;
those lines are few and listed by :func:`test_recorder_sees_the_package_factories`.

Model kinds: joint (CCAM), seg-only, depth-only, no-CCAM (adapters, no attention; BerHu and
inverse-depth L1 losses), joint with depth-only frames (no ``gt_sem_seg``) and frames without
depth, and the mean teacher with AffineMix, strong augmentation and ColorAug (plus its ClassMix,
DepthMix / shuffled-depth controls and other options); for each one train step (``train_step``
through an ``OptimWrapper``, and the EMA update), one ``val_step`` (predict; joint also sliding
window with flip), one TTA ``test_step`` (``SegDepthTTAModel``, two scales x two flips) and the
metrics (``ClassIoUMetric``, ``PseudoLabelMetric``, ``StreamingDepthMetric``) on its predictions.
"""
import os
import os.path as osp
import sys
import traceback
from types import SimpleNamespace
from typing import Callable, List

import pytest
import torch
from conftest import tiny_ccam_cfg
from mmengine.config import ConfigDict
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch.overrides import TorchFunctionMode

import mmseg_ccam
from mmseg_ccam.engine.hooks.mean_teacher_hook import MeanTeacherHook
from mmseg_ccam.models.segmentors import SegDepthTTAModel

pytestmark = pytest.mark.usefixtures('one_thread')
init_default_scope('mmseg')

PKG = osp.dirname(osp.abspath(mmseg_ccam.__file__)) + os.sep
TORCH = osp.dirname(osp.abspath(torch.__file__)) + os.sep
NUM_CLASSES = 4
H, W = 30, 60  # images; the preprocessor pads to (32, 64)
PAD = (32, 64)

# Functions that create a tensor from scratch. Their device is the explicit `device=` or the
# default device (torch.tensor / as_tensor of a tensor keep its device; from_numpy is always CPU).
FACTORIES = {
    torch.arange, torch.as_tensor, torch.bartlett_window, torch.blackman_window, torch.empty,
    torch.empty_strided, torch.eye, torch.from_numpy, torch.full, torch.hamming_window,
    torch.hann_window, torch.kaiser_window, torch.linspace, torch.logspace, torch.normal,
    torch.ones, torch.rand, torch.randint, torch.randn, torch.randperm, torch.range,
    torch.scalar_tensor, torch.sparse_coo_tensor, torch.tensor, torch.tril_indices,
    torch.triu_indices, torch.zeros
}
_FOLLOW_DATA = {torch.tensor, torch.as_tensor}


def _frames(start) -> list:
    """(file, line, function) of the Python frames from ``start`` outwards."""
    out = []
    f = start
    while f is not None:
        out.append((osp.abspath(f.f_code.co_filename), f.f_lineno, f.f_code.co_name))
        f = f.f_back
    return out


class FactoryRecorder(TorchFunctionMode):
    """Record every factory call reached from package code; collect device violations.

    Args:
        device (torch.device): The inputs' device.

    Attributes:
        calls (list[tuple]): ``(factory name, 'file:line' of the innermost package frame,
            device given?, result device)`` of every factory call reached from package code.
        violations (list[str]): One line per slip, with the package file and line.
    """

    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self.device = torch.device(device)
        self.calls: List[tuple] = []
        self.violations: List[str] = []

    def __torch_function__(self, func: Callable, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func not in FACTORIES:
            return out
        frames = [fr for fr in _frames(sys._getframe(1)) if not fr[0].startswith(TORCH)]
        ours = [fr for fr in frames if fr[0].startswith(PKG)]
        if not ours:
            return out  # test code, or a library called from outside the package
        caller = frames[0]
        path, line, function = ours[0]
        site = f'{osp.relpath(path, osp.dirname(PKG.rstrip(os.sep)))}:{line} ({function})'
        name = getattr(func, '__name__', str(func))
        given = kwargs.get('device') is not None or (
            func in _FOLLOW_DATA and args and isinstance(args[0], torch.Tensor))
        result = out.device if isinstance(out, torch.Tensor) else None
        self.calls.append((name, site, given, result))
        if caller[0].startswith(PKG) and not given:
            self.violations.append(f'{site}: torch.{name}(...) without device= (lands on the '
                                   f'default device, {result})')
        elif result is not None and result != self.device:
            via = '' if caller[0].startswith(PKG) else (
                f' inside {osp.basename(caller[0])}:{caller[1]}')
            self.violations.append(f'{site}: torch.{name}(...){via} made a tensor on {result}, '
                                   f'the inputs are on {self.device}')
        return out


def run_recorded(fn: Callable, device='cpu'):
    """``fn()`` with the default device ``meta`` under a :class:`FactoryRecorder`; fails the
    test with every violation (or with the error a slip caused, and the violations so far)."""
    recorder = FactoryRecorder(torch.device(device))
    try:
        with torch.device('meta'), recorder:
            out = fn()
    except Exception as e:  # a slip may break the step before the recorder reports it
        raise AssertionError('the step failed; factory slips recorded before the failure:\n'
                             + '\n'.join(recorder.violations or ['none']) + '\n'
                             + ''.join(traceback.format_exception(e))) from e
    assert not recorder.violations, 'tensors created off the inputs\' device:\n' + '\n'.join(
        dict.fromkeys(recorder.violations))
    return out, recorder


# ------------------------------------------------------------------------------ models, data
def segmentor_cfg(kind: str) -> dict:
    cfg = tiny_ccam_cfg(num_classes=NUM_CLASSES)
    cfg['data_preprocessor'] = dict(cfg['data_preprocessor'], size=PAD)
    if kind == 'seg-only':
        cfg.update(neck=None, depth_head=None)
    elif kind == 'depth-only':
        cfg.update(neck=None, decode_head=None)
    elif kind == 'no-ccam':
        # also the package's other depth losses
        cfg['neck'] = dict(cfg['neck'], attention=None)
        cfg['depth_head'] = dict(cfg['depth_head'], loss_decode=[
            dict(type='BerHuLoss'), dict(type='InverseDepthL1Loss')])
    return cfg


# The mean teacher's options other than the defaults (kinds 'semi-*'): the ClassMix and
# DepthMix / shuffled-depth controls, the other pseudo-label weights, separate student forwards.
SEMI_OPTIONS = {
    'semi': dict(),
    'semi-classmix': dict(mix=dict(warp=None, prob=0.5, mask=dict(type='ClassMask')),
                          pseudo_weight='image',
                          student_forward='separate', color_view_bn='update'),
    'semi-depthmix-shuffled': dict(mix=dict(warp=None, mask=dict(type='ShuffledDepthMask',
                                                                   margin=0.3)),
                                   pseudo_weight='mask', strong_aug=None),
}


def build(kind: str):
    torch.manual_seed(0)
    if kind in SEMI_OPTIONS:  # AffineMix, strong aug and ColorAug: defaults unless changed
        cfg = dict(type='MeanTeacherSegDepth', segmentor=segmentor_cfg('joint'),
                   semi_train_cfg=dict(tau=0.3, **SEMI_OPTIONS[kind]))
    else:
        cfg = segmentor_cfg(kind)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def train_batch(kind: str, seed: int = 0) -> dict:
    """A batch as the dataloader gives it: uint8 images and packed samples (4 of them)."""
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for i in range(4):
        img = torch.randint(0, 256, (3, H, W), generator=g, dtype=torch.uint8)
        labeled = kind not in SEMI_OPTIONS or i < 2
        meta = dict(img_path=f'frame{i}.png', ori_shape=(H, W), img_shape=(H, W),
                    has_seg_label=labeled)
        ds = SegDataSample(metainfo=meta)
        seg = torch.randint(0, NUM_CLASSES, (1, H, W), generator=g)
        if not labeled:
            seg = torch.full((1, H, W), 255, dtype=torch.long)
        depth = torch.linspace(40.0, 2.0 + i, H)[:, None].expand(H, W)[None].clone()
        if kind == 'missing-labels':
            # frames 1, 3: depth-only (no gt_sem_seg); frame 2: segmentation only
            if i % 2 == 0:
                ds.gt_sem_seg = PixelData(data=seg)
            if i != 2:
                ds.gt_depth_map = PixelData(data=depth)
        else:
            ds.gt_sem_seg = PixelData(data=seg)
            ds.gt_depth_map = PixelData(data=depth)
        inputs.append(img)
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


def eval_batch(tta: bool) -> dict:
    """One image; with ``tta`` two scales x two flips, as ``TestTimeAug`` packs them."""
    import numpy as np
    from mmengine.dataset import Compose, pseudo_collate
    img = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    if tta:
        transforms = [dict(type='TestTimeAug', transforms=[
            [dict(type='Resize', scale_factor=s, keep_ratio=True) for s in (0.75, 1.0)],
            [dict(type='RandomFlip', prob=p, direction='horizontal') for p in (0.0, 1.0)],
            [dict(type='PackSegInputs')]])]
    else:
        transforms = [dict(type='PackSegInputs')]
    pipeline = Compose([dict(type='LoadImageFromNDArray')] + transforms)
    return pseudo_collate([pipeline(dict(img=img))])


KINDS = ['joint', 'seg-only', 'depth-only', 'no-ccam', 'missing-labels'] + list(SEMI_OPTIONS)


def base_kind(kind: str) -> str:
    """The model structure of a kind: 'joint' for 'missing-labels', 'semi' for 'semi-*'."""
    return 'joint' if kind == 'missing-labels' else 'semi' if kind in SEMI_OPTIONS else kind


def train_step(model, batch: dict, kind: str) -> dict:
    model.train()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    log_vars = model.train_step(batch, wrapper)
    if kind in SEMI_OPTIONS:
        hook = MeanTeacherHook(momentum=0.01)
        runner = SimpleNamespace(model=model, iter=0,
                                 message_hub=MessageHub.get_current_instance())
        hook.before_train(runner)
        hook.after_train_iter(runner, 0)
    return log_vars


@pytest.mark.parametrize('kind', KINDS)
def test_steps_create_tensors_on_the_inputs_device(kind):
    base = base_kind(kind)
    model = build(kind)
    batch = train_batch(kind)
    log_vars, recorder = run_recorded(lambda: train_step(model, batch, kind))
    losses = {k: v for k, v in log_vars.items() if 'loss' in k}
    assert losses and all(torch.isfinite(torch.as_tensor(v)) for v in losses.values()), log_vars
    if kind == 'missing-labels':
        assert float(log_vars['num_no_depth']) == 1.0
    if base == 'semi':
        # The recorder saw the augmentations' factories (with their device).
        sites = {site.split(':')[0] for _, site, _, _ in recorder.calls}
        assert {'mmseg_ccam/augmentation/affine_mix.py',
                'mmseg_ccam/augmentation/color_aug.py'} <= sites, sites

    model.eval()
    with torch.no_grad():  # as MMEngine's val / test loops
        preds, _ = run_recorded(lambda: model.val_step(eval_batch(tta=False)))
        assert len(preds) == 1
        if kind == 'joint':  # sliding-window inference with flip
            model.test_cfg = ConfigDict(mode='slide', crop_size=(16, 32), stride=(12, 24),
                                        flip=True)
            slide, _ = run_recorded(lambda: model.val_step(eval_batch(tta=False)))
            assert slide[0].pred_depth_map.data.shape == (1, H, W)
            model.test_cfg = ConfigDict(mode='whole')
        tta = SegDepthTTAModel(module=model)
        merged, _ = run_recorded(lambda: tta.test_step(eval_batch(tta=True)))
    fields = set(merged[0].keys())
    if base != 'depth-only':
        assert merged[0].seg_logits.data.shape == (NUM_CLASSES, H, W)
    if base != 'seg-only':
        assert merged[0].pred_depth_map.data.shape == (1, H, W), fields
    # The evaluators read the predictions on the same device (their own factories too).
    if base != 'depth-only':
        iou = run_recorded(evaluator(dict(type='ClassIoUMetric'), merged))[0]
        assert 0 <= iou['mIoU'] <= 100
        pseudo = run_recorded(evaluator(dict(type='PseudoLabelMetric', tau=0.5), merged))[0]
        assert pseudo
    if base != 'seg-only':
        depth = run_recorded(evaluator(dict(type='StreamingDepthMetric'), merged))[0]
        assert depth['abs_rel'] >= 0


def evaluator(metric_cfg: dict, samples) -> Callable[[], dict]:
    """A call of the metric's ``process`` + ``compute_metrics`` on ``samples`` given a
    ground truth (made here, outside the recorded call)."""
    from mmseg.registry import METRICS
    metric = METRICS.build(metric_cfg)
    metric.dataset_meta = dict(classes=[f'c{i}' for i in range(NUM_CLASSES)])
    gt_seg = torch.randint(0, NUM_CLASSES, (1, H, W), generator=torch.Generator().manual_seed(1))
    gt_depth = torch.linspace(40.0, 2.0, H)[:, None].expand(H, W)[None].clone()
    packed = []
    for s in samples:
        s = s.clone()
        s.gt_sem_seg = PixelData(data=gt_seg)
        s.gt_depth_map = PixelData(data=gt_depth)
        packed.append(s.to_dict())

    def run() -> dict:
        metric.process({}, packed)
        return metric.compute_metrics(metric.results)
    return run


@pytest.mark.parametrize('kind', ['joint', 'no-ccam', 'depth-only'])
def test_tensor_forward_on_meta(kind):
    """Model and inputs on ``meta``, default device CPU: the ``mode='tensor'`` forward (it reads
    nothing back to the host) makes every tensor on ``meta``, explicit ``device='cpu'`` included."""
    model = build(kind).eval().to('meta')
    x = torch.empty(2, 3, *PAD, device='meta')
    recorder = FactoryRecorder(torch.device('meta'))
    with recorder:
        out = model(x, mode='tensor')
    assert not recorder.violations, '\n'.join(recorder.violations)
    assert all(v.device.type == 'meta' for v in out.values())


def test_recorder_flags_slips_with_file_and_line():
    """The recorder itself: a slip written in a (fake) package file is reported with that file
    and line, a factory given the inputs' device is not, nor code outside the package."""
    code = ('def make(x):\n'
            '    ok = torch.zeros(2, device=x.device)\n'
            '    like = torch.zeros_like(x)\n'
            '    return torch.full((2, ), 255, dtype=torch.long)\n')
    namespace = dict(torch=torch)
    exec(compile(code, osp.join(PKG, 'models', '_probe.py'), 'exec'), namespace)
    with pytest.raises(AssertionError, match=r'mmseg_ccam/models/_probe.py:4 \(make\): '
                       r'torch.full\(\.\.\.\) without device='):
        run_recorded(lambda: namespace['make'](torch.ones(3)))
    namespace2 = dict(torch=torch)
    exec(compile(code, '/elsewhere/_probe.py', 'exec'), namespace2)
    out, recorder = run_recorded(lambda: namespace2['make'](torch.ones(3)))
    assert out.device.type == 'meta' and not recorder.calls  # not package code: not judged


# Lines of the step code that make or read host tensors on purpose, each reviewed: explicit
# CPU draws fall back to torch's global CPU RNG when no generator is given (the step always
# gives one on the inputs' device), and small per-sample parameters are read back to build
# the returned parameter records. A new line of this kind fails here until it is reviewed and
# added, since no CPU test can tell a deliberate host tensor from a GPU slip.
HOST_SIDE = {
    'models/segmentors/mean_teacher_seg_depth.py': [
        "seed = int(torch.randint(0, 2**62, (1, ), dtype=torch.int64, device='cpu'))"],
    'augmentation/strong_aug.py': [
        "gdev = generator.device if generator is not None else torch.device('cpu')"],
    'augmentation/color_aug.py': [
        "gdev = generator.device if generator is not None else torch.device('cpu')",
        'sel_cpu = sel.cpu()', 'f_cpu = [f.cpu() for f in facs]'],
    'augmentation/affine_mix.py': [
        "dev = generator.device if generator is not None else torch.device('cpu')",
        'u = u.cpu().tolist()',
        "gdev = generator.device if generator is not None else torch.device('cpu')",
        "gdev = generator.device if generator is not None else torch.device('cpu')"],
    'augmentation/mix_masks/shuffled_depth.py': [
        "gdev = generator.device if generator is not None else torch.device('cpu')"],
}


def test_explicit_host_tensors_are_the_reviewed_ones():
    import re
    pattern = re.compile(r"device=['\"]cpu|device\(['\"]cpu|\.cpu\(\)|torch\.from_numpy")
    found = {}
    # The step code reviewed here (backbones come from MMSeg or are checked by their own tests).
    paths = [osp.join(PKG, 'models', 'data_preprocessor.py')]
    for sub in ('models/segmentors', 'models/decode_heads', 'models/necks', 'models/losses',
                'models/utils', 'augmentation', 'engine/hooks'):
        for dirpath, _, files in os.walk(osp.join(PKG, sub)):
            paths += [osp.join(dirpath, name) for name in sorted(files) if name.endswith('.py')]
    assert len(paths) > 20
    for path in paths:
        with open(path) as f:
            lines = [ln.strip() for ln in f if pattern.search(ln.split('#')[0])]
        if lines:
            found[osp.relpath(path, PKG)] = lines
    assert found == HOST_SIDE
