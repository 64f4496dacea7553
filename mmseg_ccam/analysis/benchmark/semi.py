"""The semi-supervised step, profiled part by part from the ``record_function`` ranges the
model and ``MeanTeacherHook`` mark.

Part of :mod:`mmseg_ccam.analysis.benchmark`."""
import argparse
import copy
import statistics
from types import SimpleNamespace
from typing import Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub

from ...utils.benchmarking import (
    profile_ranges,
    synchronizer,
    time_calls,
)
from .measure import make_optim_wrapper, synthetic_batch
from .targets import SEMI_SHARE_MAX
from .variants import (
    build_model,
    fixed_input_size,
    is_mean_teacher,
    segmentor_cfg,
    without_pretrained,
)

__all__ = [
    'AUGMENT_RANGES', 'EMA_RANGE', 'semi_breakdown'
]

# record_function ranges of the semi-supervised step (mean_teacher_seg_depth, MeanTeacherHook).
AUGMENT_RANGES = ('ccam:affine_mix', 'ccam:strong_aug', 'ccam:color_aug')
EMA_RANGE = 'ccam:ema'


def _mean_teacher_cfg(cfg: Config, shape: Sequence[int]) -> dict:
    """A ``MeanTeacherSegDepth`` config: the config's own, or one wrapped around its model with
    the default ``semi_train_cfg`` (for ``--semi`` on a supervised config)."""
    if is_mean_teacher(cfg):
        mt = copy.deepcopy(cfg.model.to_dict())
    else:
        mt = dict(type='MeanTeacherSegDepth', segmentor=segmentor_cfg(cfg),
                  semi_train_cfg=copy.deepcopy(cfg.get('semi_train_cfg', None)))
    mt['init_cfg'] = None
    mt['segmentor'] = without_pretrained(mt['segmentor'])
    if mt.get('data_preprocessor') is None:
        mt['data_preprocessor'] = mt['segmentor'].pop('data_preprocessor', None)
    mt['data_preprocessor'] = fixed_input_size(
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
