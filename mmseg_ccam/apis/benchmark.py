"""Cost of the joint CCAM model next to its ablations and single-task baselines, side by side.

The variants are config files, measured in one run so that their ratios are not distorted by a
machine whose load changes between runs:

- ``joint``: ``CONFIG`` (backbone -> CCAM neck -> segmentation + depth heads);
- ``no_attention``: ``--no-attention`` (default: ``<CONFIG stem>_no-ccam.py`` next to it, e.g.
  ``configs/ccam/ccam_r50_cityscapes_no-ccam.py``: adapters kept, no exchange);
- ``seg_only`` / ``depth_only``: ``--seg-only`` / ``--depth-only`` (default
  ``<stem>_seg-only.py`` / ``<stem>_depth-only.py``: one head, no neck).

Each variant file is checked to be what its name says (e.g. ``seg_only`` has a ``decode_head``
and no ``depth_head``). For a ``MeanTeacherSegDepth`` config the ``joint`` variant is its student
(``model.segmentor``); variants without a config file are left out (the ratios need all four).

Per variant: ``params`` (count), ``flops`` (MMEngine's :class:`~mmengine.analysis.FlopAnalyzer`
on the ``mode='tensor'`` forward at ``--shape``, batch 1; like fvcore it counts one multiply-add
as one flop), ``latency_ms`` (median of ``--repeat`` inference forwards ``model(x,
mode='tensor')``, eval mode, ``torch.no_grad``), ``train_step_ms`` (median of ``--train-repeat``
full ``model.train_step`` calls: forward with losses, backward and optimizer step through an
``OptimWrapper`` built from the variant's ``optim_wrapper``, on a synthetic batch of ``--batch``
samples with ``gt_sem_seg`` and ``gt_depth_map``) and ``peak_mem_mb``
(:class:`mmseg_ccam.utils.benchmarking.PeakMemory`; the JSON says which kind in ``mem_kind``).
Pretrained weights are never loaded (``init_weights`` is not called) and SyncBN is converted to
BN (single process).

Order of work: each variant is built, its FLOPs counted, its ``--warmup`` forwards and
``max(--warmup, 1)`` train steps run while its peak memory is recorded; then all variants are
timed round-robin (one call of each per round; ``--repeat`` rounds of forwards, then
``--train-repeat`` rounds of train steps), so that a change of the machine's load hits all four
alike. CUDA is synchronised around every timed call.

Then the cost targets of the joint design (``docs/benchmarks.md``), each next to the ideal the
measured FLOPs allow:

- speed-up of the joint model over running both single-task models,
  ``(t_seg + t_depth) / t_joint``, for latency and train step; target: within 5 % of the
  FLOP-ideal speed-up ``(F_seg + F_depth) / F_joint``;
- parameters ``P_joint / (P_seg + P_depth)``; target <= 0.72;
- CCAM overhead ``t_joint / t_no_attention - 1`` (latency); target <= 3 %.

For a ``MeanTeacherSegDepth`` config (or any config with ``--semi``) it also profiles
semi-supervised steps (``train_step`` + the ``MeanTeacherHook`` EMA update) and reads the time
of each part from the ``torch.profiler.record_function`` ranges the model and hook mark
(``ccam:teacher``, ``ccam:affine_mix``, ``ccam:strong_aug``, ``ccam:color_aug``,
``ccam:student``, ``ccam:ema``);
target: augmentations + EMA <= 5 % of the step.

The command line is ``tools/analysis_tools/benchmark.py`` (see ``docs/benchmarks.md``);
:func:`run_benchmark` returns what it writes as JSON and :func:`report` what it prints.
"""
import argparse
import contextlib
import copy
import gc
import logging
import os
import os.path as osp
import statistics
import time
from types import SimpleNamespace
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from ..utils.benchmarking import (
    PeakMemory,
    machine_info,
    profile_ranges,
    synchronizer,
    time_calls,
    time_interleaved,
)

VARIANTS = ('joint', 'no_attention', 'seg_only', 'depth_only')
FIELDS = ('params', 'flops', 'latency_ms', 'train_step_ms', 'peak_mem_mb', 'mem_kind')
# Cost targets of the joint design (docs/benchmarks.md, "Targets").
SPEEDUP_TOLERANCE = 0.05  # joint speed-up within 5 % of its FLOP-ideal speed-up
PARAMS_RATIO_MAX = 0.72  # P_joint / (P_seg + P_depth)
CCAM_OVERHEAD_MAX = 0.03  # latency of joint over no_attention
SEMI_SHARE_MAX = 0.05  # (affine_mix + color_aug + EMA) / semi-supervised step
# Defaults per device: (warm-up, repeat, train-repeat). On 2 CPU cores one train step of the R50
# joint model at 256x512, batch 2, takes about 20 s (a forward about 2 s), so the CPU defaults
# keep the whole run of configs/ccam/ccam_r50_cityscapes.py near 3-4 minutes on an idle machine.
DEFAULT_COUNTS = {'cpu': (1, 5, 1), 'cuda': (10, 50, 20)}
IGNORE_INDEX = 255
# Variant -> suffix of its config file next to the joint one (configs/ccam/*_no-ccam.py, ...).
VARIANT_SUFFIXES = {'no_attention': '_no-ccam', 'seg_only': '_seg-only',
                    'depth_only': '_depth-only'}
# record_function ranges of the semi-supervised step (mean_teacher_seg_depth, MeanTeacherHook).
AUGMENT_RANGES = ('ccam:affine_mix', 'ccam:strong_aug', 'ccam:color_aug')
EMA_RANGE = 'ccam:ema'


# ------------------------------------------------------------------------------ configs
def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config, apply ``--cfg-options`` and set the default registry scope (this
    package's components are registered: this module is part of it)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'benchmark: config {path!r} does not exist.')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
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


def variant_paths(config: str, given: Optional[Dict[str, Optional[str]]] = None
                  ) -> Dict[str, str]:
    """Config file of each variant: ``joint`` is ``config``; the others are ``given[name]`` or,
    by default, ``<config stem><suffix>.py`` next to it (:data:`VARIANT_SUFFIXES`) where that
    file exists.

    Raises:
        FileNotFoundError: a config given explicitly does not exist.
    """
    given = given or {}
    stem = osp.splitext(config)[0]
    out = dict(joint=config)
    for name, suffix in VARIANT_SUFFIXES.items():
        path = given.get(name)
        if path is not None:
            if not osp.isfile(path):
                raise FileNotFoundError(f'benchmark: --{name.replace("_", "-")} config {path!r} '
                                        'does not exist.')
            out[name] = path
        elif osp.isfile(stem + suffix + '.py'):
            out[name] = stem + suffix + '.py'
    return out


# Which parts each variant must have (True) or lack (False), as its name says.
_VARIANT_PARTS = {
    'joint': dict(neck=True, attention=True, decode_head=True, depth_head=True),
    'no_attention': dict(neck=True, attention=False, decode_head=True, depth_head=True),
    'seg_only': dict(decode_head=True, depth_head=False),
    'depth_only': dict(decode_head=False, depth_head=True),
}


def check_variant(name: str, model_cfg: dict, path: str) -> None:
    """Raise ValueError when the segmentor config of ``path`` is not what variant ``name``
    measures (e.g. a seg-only config given as the joint model)."""
    neck = model_cfg.get('neck')
    has = dict(neck=neck is not None, decode_head=model_cfg.get('decode_head') is not None,
               depth_head=model_cfg.get('depth_head') is not None,
               attention=neck is not None and neck.get('attention') is not None)
    for part, wanted in _VARIANT_PARTS[name].items():
        if has[part] != wanted:
            key = 'model.neck.attention' if part == 'attention' else f'model.{part}'
            state = 'is None' if wanted else 'is set'
            raise ValueError(
                f'benchmark: {key} {state} in {path}, so it is not the {name!r} variant '
                f'({", ".join(f"{p}={w}" for p, w in _VARIANT_PARTS[name].items())}); give the '
                f'joint config (e.g. configs/ccam/ccam_r50_cityscapes.py) and the variants\' '
                f'own files (*_no-ccam.py, *_seg-only.py, *_depth-only.py).')


def variant_model_cfg(name: str, cfg: Config, path: str, shape: Sequence[int]) -> dict:
    """The segmentor config of one variant's config, checked, without pretrained weights and
    padded to exactly ``shape``."""
    model_cfg = _fixed_input_size(_no_pretrained(segmentor_cfg(cfg)), shape)
    check_variant(name, model_cfg, path)
    return model_cfg


def build_model(model_cfg: dict, device: str, channels_last: bool = False) -> nn.Module:
    """Build without ``init_weights`` (no pretrained loading), SyncBN -> BN, move to device."""
    from mmseg.registry import MODELS

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
    # The optimizer constructor logs one line per parameter and option at INFO, and a WARNING
    # per frozen parameter (a mean teacher's whole teacher, frozen by design).
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
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


# ------------------------------------------------------------------------------ ratios
def compute_ratios(v: Dict[str, dict]) -> dict:
    """The ratios of the cost targets from the four variants' metrics (see the module docstring).

    Returns a flat dict: ``flop_ideal_speedup`` = (F_seg + F_depth) / F_joint;
    ``latency_speedup`` / ``train_step_speedup`` = (t_seg + t_depth) / t_joint with their
    ``*_threshold`` (0.95 x FLOP-ideal) and ``*_met``; ``params_ratio`` and ``params_met``;
    ``ccam_latency_overhead`` (t_joint / t_no_attention - 1), ``ccam_flop_overhead`` and
    ``ccam_overhead_met``; ``ccam_train_step_overhead`` (information). When the joint entry has
    ``flops_by_module``: ``flop_ideal_speedup_without_neck`` = (2B + H_seg + H_depth) /
    (B + H_seg + H_depth), the no-neck ideal 2(B + H) / (B + 2H) with the measured backbone and head
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
    # Not a target; shown because the attention also costs in training.
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
    return HOOKS.build(dict(type='MeanTeacherHook'))


def _source_ratio(cfg: Config) -> Tuple[int, int]:
    sampler = (cfg.get('train_dataloader', None) or {}).get('sampler', None) or {}
    ratio = sampler.get('source_ratio', None)
    if ratio is not None and len(ratio) == 2:
        return int(ratio[0]), int(ratio[1])
    return 2, 2


def semi_breakdown(cfg: Config, args: argparse.Namespace) -> dict:
    """Profile mean-teacher steps and read their parts from the model's ranges.

    Args:
        cfg (Config): A ``MeanTeacherSegDepth`` config, or a joint model's config (then wrapped
            with the default ``semi_train_cfg``).
        args (Namespace): ``shape``, ``device``, ``warmup``, ``repeat``, ``amp``,
            ``channels_last`` and optionally ``seed`` (as :func:`parse_args` gives them).

    Returns:
        dict: medians over the timed steps of ``step_ms`` (train_step + EMA update, profiler
        overhead included), one ``<part>_ms`` per ``ccam:<part>`` range (``teacher_ms``,
        ``affine_mix_ms``, ``strong_aug_ms``, ``color_aug_ms``, ``student_ms``, ``ema_ms``),
        ``augment_ms`` (the sum of the :data:`AUGMENT_RANGES`); ``share`` = (augment + EMA) /
        step, ``threshold``, ``met``, the ``batch`` composition and the ``ranges`` found.

    The step is ``model.train_step`` (teacher forward, AffineMix, strong augmentation, ColorAug,
    student forwards, backward, optimizer step) followed by
    ``MeanTeacherHook.after_train_iter`` (the EMA update), as the runner calls them, without
    data loading; each timed step runs once under
    :func:`mmseg_ccam.utils.benchmarking.profile_ranges`.
    """
    shape = tuple(int(x) for x in args.shape)
    device, warmup, repeat = args.device, args.warmup, args.repeat
    seed = getattr(args, 'seed', 0)
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

    def step():
        model.train_step(data, optim_wrapper)
        hook.after_train_iter(runner, runner.iter)
        runner.iter += 1

    model.train()
    time_calls(step, warmup, 0, synchronizer(device))
    rows = []
    for _ in range(repeat):
        wall_ms, parts = profile_ranges(step, device)
        rows.append(dict(parts, step_ms=wall_ms))
    ranges = sorted({k for r in rows for k in r if k != 'step_ms'})
    if not any(name in ranges for name in AUGMENT_RANGES):
        raise RuntimeError(f'benchmark --semi: no {" / ".join(AUGMENT_RANGES)} range was recorded '
                           f'in the mean-teacher step (found: {ranges or "none"}); check '
                           'semi_train_cfg.mix / color_aug and that the batch holds '
                           'unlabeled samples.')
    out = dict(step_ms=float(statistics.median(r['step_ms'] for r in rows)))
    for name in ranges + list(AUGMENT_RANGES) + [EMA_RANGE]:
        key = name.split(':', 1)[1] + '_ms'
        out[key] = float(statistics.median(r.get(name, 0.0) for r in rows))
    out['augment_ms'] = float(statistics.median(
        sum(r.get(name, 0.0) for name in AUGMENT_RANGES) for r in rows))
    share = (out['augment_ms'] + out['ema_ms']) / out['step_ms']
    out.update(batch=dict(labeled=n_lab, unlabeled=n_unlab), share=share, ranges=ranges,
               threshold=SEMI_SHARE_MAX, met=bool(share <= SEMI_SHARE_MAX))
    return out


# ------------------------------------------------------------------------------ output
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
             f"{semi['batch']['unlabeled']} unlabeled (medians; parts from the record_function "
             f"ranges):",
             '| semi-supervised step part | ms | share of step |', '| :--- | ---: | ---: |']
    step = semi['step_ms']
    rows = [('step_ms', 'whole step (train_step + EMA update)')]
    for name in semi.get('ranges', []):
        part = name.split(':', 1)[1]
        info = '' if name in AUGMENT_RANGES or name == EMA_RANGE else ' (info)'
        rows.append((f'{part}_ms', f'{name}{info}'))
    for key, label in rows:
        lines.append(f'| {label} | {semi[key]:.1f} | {semi[key] / step:.1%} |')
    parts = semi['augment_ms'] + semi['ema_ms']
    lines.append(f'| augmentations + EMA | {parts:.1f} | {semi["share"]:.1%} |')
    lines.append(f"target: augmentations + EMA <= {semi['threshold']:.0%} of a semi-supervised "
                 f"step: {semi['share']:.1%} -> {_met(semi['met'])}")
    return '\n'.join(lines)


# -------------------------------------------------------------------------------- main
def run_benchmark(config: str, device: str = 'cpu', shape: Sequence[int] = (256, 512),
                  warmup: Optional[int] = None, repeat: Optional[int] = None, batch: int = 2,
                  amp: bool = False, channels_last: bool = False, semi: Optional[bool] = None,
                  cfg_options: Optional[dict] = None, seed: int = 0,
                  variants: Optional[Sequence[str]] = None, threads: Optional[int] = None,
                  train_repeat: Optional[int] = None,
                  variant_configs: Optional[Dict[str, Optional[str]]] = None,
                  log: Callable[[str], None] = print) -> dict:
    """Measure the variants (and the semi-supervised step); return the JSON-ready result.

    Args:
        config (str): Config path (a joint CCAM model, or a MeanTeacherSegDepth around one).
        variant_configs (dict | None): ``{variant: config path}`` of the other variants; a
            variant absent or None takes the default file of :func:`variant_paths`.
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
        variants (Sequence[str] | None): Subset of :data:`VARIANTS` (ratios need all four);
            None: every variant that has a config file.
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
    paths = variant_paths(config, variant_configs)
    if variants is None:
        variants = [name for name in VARIANTS if name in paths]
    missing = [name for name in variants if name not in paths]
    if missing:
        name = missing[0]
        raise FileNotFoundError(
            f'benchmark: no config for the {name!r} variant: pass --{name.replace("_", "-")} '
            f'CONFIG or add {osp.splitext(config)[0]}{VARIANT_SUFFIXES[name]}.py.')
    cfgs = {name: load_config(paths[name], cfg_options) if name != 'joint' else cfg
            for name in variants}
    model_cfgs = {name: variant_model_cfg(name, c, paths[name], shape) for name, c in cfgs.items()}
    machine = machine_info(device)
    result = dict(config=config, variant_configs={n: paths[n] for n in variants},
                  device=device, shape=list(shape), batch=batch, warmup=warmup,
                  repeat=repeat, train_repeat=train_repeat, amp=amp, channels_last=channels_last,
                  flops_unit='multiply-add (MMEngine FlopAnalyzer / fvcore convention)',
                  machine=machine, variants=dict())
    t0 = time.perf_counter()
    calls = dict()
    for name in variants:
        t1 = time.perf_counter()
        result['variants'][name], calls[name] = prepare_variant(
            model_cfgs[name], cfgs[name], shape, device, warmup, batch, amp, channels_last, seed)
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
