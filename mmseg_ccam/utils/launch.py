"""Start-up shared by ``tools/train.py`` and ``tools/test.py``: parse the launcher options,
read the config, check it, build the runner.

Key checking lives in :mod:`mmseg_ccam.utils.config_check`, CPU process groups in
:mod:`mmseg_ccam.utils.dist_cpu`; this module only strings them together. It is re-exported
from here for the callers that import the old names.
"""
import copy
import logging
import os
import os.path as osp
from argparse import ArgumentParser, Namespace
from typing import Any, Dict, List, Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.logging import print_log

from .config_check import (  # noqa: F401  (re-exported)
    ConfigKeyError,
    check_cfg_options,
    check_config_keys,
    check_config_values,
    explain_build_errors,
    explain_unexpected_argument,
    init_arg_names,
)
from .dist_cpu import init_cpu_distributed  # noqa: F401  (re-exported)

__all__ = ['build_runner', 'fit_schedule_to_max_iters', 'load_config', 'parse_launch_args']


def build_runner(cfg: Config, config_path: str = 'the config'):
    """``RUNNERS.build`` (config with ``runner_type``) or ``Runner.from_cfg``, with
    :func:`explain_build_errors`."""
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS
    with explain_build_errors(cfg, config_path):
        return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


def fit_schedule_to_max_iters(schedulers: Any, old_max_iters: int,
                              new_max_iters: int) -> Optional[List[dict]]:
    """Scale iteration-based ``begin`` / ``end`` of ``param_scheduler`` to a new run length.

    A run shortened with ``--cfg-options train_cfg.max_iters=N`` keeps the config's schedule,
    whose warm-up may end after ``N`` (MMEngine then fails with ``end should be larger than
    begin`` once a user also shortens the decay) and whose decay never completes. Every
    iteration ``v`` of ``begin`` / ``end`` / ``milestones`` maps to
    ``f(v) = min(N, max(1, round(v * N / old)))`` (``f(0) = 0``), the same map for all, so
    phases that met still meet; an ``end`` that would not exceed its ``begin`` becomes
    ``begin + 1``.

    Args:
        schedulers (dict | list[dict]): ``param_scheduler`` of the config.
        old_max_iters (int): ``train_cfg.max_iters`` of the config file.
        new_max_iters (int): The overriding value.

    Returns:
        list[dict] | None: The rescaled schedulers, or None if nothing is iteration-based.
    """
    if old_max_iters <= 0 or new_max_iters <= 0 or old_max_iters == new_max_iters:
        return None
    items = [schedulers] if isinstance(schedulers, dict) else list(schedulers or [])

    def f(v: int) -> int:
        return 0 if v <= 0 else min(new_max_iters, max(1, int(round(v * new_max_iters /
                                                                  old_max_iters))))

    scaled, changed = [], False
    for item in items:
        item = copy.deepcopy(item)
        if isinstance(item, dict) and not item.get('by_epoch', True):
            begin = f(item.get('begin', 0))
            if 'begin' in item:
                item['begin'], changed = begin, True
            if 'end' in item:
                item['end'], changed = max(begin + 1, f(item['end'])), True
            if 'milestones' in item:
                item['milestones'], changed = [f(m) for m in item['milestones']], True
        scaled.append(item)
    return scaled if changed else None


def _follow_max_iters(cfg: Config, options: Dict[str, Any], old_max_iters: Any) -> None:
    """Rescale ``param_scheduler`` when ``--cfg-options`` changed ``train_cfg.max_iters``
    (and not ``param_scheduler`` itself); log the new schedule."""
    if 'train_cfg.max_iters' not in options or any(
            str(k).startswith('param_scheduler') for k in options):
        return
    if not isinstance(old_max_iters, int) or 'param_scheduler' not in cfg:
        return
    new = cfg.train_cfg.get('max_iters')
    if not isinstance(new, int) or isinstance(new, bool) or new < 1:
        raise ValueError(f'train_cfg.max_iters={new!r} must be an int >= 1.')
    scaled = fit_schedule_to_max_iters(cfg.param_scheduler, old_max_iters, new)
    if scaled is None:
        return
    cfg.param_scheduler = scaled
    phases = ', '.join(f"{s.get('type')}[{s.get('begin', 0)}, {s.get('end', new)})"
                       for s in scaled if isinstance(s, dict))
    print_log(f'train_cfg.max_iters {old_max_iters} -> {new}: param_scheduler rescaled to '
              f'{phases}. Give param_scheduler in --cfg-options to set it yourself.',
              logger='current', level=logging.WARNING)


def load_config(args: Namespace) -> Config:
    """Read ``args.config``, merge ``--cfg-options`` and resolve ``work_dir`` and ``launcher``.

    ``work_dir`` priority follows MMSegmentation: CLI > config > ``work_dirs/<config name>``.
    Options that would add an unknown key or override a substituted variable raise
    :class:`ConfigKeyError` (:func:`check_cfg_options`); the merged config's hooks, evaluators,
    loops, data loaders and ``randomness`` are checked by :func:`check_config_keys`, values
    that fail later without naming their key by :func:`check_config_values`; a shorter
    ``train_cfg.max_iters`` rescales the schedule (:func:`fit_schedule_to_max_iters`).
    """
    if not osp.isfile(args.config):
        raise FileNotFoundError(
            f'Config file {args.config!r} does not exist. Configs live under configs/, '
            'e.g. configs/ccam/ccam_r18_synthcity.py.')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        check_cfg_options(cfg, args.cfg_options, args.config, amp=getattr(args, 'amp', False))
        old_max_iters = cfg.get('train_cfg', {}).get('max_iters')
        cfg.merge_from_dict(args.cfg_options)
        _follow_max_iters(cfg, args.cfg_options, old_max_iters)
    check_config_keys(cfg, args.config, amp=getattr(args, 'amp', False))
    check_config_values(cfg, args.config)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def parse_launch_args(parser: ArgumentParser, cfg_options_example: str,
                      argv: Optional[Sequence[str]] = None) -> Namespace:
    """Add MMSegmentation's ``--cfg-options`` / ``--launcher`` / ``--local_rank`` to
    ``parser`` (``tools/train.py``, ``tools/test.py``), parse ``argv`` and export
    ``LOCAL_RANK`` (``torch.distributed.launch`` passes ``--local-rank``; torchrun sets
    ``LOCAL_RANK`` itself, which is kept).

    Args:
        parser (ArgumentParser): The tool's parser with its own arguments.
        cfg_options_example (str): An override shown in the ``--cfg-options`` help.
        argv (Sequence[str], optional): Arguments; ``sys.argv[1:]`` if None.
    """
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help=f'override config entries, e.g. {cfg_options_example}')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args
