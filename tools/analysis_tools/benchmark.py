"""Cost of the joint CCAM model next to its ablations and single-task baselines, side by side.

For one config, four variants are built from the same backbone and head configs and measured in
one run, so that their ratios are not distorted by a machine whose load changes between runs:

- ``joint``: the model as configured (backbone -> CCAM neck -> segmentation + depth heads);
- ``no_attention``: the same with ``model.neck.attention=None`` (adapters kept, no exchange);
- ``seg_only`` / ``depth_only``: one head, no neck, derived the way
  ``configs/ccam/*_seg-only.py`` / ``*_depth-only.py`` are (``neck=None`` and the other head None).

Per variant: ``params`` (count), ``flops`` (MMEngine's :class:`~mmengine.analysis.FlopAnalyzer`
on the ``mode='tensor'`` forward at ``--shape``, batch 1; like fvcore it counts one multiply-add
as one flop), ``latency_ms`` (median of ``--repeat`` inference forwards ``model(x,
mode='tensor')``, eval mode, ``torch.no_grad``), ``train_step_ms`` (median of ``--train-repeat``
full
``model.train_step`` calls: forward with losses, backward and optimizer step through an
``OptimWrapper`` built from the config's ``optim_wrapper``, on a synthetic batch of ``--batch``
samples with ``gt_sem_seg`` and ``gt_depth_map``) and ``peak_mem_mb`` (CUDA:
``torch.cuda.max_memory_allocated``; CPU: peak resident set size sampled every 2 ms; both minus
what was allocated before the variant was built; the JSON says which in ``mem_kind``).
Pretrained weights are never loaded (``init_weights`` is not called) and SyncBN is converted to
BN (single process).

Order of work: each variant is built, its FLOPs counted, its ``--warmup`` forwards and
``max(--warmup, 1)`` train steps run while its peak memory is recorded; then all variants are
timed round-robin (one call of each per round; ``--repeat`` rounds of forwards, then
``--train-repeat`` rounds of train steps), so that a change of the machine's load hits all four
alike. CUDA is synchronised around every timed call.

Then the ratios of the issue's targets, each next to the ideal the measured FLOPs allow:

- speed-up of the joint model over running both single-task models,
  ``(t_seg + t_depth) / t_joint``, for latency and train step; target: within 5 % of the
  FLOP-ideal speed-up ``(F_seg + F_depth) / F_joint``;
- parameters ``P_joint / (P_seg + P_depth)``; target <= 0.72;
- CCAM overhead ``t_joint / t_no_attention - 1`` (latency); target <= 3 %.

For a ``MeanTeacherSegDepth`` config (or any config with ``--semi``) it also times one
semi-supervised step (``train_step`` + the ``MeanTeacherHook`` EMA update) and the time spent in
``affine_mix_batch``, ``color_aug_batch`` (wrapped where ``mean_teacher_seg_depth`` calls them)
and the EMA update; target: augmentations + EMA <= 5 % of the step.

Examples::

    python tools/analysis_tools/benchmark.py configs/ccam/ccam_r50_cityscapes.py \
        --device cpu --shape 256 512 --json b.json
    python tools/analysis_tools/benchmark.py configs/ccam/ccam_r50_cityscapes.py \
        --device cuda --shape 512 1024 --amp --channels-last --json b_cuda.json
    python tools/analysis_tools/benchmark.py configs/ccam/ccam_r18_synthcity_semi.py \
        --shape 128 256

``tools/analysis_tools/benchmark_table.py --benchmark b.json`` reads the JSON.
"""
import argparse
import contextlib
import copy
import ctypes
import datetime
import gc
import json
import logging
import os
import platform
import resource
import statistics
import sys
import threading
import time
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.logging import MessageHub, MMLogger
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

VARIANTS = ('joint', 'no_attention', 'seg_only', 'depth_only')
FIELDS = ('params', 'flops', 'latency_ms', 'train_step_ms', 'peak_mem_mb', 'mem_kind')
# The targets (issue 7).
SPEEDUP_TOLERANCE = 0.05  # joint speed-up within 5 % of its FLOP-ideal speed-up
PARAMS_RATIO_MAX = 0.72  # P_joint / (P_seg + P_depth)
CCAM_OVERHEAD_MAX = 0.03  # latency of joint over no_attention
SEMI_SHARE_MAX = 0.05  # (affine_mix + color_aug + EMA) / semi-supervised step
# Defaults per device: (warm-up, repeat, train-repeat). On 2 CPU cores one train step of the R50
# joint model at 256x512, batch 2, takes about 20 s (a forward about 2 s), so the CPU defaults
# keep the whole run of configs/ccam/ccam_r50_cityscapes.py near 3-4 minutes on an idle machine.
DEFAULT_COUNTS = {'cpu': (1, 5, 1), 'cuda': (10, 50, 20)}
IGNORE_INDEX = 255


# ------------------------------------------------------------------------------ configs
def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config, apply ``--cfg-options`` and register this package's components."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'benchmark: config {path!r} does not exist.')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    import mmseg_ccam  # noqa: F401  (registers the components; custom_imports does the same)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return cfg


def is_mean_teacher(cfg: Config) -> bool:
    return cfg.model.get('type') == 'MeanTeacherSegDepth'


def segmentor_cfg(cfg: Config) -> dict:
    """The joint segmentor's config: ``model``, or ``model.segmentor`` of a mean teacher (with
    the wrapper's ``data_preprocessor`` when the segmentor has none)."""
    model = copy.deepcopy(cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else cfg.model)
    if model.get('type') == 'MeanTeacherSegDepth':
        seg = dict(model['segmentor'])
        if seg.get('data_preprocessor') is None and model.get('data_preprocessor') is not None:
            seg['data_preprocessor'] = model['data_preprocessor']
        return seg
    return model


def _no_pretrained(model_cfg: dict) -> dict:
    """Never load weights: drop ``pretrained`` and ``init_cfg`` of the segmentor and backbone."""
    model_cfg = copy.deepcopy(model_cfg)
    model_cfg['pretrained'] = None
    model_cfg['init_cfg'] = None
    backbone = dict(model_cfg.get('backbone') or {})
    for key in ('pretrained', 'init_cfg'):
        if key in backbone:
            backbone[key] = None
    model_cfg['backbone'] = backbone
    return model_cfg


def _fixed_input_size(model_cfg: dict, shape: Sequence[int]) -> dict:
    """The data preprocessor pads to exactly ``shape`` (configs pad to their crop size)."""
    dp = model_cfg.get('data_preprocessor')
    if dp is not None:
        dp = dict(dp)
        dp['size'] = tuple(int(s) for s in shape)
        dp['size_divisor'] = None
        model_cfg['data_preprocessor'] = dp
    return model_cfg


def variant_cfgs(seg_cfg: dict, shape: Sequence[int]) -> Dict[str, dict]:
    """Model configs of the four variants, derived from the joint segmentor's config.

    Raises:
        ValueError: if the segmentor lacks a ``neck`` with an ``attention`` key, a
            ``decode_head`` or a ``depth_head`` (it is then not a joint CCAM model).
    """
    base = _fixed_input_size(_no_pretrained(seg_cfg), shape)
    for key in ('neck', 'decode_head', 'depth_head'):
        if base.get(key) is None:
            raise ValueError(f'benchmark: model.{key} is None in the config; the benchmark '
                             'compares a joint CCAM model (neck + decode_head + depth_head) '
                             'with its ablations: give the joint config, e.g. '
                             'configs/ccam/ccam_r50_cityscapes.py.')
    if 'attention' not in base['neck']:
        raise ValueError(f"benchmark: model.neck ({base['neck'].get('type')}) has no "
                         '`attention` key, so the no-attention variant cannot be derived; '
                         'use a CCAMNeck config.')
    out = dict(joint=copy.deepcopy(base))
    out['no_attention'] = copy.deepcopy(base)
    out['no_attention']['neck'] = dict(base['neck'], attention=None)
    # As configs/ccam/*_seg-only.py and *_depth-only.py: one head, no neck.
    out['seg_only'] = dict(copy.deepcopy(base), neck=None, depth_head=None)
    out['depth_only'] = dict(copy.deepcopy(base), neck=None, decode_head=None,
                             auxiliary_head=None)
    return out


def build_model(model_cfg: dict, device: str, channels_last: bool = False) -> nn.Module:
    """Build without ``init_weights`` (no pretrained loading), SyncBN -> BN, move to device."""
    from mmseg.registry import MODELS

    import mmseg_ccam  # noqa: F401  (registers SegDepthEncoderDecoder, CCAMNeck, ...)
    model = revert_sync_batchnorm(MODELS.build(copy.deepcopy(model_cfg)))
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


# ------------------------------------------------------------------------ measurements
def count_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def count_flops(model: nn.Module, shape: Sequence[int],
                device: str) -> Tuple[int, Dict[str, int]]:
    """FLOPs (multiply-adds, fvcore convention) of ``model(x, mode='tensor')`` for one
    ``1 x 3 x H x W`` input, and per top-level module (plus ``neck.attentions``)."""
    from mmengine.analysis import FlopAnalyzer
    was_training = model.training
    model.eval()
    x = torch.zeros(1, 3, *shape, device=device)
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, (x, ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        analyzer.tracer_warnings('none')
        total = int(analyzer.total())
        by_module = analyzer.by_module()
    model.train(was_training)
    parts = {k: int(by_module[k]) for k in ('backbone', 'neck', 'neck.attentions',
                                            'decode_head', 'depth_head') if k in by_module}
    return total, parts


def synchronizer(device: str) -> Callable[[], None]:
    if device.startswith('cuda'):
        return torch.cuda.synchronize
    return lambda: None


def time_calls(fn: Callable[[], object], warmup: int, repeat: int,
               sync: Callable[[], None]) -> List[float]:
    """Milliseconds of ``repeat`` calls of ``fn`` after ``warmup`` untimed ones (synchronised
    before and after each timed call)."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def autocast(device: str, amp: bool):
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type='cuda', dtype=torch.float16)


def latency_call(model: nn.Module, shape: Sequence[int], device: str, amp: bool = False,
                 channels_last: bool = False) -> Callable[[], object]:
    """One inference forward ``model(x, mode='tensor')`` (eval, no_grad, batch 1), as a
    callable for :func:`time_calls`."""
    x = torch.randn(1, 3, *shape, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def forward():
        model.eval()
        with torch.no_grad(), autocast(device, amp):
            return model(x, mode='tensor')

    return forward


def synthetic_batch(batch: int, shape: Sequence[int], num_classes: int, device: str,
                    seed: int = 0, labeled: Optional[Sequence[bool]] = None) -> dict:
    """A batch as a dataloader gives it: uint8 ``3 x H x W`` images and ``SegDataSample`` s with
    ``gt_sem_seg`` (5 % ignore; all ignore for samples with ``labeled[i]=False``) and
    ``gt_depth_map`` (1-80 m, 10 % invalid 0). Tensors are put on ``device`` already (as after
    a prefetching loader), so the timed step excludes the host-to-device copy."""
    from mmseg.structures import SegDataSample
    h, w = (int(s) for s in shape)
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for i in range(batch):
        inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g).to(device))
        is_labeled = True if labeled is None else bool(labeled[i])
        meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                    img_path=f'synthetic_{i}.png')
        if labeled is not None:
            meta['has_seg_label'] = is_labeled
        ds = SegDataSample(metainfo=meta)
        seg = torch.randint(0, num_classes, (1, h, w), generator=g)
        seg[torch.rand(1, h, w, generator=g) < 0.05] = IGNORE_INDEX
        if not is_labeled:
            seg.fill_(IGNORE_INDEX)
        depth = 1.0 + 79.0 * torch.rand(1, h, w, generator=g)
        depth[torch.rand(1, h, w, generator=g) < 0.1] = 0.0
        ds.gt_sem_seg = PixelData(data=seg.to(device))
        ds.gt_depth_map = PixelData(data=depth.to(device))
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


def make_optim_wrapper(model: nn.Module, cfg: Config, amp: bool = False):
    """``OptimWrapper`` (``AmpOptimWrapper`` with ``amp``) from the config's ``optim_wrapper``."""
    if 'optim_wrapper' not in cfg:
        raise KeyError('benchmark: the config has no `optim_wrapper`; the train-step timing '
                       'needs one (inherit a schedule from configs/_base_/schedules).')
    ow_cfg = copy.deepcopy(cfg.optim_wrapper)
    if amp:
        if ow_cfg.get('type', 'OptimWrapper') not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(f"benchmark --amp: optim_wrapper.type is {ow_cfg.get('type')!r}; "
                             'only OptimWrapper can be switched to AmpOptimWrapper.')
        ow_cfg['type'] = 'AmpOptimWrapper'
        ow_cfg.setdefault('loss_scale', 'dynamic')
    # The optimizer constructor logs one line per parameter and option at INFO.
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return build_optim_wrapper(model, ow_cfg)
    finally:
        logger.setLevel(level)


def train_step_call(model: nn.Module, optim_wrapper, data: dict) -> Callable[[], object]:
    """One ``model.train_step(data, optim_wrapper)`` (forward with losses, backward, optimizer
    step), as a callable for :func:`time_calls`."""

    def step():
        model.train()
        return model.train_step(data, optim_wrapper)

    return step


def _malloc_trim() -> None:
    """Give freed heap memory back to the OS so that the next RSS baseline is honest."""
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss_bytes() -> Optional[int]:
    try:
        with open('/proc/self/statm', encoding='ascii') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return None


class PeakMemory:
    """Peak memory of the code inside ``with``, in MB (``.peak_mb``, kind in ``.kind``).

    CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus what
    was allocated at entry (the other variants' models, kept for the interleaved timing).
    CPU: a thread samples the resident set size every ``interval`` s; the result is the peak
    minus the RSS at entry (after ``gc.collect`` and ``malloc_trim``). Without ``/proc`` it falls
    back to the change of ``ru_maxrss`` (0 when an earlier, larger peak hides it).
    """

    def __init__(self, device: str, interval: float = 0.002) -> None:
        self.device = device
        self.interval = interval
        self.peak_mb = 0.0
        self.kind = ''
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._peak = 0
        self._base = 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = _rss_bytes()
            if rss is not None and rss > self._peak:
                self._peak = rss
            self._stop.wait(self.interval)

    def __enter__(self) -> 'PeakMemory':
        gc.collect()
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
            self.kind = 'cuda_max_memory_allocated'
            return self
        _malloc_trim()
        rss = _rss_bytes()
        if rss is None:
            self.kind = 'cpu_ru_maxrss_growth'
            self._base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            return self
        self.kind = 'cpu_rss_peak_growth'
        self._base = self._peak = rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
            self.peak_mb = (torch.cuda.max_memory_allocated() - self._base) / 2**20
            return
        if self._thread is None:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        else:
            self._stop.set()
            self._thread.join()
            peak = max(self._peak, _rss_bytes() or 0)
        self.peak_mb = max(peak - self._base, 0) / 2**20


def prepare_variant(model_cfg: dict, cfg: Config, shape: Sequence[int], device: str,
                    warmup: int, batch: int, amp: bool = False, channels_last: bool = False,
                    seed: int = 0) -> Tuple[dict, dict]:
    """Build one variant, count its parameters and FLOPs, run its warm-up calls and measure its
    peak memory over all of that (the warm-up train steps - at least one - are the same
    computation as the timed ones, and the first one also allocates the optimizer state).

    Returns:
        tuple[dict, dict]: The metrics so far (``params``, ``flops``, ``flops_by_module``,
        ``peak_mem_mb``, ``mem_kind``) and the two timed callables (``latency``,
        ``train_step``), which keep the model alive.
    """
    with PeakMemory(device) as mem:
        torch.manual_seed(seed)
        model = build_model(model_cfg, device, channels_last)
        params = count_params(model)
        flops, flops_by_module = count_flops(model, shape, device)
        optim_wrapper = make_optim_wrapper(model, cfg, amp)
        num_classes = (model_cfg.get('decode_head') or {}).get('num_classes', 19)
        data = synthetic_batch(batch, shape, num_classes, device, seed)
        calls = dict(latency=latency_call(model, shape, device, amp, channels_last),
                     train_step=train_step_call(model, optim_wrapper, data))
        time_calls(calls['latency'], warmup, 0, synchronizer(device))
        time_calls(calls['train_step'], max(warmup, 1), 0, synchronizer(device))
    metrics = dict(params=params, flops=flops, peak_mem_mb=mem.peak_mb, mem_kind=mem.kind,
                   flops_by_module=flops_by_module)
    return metrics, calls


def time_interleaved(calls: Dict[str, Callable[[], object]], repeat: int,
                     sync: Callable[[], None]) -> Dict[str, float]:
    """Median ms per callable, timed round-robin (``repeat`` rounds, one call of each per
    round), so that a change of the machine's load affects all of them alike."""
    times: Dict[str, List[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, fn in calls.items():
            times[name] += time_calls(fn, 0, 1, sync)
    return {name: float(statistics.median(t)) for name, t in times.items()}


# ------------------------------------------------------------------------------ ratios
def compute_ratios(v: Dict[str, dict]) -> dict:
    """The issue's ratios from the four variants' metrics (see the module docstring).

    Returns a flat dict: ``flop_ideal_speedup`` = (F_seg + F_depth) / F_joint;
    ``latency_speedup`` / ``train_step_speedup`` = (t_seg + t_depth) / t_joint with their
    ``*_threshold`` (0.95 x FLOP-ideal) and ``*_met``; ``params_ratio`` and ``params_met``;
    ``ccam_latency_overhead`` (t_joint / t_no_attention - 1), ``ccam_flop_overhead`` and
    ``ccam_overhead_met``; ``ccam_train_step_overhead`` (information). When the joint entry has
    ``flops_by_module``: ``flop_ideal_speedup_without_neck`` = (2B + H_seg + H_depth) /
    (B + H_seg + H_depth), the issue's 2(B + H) / (B + 2H) with the measured backbone and head
    FLOPs, and ``latency_speedup_vs_no_neck_met``.
    """
    j, n, s, d = (v[k] for k in VARIANTS)
    ideal = (s['flops'] + d['flops']) / j['flops']
    keep = 1 - SPEEDUP_TOLERANCE
    out = dict(flop_ideal_speedup=ideal)
    for key, name in (('latency_ms', 'latency_speedup'), ('train_step_ms',
                                                          'train_step_speedup')):
        out[name] = (s[key] + d[key]) / j[key]
        out[f'{name}_threshold'] = keep * ideal
        out[f'{name}_met'] = bool(out[name] >= keep * ideal)
    out['params_ratio'] = j['params'] / (s['params'] + d['params'])
    out['params_met'] = bool(out['params_ratio'] <= PARAMS_RATIO_MAX)
    out['ccam_latency_overhead'] = j['latency_ms'] / n['latency_ms'] - 1
    out['ccam_flop_overhead'] = j['flops'] / n['flops'] - 1
    out['ccam_overhead_met'] = bool(out['ccam_latency_overhead'] <= CCAM_OVERHEAD_MAX)
    # Not a target of the issue; shown because the attention also costs in training.
    out['ccam_train_step_overhead'] = j['train_step_ms'] / n['train_step_ms'] - 1
    parts = j.get('flops_by_module') or {}
    if all(k in parts for k in ('backbone', 'decode_head', 'depth_head')):
        b, hs, hd = parts['backbone'], parts['decode_head'], parts['depth_head']
        no_neck = (2 * b + hs + hd) / (b + hs + hd)
        out['flop_ideal_speedup_without_neck'] = no_neck
        out['latency_speedup_vs_no_neck_met'] = bool(out['latency_speedup'] >= keep * no_neck)
    out['targets'] = dict(speedup_tolerance=SPEEDUP_TOLERANCE, params_ratio_max=PARAMS_RATIO_MAX,
                          ccam_overhead_max=CCAM_OVERHEAD_MAX)
    return out


# ------------------------------------------------------------------ semi-supervised step
def _mean_teacher_cfg(cfg: Config, shape: Sequence[int]) -> dict:
    """A ``MeanTeacherSegDepth`` config: the config's own, or one wrapped around its model with
    the default ``semi_train_cfg`` (for ``--semi`` on a supervised config)."""
    if is_mean_teacher(cfg):
        mt = copy.deepcopy(cfg.model.to_dict())
    else:
        mt = dict(type='MeanTeacherSegDepth', segmentor=segmentor_cfg(cfg),
                  semi_train_cfg=copy.deepcopy(cfg.get('semi_train_cfg', None)))
    mt['init_cfg'] = None
    mt['segmentor'] = _no_pretrained(mt['segmentor'])
    if mt.get('data_preprocessor') is None:
        mt['data_preprocessor'] = mt['segmentor'].pop('data_preprocessor', None)
    mt['data_preprocessor'] = _fixed_input_size(
        dict(data_preprocessor=mt['data_preprocessor']), shape)['data_preprocessor']
    mt['segmentor'].pop('data_preprocessor', None)
    return mt


def _mean_teacher_hook(cfg: Config):
    from mmseg.registry import HOOKS
    for hook in cfg.get('custom_hooks', None) or []:
        if hook.get('type') == 'MeanTeacherHook':
            return HOOKS.build(copy.deepcopy(dict(hook)))
    return HOOKS.build(dict(type='MeanTeacherHook', momentum=0.99, interval=1))


def _source_ratio(cfg: Config) -> Tuple[int, int]:
    sampler = (cfg.get('train_dataloader', None) or {}).get('sampler', None) or {}
    ratio = sampler.get('source_ratio', None)
    if ratio is not None and len(ratio) == 2:
        return int(ratio[0]), int(ratio[1])
    return 2, 2


class _CallTimer:
    """Wraps a callable; accumulates its synchronised wall time (ms) per step."""

    def __init__(self, fn: Callable, sync: Callable[[], None]) -> None:
        self.fn = fn
        self.sync = sync
        self.ms = 0.0
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.sync()
        t0 = time.perf_counter()
        out = self.fn(*args, **kwargs)
        self.sync()
        self.ms += (time.perf_counter() - t0) * 1e3
        self.calls += 1
        return out


def semi_breakdown(cfg: Config, args: argparse.Namespace) -> dict:
    """Time one mean-teacher step and its augmentation / EMA parts.

    Args:
        cfg (Config): A ``MeanTeacherSegDepth`` config, or a joint model's config (then wrapped
            with the default ``semi_train_cfg``).
        args (Namespace): ``shape``, ``device``, ``warmup``, ``repeat``, ``amp``,
            ``channels_last`` and optionally ``seed`` (as :func:`parse_args` gives them).

    Returns:
        dict: medians over the timed steps of ``step_ms`` (train_step + EMA),
        ``train_step_ms``, ``affine_mix_ms``, ``color_aug_ms``, ``augment_ms`` (their sum),
        ``ema_ms``, ``teacher_predict_ms``; ``share`` = (augment + EMA) / step, ``threshold``,
        ``met`` and the ``batch`` composition.

    The step is ``model.train_step`` (teacher forward, ``affine_mix_batch``, ``color_aug_batch``,
    student forwards, backward, optimizer step) followed by ``MeanTeacherHook.after_train_iter``
    (the EMA update), as the runner calls them, without data loading. ``affine_mix_batch`` and
    ``color_aug_batch`` are timed by replacing the names that
    ``mmseg_ccam.models.segmentors.mean_teacher_seg_depth`` calls with timing wrappers (restored
    afterwards); ``teacher_predict`` likewise, for information. Wrappers synchronise CUDA around
    each call, which the plain step does not, so on CUDA the parts are upper bounds.
    """
    import mmseg_ccam.models.segmentors.mean_teacher_seg_depth as mt_module
    shape = tuple(int(x) for x in args.shape)
    device, warmup, repeat = args.device, args.warmup, args.repeat
    seed = getattr(args, 'seed', 0)
    sync = synchronizer(device)
    torch.manual_seed(seed)
    model = build_model(_mean_teacher_cfg(cfg, shape), device, args.channels_last)
    optim_wrapper = make_optim_wrapper(model, cfg, args.amp)
    hook = _mean_teacher_hook(cfg)
    runner = SimpleNamespace(model=model, iter=0,
                             message_hub=MessageHub.get_current_instance())
    hook.before_train(runner)
    n_lab, n_unlab = _source_ratio(cfg)
    num_classes = model.student.decode_head.num_classes
    data = synthetic_batch(n_lab + n_unlab, shape, num_classes, device, seed,
                           labeled=[True] * n_lab + [False] * n_unlab)

    affine = _CallTimer(mt_module.affine_mix_batch, sync)
    color = _CallTimer(mt_module.color_aug_batch, sync)
    teacher = _CallTimer(model.teacher_predict, sync)
    rows = []
    saved = (mt_module.affine_mix_batch, mt_module.color_aug_batch)
    mt_module.affine_mix_batch, mt_module.color_aug_batch = affine, color
    model.teacher_predict = teacher
    try:
        model.train()
        for i in range(warmup + repeat):
            for timer in (affine, color, teacher):
                timer.ms, timer.calls = 0.0, 0
            sync()
            t0 = time.perf_counter()
            model.train_step(data, optim_wrapper)
            sync()
            t1 = time.perf_counter()
            hook.after_train_iter(runner, i)
            sync()
            t2 = time.perf_counter()
            runner.iter += 1
            if i >= warmup:
                rows.append(dict(step_ms=(t2 - t0) * 1e3, train_step_ms=(t1 - t0) * 1e3,
                                 ema_ms=(t2 - t1) * 1e3, affine_mix_ms=affine.ms,
                                 color_aug_ms=color.ms, teacher_predict_ms=teacher.ms))
    finally:
        mt_module.affine_mix_batch, mt_module.color_aug_batch = saved
        del model.teacher_predict
    if affine.calls == 0 and color.calls == 0:
        raise RuntimeError('benchmark --semi: neither affine_mix_batch nor color_aug_batch was '
                           'called by the mean-teacher step; check semi_train_cfg.affine_mix / '
                           'color_aug and that the batch holds unlabeled samples.')
    for r in rows:
        r['augment_ms'] = r['affine_mix_ms'] + r['color_aug_ms']
    out = {k: float(statistics.median(r[k] for r in rows)) for k in rows[0]}
    share = (out['augment_ms'] + out['ema_ms']) / out['step_ms']
    out.update(batch=dict(labeled=n_lab, unlabeled=n_unlab), share=share,
               threshold=SEMI_SHARE_MAX, met=bool(share <= SEMI_SHARE_MAX))
    return out


# ------------------------------------------------------------------------------ output
def machine_info(device: str) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    info = dict(cpu=cpu, cores=os.cpu_count(),
                cores_available=len(os.sched_getaffinity(0)) if hasattr(
                    os, 'sched_getaffinity') else os.cpu_count(),
                torch_threads=torch.get_num_threads(), torch=torch.__version__,
                python=platform.python_version(),
                date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'))
    try:
        import mmengine
        import mmseg
        info.update(mmengine=mmengine.__version__, mmseg=mmseg.__version__)
    except ImportError:
        pass
    if hasattr(os, 'getloadavg'):
        info['loadavg_start'] = [round(x, 2) for x in os.getloadavg()]
    if device.startswith('cuda'):
        info['gpu'] = torch.cuda.get_device_name(torch.device(device))
        info['cuda_version'] = torch.version.cuda
    return info


def format_variants(variants: Dict[str, dict]) -> str:
    lines = ['| variant | params M | GFLOPs | latency ms | train step ms | peak mem MB |',
             '| :--- | ---: | ---: | ---: | ---: | ---: |']
    for name, v in variants.items():
        lines.append(f"| {name} | {v['params'] / 1e6:.3f} | {v['flops'] / 1e9:.2f} "
                     f"| {v['latency_ms']:.1f} | {v['train_step_ms']:.1f} "
                     f"| {v['peak_mem_mb']:.0f} |")
    return '\n'.join(lines)


def _met(flag: Optional[bool]) -> str:
    return '-' if flag is None else ('met' if flag else 'NOT met')


def format_ratios(r: dict) -> str:
    """The ratio table: measured value, FLOP-ideal value, target, met / not met."""
    keep = 1 - SPEEDUP_TOLERANCE
    ideal = r['flop_ideal_speedup']
    rows = [
        ('speed-up (seg + depth) / joint, latency', f"{r['latency_speedup']:.3f}",
         f'{ideal:.3f}', f'>= {keep:.2f} x ideal = {keep * ideal:.3f}',
         _met(r['latency_speedup_met'])),
        ('speed-up (seg + depth) / joint, train step', f"{r['train_step_speedup']:.3f}",
         f'{ideal:.3f}', f'>= {keep:.2f} x ideal = {keep * ideal:.3f}',
         _met(r['train_step_speedup_met'])),
        ('params joint / (seg + depth)', f"{r['params_ratio']:.3f}", '-',
         f'<= {PARAMS_RATIO_MAX}', _met(r['params_met'])),
        ('CCAM overhead joint / no_attention - 1, latency',
         f"{r['ccam_latency_overhead']:+.1%}", f"{r['ccam_flop_overhead']:+.1%}",
         f'<= {CCAM_OVERHEAD_MAX:.0%}', _met(r['ccam_overhead_met'])),
        ('CCAM overhead joint / no_attention - 1, train step',
         f"{r['ccam_train_step_overhead']:+.1%}", f"{r['ccam_flop_overhead']:+.1%}",
         '(info)', '-'),
    ]
    if 'flop_ideal_speedup_without_neck' in r:
        no_neck = r['flop_ideal_speedup_without_neck']
        rows.append(('latency speed-up vs no-neck ideal 2(B+H)/(B+2H)',
                     f"{r['latency_speedup']:.3f}", f'{no_neck:.3f}',
                     f'>= {keep:.2f} x {no_neck:.3f} = {keep * no_neck:.3f} (info)',
                     _met(r['latency_speedup_vs_no_neck_met'])))
    lines = ['| ratio | measured | FLOP-ideal | target | met |',
             '| :--- | ---: | ---: | :--- | :--- |']
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    return '\n'.join(lines)


def format_flops_breakdown(variants: Dict[str, dict]) -> str:
    parts = (variants.get('joint') or {}).get('flops_by_module') or {}
    if not parts:
        return ''
    items = ', '.join(f'{k} {v / 1e9:.2f}' for k, v in parts.items())
    return f'joint GFLOPs by module: {items}'


def format_semi(semi: dict) -> str:
    lines = [f"semi-supervised step, batch {semi['batch']['labeled']} labeled + "
             f"{semi['batch']['unlabeled']} unlabeled (medians):",
             '| semi-supervised step part | ms | share of step |', '| :--- | ---: | ---: |']
    step = semi['step_ms']
    for key, label in (('step_ms', 'whole step (train_step + EMA update)'),
                       ('teacher_predict_ms', 'teacher_predict (info)'),
                       ('affine_mix_ms', 'affine_mix_batch'), ('color_aug_ms', 'color_aug_batch'),
                       ('ema_ms', 'MeanTeacherHook EMA update')):
        lines.append(f'| {label} | {semi[key]:.1f} | {semi[key] / step:.1%} |')
    parts = semi['augment_ms'] + semi['ema_ms']
    lines.append(f'| affine_mix + color_aug + EMA | {parts:.1f} | {semi["share"]:.1%} |')
    lines.append(f"target: augmentations + EMA <= {semi['threshold']:.0%} of a semi-supervised "
                 f"step: {semi['share']:.1%} -> {_met(semi['met'])}")
    return '\n'.join(lines)


# -------------------------------------------------------------------------------- main
def run_benchmark(config: str, device: str = 'cpu', shape: Sequence[int] = (256, 512),
                  warmup: Optional[int] = None, repeat: Optional[int] = None, batch: int = 2,
                  amp: bool = False, channels_last: bool = False, semi: Optional[bool] = None,
                  cfg_options: Optional[dict] = None, seed: int = 0,
                  variants: Sequence[str] = VARIANTS, threads: Optional[int] = None,
                  train_repeat: Optional[int] = None,
                  log: Callable[[str], None] = print) -> dict:
    """Measure the variants (and the semi-supervised step); return the JSON-ready result.

    Args:
        config (str): Config path (a joint CCAM model, or a MeanTeacherSegDepth around one).
        device (str): 'cpu' or 'cuda' (or 'cuda:N').
        shape (Sequence[int]): Input ``(H, W)``.
        warmup, repeat (int | None): Untimed calls per measurement / timed forwards (and
            semi-supervised steps); None: the device's defaults (:data:`DEFAULT_COUNTS`).
        batch (int): Samples per train step (>= 2: BN of the ASPP image pool needs it).
        amp (bool): float16 autocast and ``AmpOptimWrapper`` (CUDA only).
        channels_last (bool): Model and inputs in channels-last memory format.
        semi (bool | None): Time the mean-teacher step; None: when the config is one.
        cfg_options (dict | None): Overrides merged into the config.
        seed (int): Seed of the weights and of the synthetic batch.
        variants (Sequence[str]): Subset of :data:`VARIANTS` (ratios need all four).
        train_repeat (int | None): Timed train steps per variant; None: the device's
            default.
        threads (int | None): ``torch.set_num_threads`` (None: torch's default). One thread
            is much faster for tiny models on a CPU shared with other jobs.
    """
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise RuntimeError('benchmark: --device cuda but torch.cuda.is_available() is False.')
    if amp and not device.startswith('cuda'):
        raise ValueError('benchmark: --amp needs --device cuda (AmpOptimWrapper and float16 '
                         'autocast are CUDA features here).')
    if batch < 2:
        raise ValueError('benchmark: --batch must be >= 2 (the BN after the ASPP image pooling '
                         'cannot train on a single 1x1 sample).')
    if len(shape) != 2 or min(shape) < 32:
        raise ValueError(f'benchmark: --shape must be H W, each >= 32, got {tuple(shape)}.')
    dev_kind = 'cuda' if device.startswith('cuda') else 'cpu'
    warmup = DEFAULT_COUNTS[dev_kind][0] if warmup is None else warmup
    repeat = DEFAULT_COUNTS[dev_kind][1] if repeat is None else repeat
    train_repeat = DEFAULT_COUNTS[dev_kind][2] if train_repeat is None else train_repeat
    if repeat < 1 or train_repeat < 1 or warmup < 0:
        raise ValueError('benchmark: --repeat and --train-repeat must be >= 1, --warmup >= 0.')
    if threads is not None:
        torch.set_num_threads(int(threads))
    if dev_kind == 'cuda':
        torch.backends.cudnn.benchmark = True  # fixed input shape
    cfg = load_config(config, cfg_options)
    semi = is_mean_teacher(cfg) if semi is None else semi
    shape = tuple(int(s) for s in shape)
    machine = machine_info(device)
    cfgs = variant_cfgs(segmentor_cfg(cfg), shape)
    result = dict(config=config, device=device, shape=list(shape), batch=batch, warmup=warmup,
                  repeat=repeat, train_repeat=train_repeat, amp=amp, channels_last=channels_last,
                  flops_unit='multiply-add (MMEngine FlopAnalyzer / fvcore convention)',
                  machine=machine, variants=dict())
    t0 = time.perf_counter()
    calls = dict()
    for name in variants:
        t1 = time.perf_counter()
        result['variants'][name], calls[name] = prepare_variant(
            cfgs[name], cfg, shape, device, warmup, batch, amp, channels_last, seed)
        log(f'[benchmark] {name}: built, FLOPs counted, warmed up '
            f'({time.perf_counter() - t1:.1f} s)')
    sync = synchronizer(device)
    for key in ('latency', 'train_step') if calls else ():
        t1 = time.perf_counter()
        rounds = repeat if key == 'latency' else train_repeat
        medians = time_interleaved({n: c[key] for n, c in calls.items()}, rounds, sync)
        for name, ms in medians.items():
            result['variants'][name][f'{key}_ms'] = ms
        log(f'[benchmark] {key}: {rounds} interleaved round(s) ({time.perf_counter() - t1:.1f} s)')
    del calls
    gc.collect()
    if set(VARIANTS) <= set(result['variants']):
        result['ratios'] = compute_ratios(result['variants'])
    if semi:
        log('[benchmark] semi-supervised step ...')
        result['semi'] = semi_breakdown(
            cfg, argparse.Namespace(shape=shape, device=device, warmup=warmup, repeat=repeat,
                                    amp=amp, channels_last=channels_last, seed=seed))
    if hasattr(os, 'getloadavg'):
        machine['loadavg_end'] = [round(x, 2) for x in os.getloadavg()]
    result['wall_s'] = time.perf_counter() - t0
    return result


def report(result: dict) -> str:
    """The printed tables of a result."""
    m = result['machine']
    head = (f"config {result['config']} | device {result['device']} | shape "
            f"{result['shape'][0]}x{result['shape'][1]} | train batch {result['batch']} | "
            f"warm-up {result['warmup']}, repeat {result['repeat']}, train repeat "
            f"{result['train_repeat']} | amp {result['amp']} | "
            f"channels_last {result['channels_last']}\n"
            f"machine: {m.get('gpu', m['cpu'])}, {m['cores_available']} cores, "
            f"{m['torch_threads']} torch threads, torch {m['torch']}, {m['date']}, "
            f"load average {m.get('loadavg_start')} -> {m.get('loadavg_end')}")
    parts = [head]
    if result['variants']:
        parts += ['', format_variants(result['variants'])]
    breakdown = format_flops_breakdown(result['variants'])
    if breakdown:
        parts += ['', breakdown]
    if 'ratios' in result:
        parts += ['', format_ratios(result['ratios'])]
    if 'semi' in result:
        parts += ['', format_semi(result['semi'])]
    kinds = sorted({v['mem_kind'] for v in result['variants'].values()})
    parts += ['', f"mem_kind: {', '.join(kinds) or '-'}; wall time {result['wall_s']:.0f} s"]
    return '\n'.join(parts)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Params, FLOPs, latency, train step and memory of the joint CCAM model, '
        'its no-attention ablation and the single-task baselines, with the issue-7 ratios.')
    parser.add_argument('config', help='config of the joint model (or of a mean teacher)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda' (default: cpu)")
    parser.add_argument('--shape', type=int, nargs=2, default=[256, 512], metavar=('H', 'W'),
                        help='input size (default: 256 512)')
    parser.add_argument('--json', metavar='OUT', help='write the results as JSON here')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed calls before each measurement (default: cpu 1, cuda 10)')
    parser.add_argument('--repeat', type=int, default=None,
                        help='timed forwards per variant (and semi-supervised steps), median '
                        'reported (default: cpu 5, cuda 50)')
    parser.add_argument('--train-repeat', type=int, default=None,
                        help='timed train steps per variant, median reported '
                        '(default: cpu 1, cuda 20)')
    parser.add_argument('--batch', type=int, default=2, help='samples per train step')
    parser.add_argument('--amp', action='store_true',
                        help='float16 autocast + AmpOptimWrapper (CUDA)')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels-last memory format for the model and inputs')
    semi = parser.add_mutually_exclusive_group()
    semi.add_argument('--semi', dest='semi', action='store_true', default=None,
                      help='time the mean-teacher step (default: for MeanTeacherSegDepth '
                      'configs)')
    semi.add_argument('--no-semi', dest='semi', action='store_false')
    parser.add_argument('--variants', nargs='*', choices=VARIANTS, default=list(VARIANTS),
                        help='variants to measure (default: all four, needed for the ratios; '
                        'none with --semi: only the semi-supervised step)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch\'s choice)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    result = run_benchmark(args.config, args.device, args.shape, args.warmup, args.repeat,
                           args.batch, args.amp, args.channels_last, args.semi,
                           args.cfg_options, args.seed, threads=args.threads,
                           train_repeat=args.train_repeat, variants=args.variants,
                           log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(report(result))
    if args.json:
        out_dir = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(out_dir, exist_ok=True)
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
        print(f'wrote {args.json}')
    return result


if __name__ == '__main__':
    main()
