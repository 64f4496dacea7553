"""Shared start-up logic of ``tools/train.py`` and ``tools/test.py``.

Besides reading the config, two checks turn silent or cryptic config mistakes into errors that
name the key and the closest valid one:

- :func:`check_cfg_options`: MMEngine's ``Config.merge_from_dict`` adds any key given with
  ``--cfg-options``, so ``train_cfg.max_iter=5`` (for ``max_iters``) is merged without a word.
  New keys under ``model``, ``train_cfg``, ``val_cfg``, ``test_cfg``, ``optim_wrapper`` and
  ``optim_wrapper.optimizer`` are accepted only if the class the section builds takes them as a
  constructor argument.
- :func:`explain_build_errors`: a config key that a component does not take makes Python raise
  e.g. ``BaseDecodeHead.__init__() got an unexpected keyword argument 'foo'``, naming neither
  the component (here ``DepthHead``) nor its place in the config; the error is re-raised naming
  the config path (``model.depth_head``), its type, the closest valid argument and the list.
"""
import contextlib
import inspect
import os
import os.path as osp
import re
import subprocess
from argparse import Namespace
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.registry import Registry

from mmseg_ccam.models.segmentors.cfg_check import ConfigKeyError, closest_key

# Keys every buildable dict may carry, and arguments the builders fill in themselves.
_ALWAYS_VALID = {'type', '_scope_', '_delete_'}
_FILLED_BY_BUILDER = {'self', 'runner', 'dataloader', 'params', 'optimizer_cfg'}
_UNEXPECTED_KWARG = re.compile(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")


def init_arg_names(cls: type) -> Optional[Set[str]]:
    """Keyword arguments a class's constructor accepts, or None if it takes any (``**kwargs``
    that do not reach a closed constructor).

    ``**kwargs`` is followed up the MRO (cooperative ``super().__init__(**kwargs)``, as in
    ``DepthHead`` -> ``ASPPHead`` -> ``BaseDecodeHead``) until a constructor without it.
    """
    names: Set[str] = set()
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        if klass is object:
            return None
        try:
            params = list(inspect.signature(vars(klass)['__init__']).parameters.values())
        except (TypeError, ValueError):
            return None
        names |= {
            p.name for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != 'self'
        }
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names
    return None


def _registries() -> Dict[str, Registry]:
    from mmseg.registry import (
        DATASETS,
        HOOKS,
        LOOPS,
        METRICS,
        MODELS,
        OPTIM_WRAPPERS,
        OPTIMIZERS,
        PARAM_SCHEDULERS,
        TRANSFORMS,
        VISBACKENDS,
        VISUALIZERS,
    )
    return dict(model=MODELS, loop=LOOPS, optim_wrapper=OPTIM_WRAPPERS, optimizer=OPTIMIZERS,
                hook=HOOKS, dataset=DATASETS, transform=TRANSFORMS, metric=METRICS,
                scheduler=PARAM_SCHEDULERS, visualizer=VISUALIZERS, vis_backend=VISBACKENDS)


def _registry_for(path: Tuple[str, ...]) -> List[Registry]:
    """Registries in which a ``type`` at config ``path`` is looked up, most likely first."""
    reg = _registries()
    top = path[0] if path else ''
    if top == 'model':
        return [reg['model']]
    if top in ('train_cfg', 'val_cfg', 'test_cfg'):
        return [reg['loop']]
    if top == 'optim_wrapper':
        return [reg['optimizer']] if 'optimizer' in path else [reg['optim_wrapper']]
    if top in ('default_hooks', 'custom_hooks'):
        return [reg['hook']]
    if top == 'param_scheduler':
        return [reg['scheduler']]
    if top.endswith('_evaluator'):
        return [reg['metric']]
    if top == 'visualizer':
        return [reg['vis_backend']] if 'vis_backends' in path else [reg['visualizer']]
    if top.endswith('_dataloader') or top.endswith('_pipeline'):
        return [reg['transform']] if 'pipeline' in path or top.endswith('_pipeline') else \
            [reg['dataset'], reg['transform']]
    return list(reg.values())


def _resolve(type_name: Any, path: Tuple[str, ...]) -> Optional[type]:
    if isinstance(type_name, type):
        return type_name
    if not isinstance(type_name, str):
        return None
    for registry in _registry_for(path):
        try:
            cls = registry.get(type_name)
        except Exception:  # a registry that cannot import its locations: try the next one
            cls = None
        if cls is not None:
            return cls
    return None


def _section_classes(section: str, node: dict, amp: bool) -> Optional[List[type]]:
    """Classes whose constructor receives the keys of a checked section (None: unknown)."""
    from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop, TestLoop, ValLoop
    if 'type' in node:
        cls = _resolve(node['type'], (section, ))
        if cls is None:
            return None
        classes = [cls]
    elif section == 'train_cfg':
        classes = [IterBasedTrainLoop, EpochBasedTrainLoop]
    elif section == 'val_cfg':
        classes = [ValLoop]
    elif section == 'test_cfg':
        classes = [TestLoop]
    elif section == 'optim_wrapper':
        classes = [_resolve('OptimWrapper', (section, ))]
    else:
        return None
    if section == 'optim_wrapper' and amp:
        classes.append(_resolve('AmpOptimWrapper', (section, )))
    return classes


def _section_valid_keys(path: Tuple[str, ...], node: dict, amp: bool) -> Optional[List[str]]:
    """Valid keys of a checked config dict, or None when it is not checked / not knowable."""
    if path in (('model', ), ('train_cfg', ), ('val_cfg', ), ('test_cfg', ),
                ('optim_wrapper', )):
        classes = _section_classes(path[0], node, amp)
    elif path == ('optim_wrapper', 'optimizer'):
        cls = _resolve(node.get('type'), path)
        classes = None if cls is None else [cls]
    else:
        return None
    if not classes:
        return None
    valid = set(node) | _ALWAYS_VALID
    for cls in classes:
        names = init_arg_names(cls)
        if names is None:
            return None
        valid |= names - _FILLED_BY_BUILDER
    if path == ('train_cfg', ) and 'type' not in node:
        valid.add('by_epoch')  # read by Runner.build_train_loop to choose the loop
    if path == ('optim_wrapper', ):
        valid |= {'constructor', 'paramwise_cfg'}  # popped by build_optim_wrapper
    return sorted(valid)


def check_cfg_options(cfg: Config, options: Dict[str, Any], config_path: str = 'the config',
                      amp: bool = False) -> None:
    """Reject ``--cfg-options`` keys that MMEngine would add silently under a checked section.

    For each option ``a.b.c=v`` the config is walked along the existing keys. When a key is
    missing in ``model``, ``train_cfg``, ``val_cfg``, ``test_cfg``, ``optim_wrapper`` or
    ``optim_wrapper.optimizer`` (the levels MMEngine builds and does not validate at merge
    time), it must be a constructor argument of the class that level builds. Keys below a new
    key, keys of other sections and new top-level variables are not checked (components nested
    in ``model`` reject unknown arguments when built, see :func:`explain_build_errors`).

    Args:
        cfg (Config): The config before merging.
        options (dict): Parsed ``--cfg-options``.
        config_path (str): Config file name for the message.
        amp (bool): ``--amp`` was given (``AmpOptimWrapper`` arguments are valid).

    Raises:
        ConfigKeyError: naming the option, the missing key, the closest valid key and the
            valid keys.
    """
    for option in options or {}:
        parts = str(option).split('.')
        if parts[0] not in cfg:
            continue
        node: Any = cfg[parts[0]]
        path: Tuple[str, ...] = (parts[0], )
        for part in parts[1:]:
            if isinstance(node, (list, tuple)):
                if not part.isdigit() or int(part) >= len(node):
                    break
                node, path = node[int(part)], path + (part, )
                continue
            if not isinstance(node, dict):
                break
            if part in node:
                node, path = node[part], path + (part, )
                continue
            valid = _section_valid_keys(path, node, amp)
            if valid is not None and part not in valid:
                where = '.'.join(path)
                close = closest_key(part, valid)
                hint = f" Did you mean '{where}.{close}'?" if close else ''
                built = node.get('type', where) if isinstance(node, dict) else where
                raise ConfigKeyError(
                    f"--cfg-options {option}: '{part}' is not a key of {where} in {config_path} "
                    f"and not an argument of {built}; MMEngine would add it without a word "
                    f'and the run would ignore it or fail later.{hint} Valid keys of {where}: '
                    f'{_public(valid)}.')
            break


def explain_unexpected_argument(err: TypeError, cfg: Config,
                                config_path: str = 'the config') -> Optional[str]:
    """Message naming the config path of ``X.__init__() got an unexpected keyword argument 'k'``.

    The config is searched for dicts with a ``type`` whose class has ``X`` in its MRO and that
    hold the key ``k``. Returns None when the error does not come from such a dict.
    """
    match = _UNEXPECTED_KWARG.search(str(err))
    if match is None:
        return None
    owner, key = match.group(1), match.group(2)
    found = []
    for path, node in _walk(cfg.to_dict() if isinstance(cfg, Config) else cfg):
        if not isinstance(node, dict) or key not in node or 'type' not in node:
            continue
        cls = _resolve(node['type'], path)
        if cls is None or owner not in {k.__name__ for k in cls.__mro__}:
            continue
        names = init_arg_names(cls)
        valid = sorted((names - _FILLED_BY_BUILDER) | _ALWAYS_VALID) if names else None
        found.append((path, cls, valid))
    if not found:
        return None
    lines = []
    for path, cls, valid in found:
        where = '.'.join(path) or '<root>'
        close = closest_key(key, valid) if valid else None
        text = (f"{where} (type='{cls.__name__}') has the key '{key}', which {cls.__name__} "
                'does not take.')
        if close:
            text += f" Did you mean '{where}.{close}'?"
        if valid:
            text += f' Valid keys: {_public(valid)}.'
        lines.append(text)
    return (' '.join(lines) + f' Remove or rename the key in {config_path} or in --cfg-options. '
            f'(Python said: {err})')


def _public(keys: List[str]) -> List[str]:
    """Keys worth listing to a user (not ``_delete_`` / ``_scope_``)."""
    return [k for k in keys if not k.startswith('_')]


def _walk(node: Any, path: Tuple[str, ...] = ()) -> Iterator[Tuple[Tuple[str, ...], Any]]:
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, path + (str(k), ))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _walk(v, path + (str(i), ))


@contextlib.contextmanager
def explain_build_errors(cfg: Config, config_path: str = 'the config') -> Iterator[None]:
    """Re-raise a constructor's "unexpected keyword argument" ``TypeError`` with the config path
    of the offending key (see :func:`explain_unexpected_argument`); other errors pass."""
    try:
        yield
    except TypeError as err:
        message = explain_unexpected_argument(err, cfg, config_path)
        if message is None:
            raise
        raise TypeError(message) from err


def build_runner(cfg: Config, config_path: str = 'the config'):
    """``RUNNERS.build`` (config with ``runner_type``) or ``Runner.from_cfg``, with
    :func:`explain_build_errors`."""
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS
    with explain_build_errors(cfg, config_path):
        return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


def load_config(args: Namespace) -> Config:
    """Read ``args.config``, merge ``--cfg-options`` and resolve ``work_dir`` and ``launcher``.

    ``work_dir`` priority follows MMSegmentation: CLI > config > ``work_dirs/<config name>``.
    Options that would add an unknown key under ``model`` / ``train_cfg`` / ``val_cfg`` /
    ``test_cfg`` / ``optim_wrapper`` raise :class:`ConfigKeyError` (see
    :func:`check_cfg_options`).
    """
    if not osp.isfile(args.config):
        raise FileNotFoundError(
            f'Config file {args.config!r} does not exist. Configs live under configs/, '
            'e.g. configs/ccam/ccam_r18_synthcity.py.')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        check_cfg_options(cfg, args.cfg_options, args.config, amp=getattr(args, 'amp', False))
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def _export_slurm_env(port: str) -> None:
    """Translate Slurm's variables into the ``env://`` ones ``init_process_group`` reads."""
    node_list = os.environ['SLURM_NODELIST']
    addr = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1')
    os.environ.setdefault('MASTER_ADDR', addr)
    os.environ.setdefault('MASTER_PORT', port)
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')


def init_cpu_distributed(cfg: Config) -> bool:
    """Create a gloo process group for a distributed run on a machine without CUDA.

    MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` and so fails on CPU-only PyTorch
    (see docs/distributed.md). The runner skips ``init_dist`` when a process group already
    exists, so on CPU we create it here and let everything else follow MMEngine's normal path.
    DDP must then be built without ``device_ids`` (CPU modules reject them).

    Returns:
        bool: True if a CPU process group was created.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available() or torch_dist.is_initialized():
        return False
    if cfg.launcher == 'slurm':
        _export_slurm_env(str(cfg.env_cfg.get('dist_cfg', {}).get('port', 29500)))
    elif cfg.launcher != 'pytorch':
        raise ValueError(
            f'launcher={cfg.launcher!r} is not supported without CUDA; use pytorch (torchrun) '
            'or slurm.')
    backend = cfg.env_cfg.get('dist_cfg', {}).get('backend', 'gloo')
    if backend != 'gloo':
        # nccl needs GPUs: on a CPU machine gloo is the only working backend.
        backend = 'gloo'
        cfg.env_cfg.dist_cfg = dict(backend='gloo')
    torch_dist.init_process_group(backend=backend)
    # Runner.wrap_model passes device_ids=[LOCAL_RANK] as a default argument to every DDP
    # wrapper; an explicit None overrides it (CPU modules reject device_ids).
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True
