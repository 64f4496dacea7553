"""One benchmark run: every variant built and warmed up, then timed round-robin; the ratios and
the semi-supervised step.

Part of :mod:`mmseg_ccam.analysis.benchmark`."""
import argparse
import gc
import os
import os.path as osp
import time
from typing import Callable, Dict, Optional, Sequence

import torch

from ...utils.benchmarking import (
    machine_info,
    synchronizer,
    time_interleaved,
)
from .measure import DEFAULT_COUNTS, prepare_variant
from .semi import semi_breakdown
from .targets import compute_ratios
from .variants import (
    VARIANT_SUFFIXES,
    VARIANTS,
    is_mean_teacher,
    load_config,
    variant_model_cfg,
    variant_paths,
)

__all__ = [
    'FIELDS', 'run_benchmark'
]

FIELDS = ('params', 'flops', 'latency_ms', 'train_step_ms', 'peak_mem_mb', 'mem_kind')


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
