"""Measurements of one variant: parameters, FLOPs, peak memory and the timed callables
(inference forward, train step on a synthetic batch).

Part of :mod:`mmseg_ccam.analysis.benchmark`."""
import contextlib
import copy
import logging
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.structures import PixelData

from ...utils.benchmarking import (
    PeakMemory,
    synchronizer,
    time_calls,
)
from .variants import build_model

__all__ = [
    'DEFAULT_COUNTS', 'IGNORE_INDEX', 'autocast', 'count_flops', 'count_params', 'latency_call',
    'make_optim_wrapper', 'prepare_variant', 'synthetic_batch', 'train_step_call'
]

# Defaults per device: (warm-up, repeat, train-repeat). On 2 CPU cores one train step of the R50
# joint model at 256x512, batch 2, takes about 20 s (a forward about 2 s), so the CPU defaults
# keep the whole run of configs/ccam/ccam_r50_cityscapes.py near 3-4 minutes on an idle machine.
DEFAULT_COUNTS = {'cpu': (1, 5, 1), 'cuda': (10, 50, 20)}
IGNORE_INDEX = 255


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
