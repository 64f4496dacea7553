"""Start-up shared by ``tools/train.py`` and ``tools/test.py``: parse the launcher options,
read the config, check it, build the runner.

Key checking lives in :mod:`mmseg_ccam.utils.config_check`, CPU process groups in
:mod:`mmseg_ccam.utils.dist_cpu`; this module only strings them together. It is re-exported
from here for the callers that import the old names.
"""
import os
import os.path as osp
from argparse import ArgumentParser, Namespace
from typing import Optional, Sequence

from mmengine.config import Config, DictAction

from .config_check import (  # noqa: F401  (re-exported)
    ConfigKeyError,
    check_cfg_options,
    check_config_keys,
    check_config_values,
    explain_build_errors,
    explain_unexpected_argument,
    init_arg_names,
    load_checked_config,
)
from .dist_cpu import init_cpu_distributed  # noqa: F401  (re-exported)
from .schedule_fit import fit_schedule_to_max_iters  # noqa: F401  (re-exported)

__all__ = ['build_runner', 'fit_schedule_to_max_iters', 'load_config', 'parse_launch_args']


def build_runner(cfg: Config, config_path: str = 'the config'):
    """``RUNNERS.build`` (config with ``runner_type``) or ``Runner.from_cfg``, with
    :func:`explain_build_errors`."""
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS
    with explain_build_errors(cfg, config_path):
        return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


def load_config(args: Namespace) -> Config:
    """Read ``args.config`` through :func:`load_checked_config` (``--cfg-options`` merged and
    checked, a shorter ``train_cfg.max_iters`` rescaling the schedule) and resolve ``work_dir``
    and ``launcher``.

    ``work_dir`` priority follows MMSegmentation: CLI > config > ``work_dirs/<config name>``.
    """
    cfg = load_checked_config(args.config, args.cfg_options, amp=getattr(args, 'amp', False))
    cfg.launcher = args.launcher
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
