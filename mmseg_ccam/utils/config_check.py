"""Config key checks: misspelled keys become errors naming the key, its place and the fix.

MMEngine builds most config dicts with ``**cfg`` and many constructors (hooks, loops, data
loaders) either take ``**kwargs`` or are called only late, so a misspelled key is either
ignored (the run silently uses the default) or fails as a bare ``TypeError`` much later (e.g.
at the first checkpoint save). Four checks turn that into an immediate error:

- :func:`check_cfg_keys`: the option dicts this package reads with ``.get()``
  (``semi_train_cfg`` & co.) against their list of valid keys.
- :func:`check_cfg_options`: ``--cfg-options`` that would *add* a key. MMEngine's
  ``Config.merge_from_dict`` adds any key, so ``train_cfg.max_iter=5`` (for ``max_iters``) is
  merged without a word; and a top-level config variable (``labeled_ratio``, ``data_root``,
  ``max_iters``) was already copied into the sections that use it when the file was read, so
  overriding it changes nothing. Both are refused, the latter naming the keys to set instead.
- :func:`check_config_keys`: the merged config, section by section: every ``type`` dict under
  ``default_hooks``, ``custom_hooks``, ``val_evaluator`` / ``test_evaluator``,
  ``param_scheduler``, the loops, ``optim_wrapper``, the data loaders and their samplers, plus
  ``randomness``, ``env_cfg`` and ``log_processor``.
- :func:`explain_build_errors`: a key that a component nested in ``model`` or a dataset does
  not take makes Python raise e.g. ``BaseDecodeHead.__init__() got an unexpected keyword
  argument 'foo'``, naming neither the component nor its place in the config; the error is
  re-raised naming the config path, its type, the closest valid argument and the list.
"""
import contextlib
import difflib
import inspect
import re
from typing import Any, Dict, Iterable, Iterator, List, Optional, Set, Tuple

from mmengine.config import Config
from mmengine.registry import Registry

from .exceptions import ConfigKeyError
from .schedule_fit import follow_max_iters

__all__ = [
    'ConfigKeyError', 'check_cfg_keys', 'check_cfg_options', 'check_config_keys',
    'check_config_values', 'check_redefined_variables', 'closest_key', 'load_checked_config',
    'explain_build_errors', 'explain_unexpected_argument', 'init_arg_names', 'RUNNER_KEYS'
]

# Keys every buildable dict may carry, and arguments the builders fill in themselves.
_ALWAYS_VALID = {'type', '_scope_', '_delete_'}
_FILLED_BY_BUILDER = {'self', 'runner', 'dataloader', 'params', 'optimizer_cfg'}
_UNEXPECTED_KWARG = re.compile(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")

# Top-level keys that something reads at run time (Runner.from_cfg, the tools, MMSeg's --tta,
# this package's runner). Any other top-level key is a variable of the config file, already
# substituted where it is used.
RUNNER_KEYS = frozenset({
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler',
    'val_evaluator', 'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor',
    'load_from', 'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer',
    'default_scope', 'randomness', 'experiment_name', 'runner_type', 'custom_imports',
    'model_wrapper_cfg', 'find_unused_parameters', 'tta_model', 'tta_pipeline', 'compile',
    'checkpoint_mismatch', 'strategy', 'cfg'
})

# Keys of sections that are not built from a registry.
_RANDOMNESS_KEYS = ('seed', 'diff_rank_seed', 'deterministic')
_ENV_KEYS = ('cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit')
# Runner.build_dataloader pops these and passes the rest to torch's DataLoader.
_DATALOADER_EXTRA = ('dataset', 'sampler', 'batch_sampler', 'collate_fn', 'worker_init_fn')
# CheckpointHook takes **kwargs and hands them to Runner.save_checkpoint at the first save.
_CHECKPOINT_HOOK_EXTRA = ('meta', 'save_optimizer', 'save_param_scheduler', 'backend_args',
                          'file_client_args', 'by_epoch')


def closest_key(key: str, valid: Iterable[str]) -> Optional[str]:
    """The valid key most similar to ``key`` (``difflib``; else one that contains ``key`` or
    is contained in it, e.g. ``eval`` -> ``eval_model``), or None if none is close."""
    valid = [str(v) for v in valid]
    close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
    if close:
        return close[0]
    partial = [v for v in valid if len(str(key)) >= 3 and (str(key) in v or v in str(key))]
    return partial[0] if len(partial) == 1 else None


def check_cfg_keys(cfg: Optional[dict], allowed: Iterable[str], where: str) -> None:
    """Raise :class:`ConfigKeyError` if ``cfg`` has a key outside ``allowed``.

    Args:
        cfg (dict | None): The option dict (None passes).
        allowed (Iterable[str]): Valid keys.
        where (str): Owner and name of the dict for the message, e.g.
            ``'MeanTeacherSegDepth semi_train_cfg'``.

    Raises:
        ConfigKeyError: naming each unknown key with its closest valid key, and listing the
            valid keys.
    """
    allowed = sorted(allowed)
    unknown = [k for k in (cfg or {}) if k not in allowed]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = closest_key(key, allowed)
        hints.append(f'{key!r}' + (f' (did you mean {close!r}?)' if close else ''))
    raise ConfigKeyError(f'{where}: unknown key(s) {", ".join(hints)}; valid keys: {allowed}. '
                         'Fix the spelling in the config or in --cfg-options.')


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
        DATA_SAMPLERS,
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
                scheduler=PARAM_SCHEDULERS, visualizer=VISUALIZERS, vis_backend=VISBACKENDS,
                sampler=DATA_SAMPLERS)


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
    if top.endswith('_dataloader') and path[-1:] in (('sampler', ), ('batch_sampler', )):
        return [reg['sampler']]
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


def _section_valid_keys(path: Tuple[str, ...], node: dict, amp: bool,
                        existing_valid: bool = True) -> Optional[List[str]]:
    """Valid keys of a checked config dict, or None when it is not checked / not knowable.
    ``existing_valid``: the dict's present keys count as valid (checking a new key only)."""
    if path in (('model', ), ('train_cfg', ), ('val_cfg', ), ('test_cfg', ),
                ('optim_wrapper', )):
        classes = _section_classes(path[0], node, amp)
    elif path == ('optim_wrapper', 'optimizer'):
        cls = _resolve(node.get('type'), path)
        classes = None if cls is None else [cls]
    else:
        return _component_valid_keys(path, node)
    if not classes:
        return None
    valid = (set(node) if existing_valid else set()) | _ALWAYS_VALID
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


def _is_component_path(path: Tuple[str, ...]) -> bool:
    """Whether ``path`` is one of the sections :func:`check_config_keys` checks."""
    if not path:
        return False
    top, rest = path[0], path[1:]
    if top == 'default_hooks':
        return len(rest) == 1
    if top in ('custom_hooks', 'param_scheduler', 'val_evaluator', 'test_evaluator'):
        return len(rest) <= 1
    if top in ('randomness', 'env_cfg', 'log_processor'):
        return not rest
    if top.endswith('_dataloader'):
        return rest in ((), ('sampler', ), ('batch_sampler', ))
    return False


def _component_valid_keys(path: Tuple[str, ...], node: Any) -> Optional[List[str]]:
    """Valid keys of a dict at ``path`` among the sections :func:`check_config_keys` covers,
    or None when the dict is not checked or its constructor takes any key."""
    if not isinstance(node, dict) or not _is_component_path(path):
        return None
    top = path[0]
    if top == 'randomness':
        return sorted(_RANDOMNESS_KEYS)
    if top == 'env_cfg':
        return sorted(_ENV_KEYS)
    names: Optional[Set[str]]
    if top == 'log_processor':
        from mmengine.runner import LogProcessor
        names = init_arg_names(LogProcessor) if 'type' not in node else None
        if names is None and 'type' in node:
            cls = _resolve(node['type'], path)
            names = init_arg_names(cls) if cls is not None else None
    elif top.endswith('_dataloader') and len(path) == 1:
        from torch.utils.data import DataLoader
        names = init_arg_names(DataLoader)
        names = None if names is None else names | set(_DATALOADER_EXTRA)
    else:
        if 'type' not in node:
            return None
        cls = _resolve(node['type'], path)
        if cls is None:
            return None
        if any(k.__name__ == 'CheckpointHook' for k in cls.__mro__):
            names = _named_args(cls) | set(_CHECKPOINT_HOOK_EXTRA)
        else:
            names = init_arg_names(cls)
        if names is not None and top.endswith('_dataloader'):
            names = names - {'dataset'}  # a sampler's dataset is filled in by the builder
        if names is not None and top == 'param_scheduler':
            names = names - {'optimizer'}
    if names is None:
        return None
    return sorted((names - _FILLED_BY_BUILDER) | _ALWAYS_VALID)


def _named_args(cls: type) -> Set[str]:
    """Named constructor arguments of ``cls`` and of every base class it passes
    ``**kwargs`` to (whether or not a closed constructor ends the chain)."""
    names: Set[str] = set()
    for klass in cls.__mro__:
        if '__init__' not in vars(klass) or klass is object:
            continue
        try:
            params = inspect.signature(vars(klass)['__init__']).parameters.values()
        except (TypeError, ValueError):
            continue
        names |= {p.name for p in params
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != 'self'}
    return names


def _where(path: Tuple[str, ...]) -> str:
    return '.'.join(path) or '<root>'


def _variable_uses(cfg: Config, key: str) -> List[str]:
    """Paths in the runner's sections holding the value of variable ``key``: equal values,
    or, for a dict variable unpacked into dicts (``dict(subset, **split)``), its keys there."""
    value = cfg[key]
    found = []
    for top in cfg:
        if top == key or top not in RUNNER_KEYS:
            continue
        for path, node in _walk(cfg[top], (top, )):
            if len(path) > 1 and type(node) is type(value) and node == value:
                found.append(_where(path))
            elif isinstance(value, dict) and value and isinstance(node, dict) and all(
                    k in node and node[k] == v for k, v in value.items()):
                found += [_where(path + (str(k), )) for k in value]
    return found


def _key_uses(cfg: Config, key: str) -> List[str]:
    """Paths of the runner's sections whose last component is ``key``."""
    found = []
    for top in cfg:
        if top in RUNNER_KEYS:
            found += [_where(path) for path, _ in _walk(cfg[top], (top, ))
                      if len(path) > 1 and path[-1] == key]
    return found


def check_cfg_options(cfg: Config, options: Dict[str, Any], config_path: str = 'the config',
                      amp: bool = False) -> None:
    """Reject ``--cfg-options`` that MMEngine would merge without effect.

    1. For each option ``a.b.c=v`` the config is walked along the existing keys. When a key is
       missing in ``model``, ``train_cfg``, ``val_cfg``, ``test_cfg``, ``optim_wrapper``,
       ``optim_wrapper.optimizer`` or a section :func:`check_config_keys` covers, it must be a
       constructor argument of the class that level builds. Keys below a new key are not
       checked (components nested in ``model`` reject unknown arguments when built, see
       :func:`explain_build_errors`).
    2. A top-level variable of the config file (a key the runner does not read, e.g.
       ``split``, ``data_root``, ``max_iters``) was substituted where it is used when the file
       was read: overriding it would change nothing, so it is refused, naming the keys that
       hold its value. A new top-level key that nothing reads (``labeled_ratio=0.5`` where the
       ratio lives in the datasets) is refused too, naming the keys of that name.

    Args:
        cfg (Config): The config before merging.
        options (dict): Parsed ``--cfg-options``.
        config_path (str): Config file name for the message.
        amp (bool): ``--amp`` was given (``AmpOptimWrapper`` arguments are valid).

    Raises:
        ConfigKeyError: naming the option, the missing key, the closest valid key and the
            valid keys; or the variable and where to set it instead.
    """
    for option in options or {}:
        parts = str(option).split('.')
        if parts[0] not in cfg and parts[0] not in RUNNER_KEYS:
            uses = _key_uses(cfg, parts[0])
            close = closest_key(parts[0], [k for k in cfg if k in RUNNER_KEYS])
            hint = (f' The key exists deeper: {", ".join(uses[:8])}; override those, e.g. '
                    f'--cfg-options {uses[0]}=...' if uses else
                    f" Did you mean '{close}'?" if close else '')
            raise ConfigKeyError(
                f"--cfg-options {option}: '{parts[0]}' is not a key of {config_path}, and "
                'nothing reads a new top-level key: MMEngine would add it without a word and '
                f'the run would ignore it.{hint}')
        if parts[0] not in cfg:
            continue
        if parts[0] not in RUNNER_KEYS:
            uses = _variable_uses(cfg, parts[0])
            where = (f' Its value {cfg[parts[0]]!r} was copied into: {", ".join(uses[:8])}'
                     f'{" ..." if len(uses) > 8 else ""}; override those keys instead, e.g. '
                     f'--cfg-options {uses[0]}=...' if uses else
                     ' Override the keys that use it instead.')
            raise ConfigKeyError(
                f"--cfg-options {option}: '{parts[0]}' is a variable of {config_path}, "
                'substituted into the sections that use it when the file was read; overriding '
                f'it afterwards changes nothing, so the run would silently keep the old value.'
                f'{where} (or edit the variable in a config that inherits {config_path}).')
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
                    f'and not an argument of {built}; MMEngine would add it without a word '
                    f'and the run would ignore it or fail later.{hint} Valid keys of {where}: '
                    f'{_public(valid)}.')
            break


def check_config_keys(cfg: Config, config_path: str = 'the config', amp: bool = False) -> None:
    """Check the keys of the merged config's hooks, evaluators, schedulers, loops, optimizer,
    data loaders, samplers, ``randomness``, ``env_cfg`` and ``log_processor``.

    A key is valid if the constructor the section builds takes it (``**kwargs`` followed up
    the MRO; a constructor that takes any key is not checked). ``CheckpointHook`` also takes
    the arguments it forwards to ``Runner.save_checkpoint``; a data loader takes torch
    ``DataLoader``'s arguments plus ``dataset``, ``sampler``, ``batch_sampler``,
    ``collate_fn`` and ``worker_init_fn``.

    Args:
        cfg (Config): The merged config.
        config_path (str): Config file name for the message.
        amp (bool): ``--amp`` was given (``AmpOptimWrapper`` arguments are valid).

    Raises:
        ConfigKeyError: naming every wrong key with its path, the closest valid key and the
            valid keys.
    """
    problems = []
    for top in cfg:
        if top not in RUNNER_KEYS:
            continue
        for path, node in _walk(cfg[top], (top, )):
            if not isinstance(node, dict):
                continue
            if path in (('train_cfg', ), ('val_cfg', ), ('test_cfg', ), ('optim_wrapper', ),
                        ('optim_wrapper', 'optimizer')):
                valid = _section_valid_keys(path, node, amp=amp, existing_valid=False)
            else:
                valid = _component_valid_keys(path, node)
            if valid is None:
                continue
            for key in node:
                if key in valid:
                    continue
                close = closest_key(key, valid)
                hint = f" Did you mean '{_where(path)}.{close}'?" if close else ''
                built = node.get('type', _where(path))
                problems.append(f"{_where(path)} has the key '{key}', which {built} does not "
                                f'take.{hint} Valid keys: {_public(valid)}.')
    if problems:
        raise ConfigKeyError(
            f'{config_path}: ' + ' '.join(problems) + ' The run would ignore the key or fail '
            'later (e.g. at the first checkpoint); fix it in the config or in --cfg-options.')


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


_FLOAT32_MAX = 3.4028234663852886e38


def check_config_values(cfg: Config, config_path: str = 'the config',
                        with_data: bool = True) -> None:
    """Refuse values that make MMEngine or torch fail later with a message that names
    neither the key nor the fix.

    - ``*_dataloader``: ``persistent_workers=True`` with ``num_workers=0`` (torch:
      "persistent_workers option needs num_workers > 0").
    - ``optim_wrapper.optimizer.lr``: a number that is finite, > 0 and within float32 range
      (parameters are float32; ``lr=1e39`` overflows to inf in the first update).
    - ``param_scheduler``: every iteration-based phase has ``begin < end`` (MMEngine: "end
      should be larger than begin").

    Raises:
        ValueError: naming the key(s), the value(s) and what to set.
    """
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if isinstance(loader, dict) and loader.get('persistent_workers') and \
                loader.get('num_workers', 0) == 0:
            raise ValueError(
                f'{config_path}: {name}.persistent_workers=True needs worker processes, but '
                f'{name}.num_workers=0. Set {name}.persistent_workers=False (e.g. --cfg-options '
                f'{name}.num_workers=0 {name}.persistent_workers=False), or num_workers >= 1.')
    optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer')
    if isinstance(optimizer, dict) and 'lr' in optimizer:
        lr = optimizer['lr']
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not \
                (0 < lr <= _FLOAT32_MAX):
            raise ValueError(
                f'{config_path}: optim_wrapper.optimizer.lr={lr!r} must be a number in '
                f'(0, {_FLOAT32_MAX:.3g}] (parameters are float32: a larger step overflows to '
                'inf and the first update destroys the weights). Typical values are 1e-4 to '
                '1e-1.')
    max_iters = (cfg.get('train_cfg') or {}).get('max_iters')
    schedulers = cfg.get('param_scheduler') or []
    schedulers = [schedulers] if isinstance(schedulers, dict) else schedulers
    for i, item in enumerate(schedulers):
        if not isinstance(item, dict) or item.get('by_epoch', True):
            continue
        begin, end = item.get('begin', 0), item.get('end', max_iters)
        where = f'param_scheduler.{i}' if len(schedulers) > 1 else 'param_scheduler'
        if isinstance(begin, int) and isinstance(end, int) and end <= begin:
            raise ValueError(
                f'{config_path}: {where} ({item.get("type")}) has begin={begin} >= end={end}. '
                f'Set {where}.begin < {where}.end; to shorten a run, set only '
                'train_cfg.max_iters=N: tools/train.py then rescales every phase of '
                'param_scheduler to N iterations.')
    _check_run_values(cfg, config_path, with_data)
    check_redefined_variables(cfg, config_path)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        value == value and abs(value) != float('inf')


def _dataset_classes(dataset: Any) -> Optional[int]:
    """Number of classes of a dataset config (its ``metainfo`` or its class's ``METAINFO``),
    looking through ``ConcatDataset`` / ``RepeatDataset`` wrappers; None if unknown."""
    if not isinstance(dataset, dict):
        return None
    if isinstance(dataset.get('datasets'), (list, tuple)) and dataset['datasets']:
        return _dataset_classes(dataset['datasets'][0])
    if isinstance(dataset.get('dataset'), dict):
        return _dataset_classes(dataset['dataset'])
    metainfo = dataset.get('metainfo') or {}
    if isinstance(metainfo, dict) and metainfo.get('classes'):
        return len(metainfo['classes'])
    cls = _resolve(dataset.get('type'), ('train_dataloader', ))
    classes = (getattr(cls, 'METAINFO', None) or {}).get('classes') if cls else None
    return len(classes) if classes else None


def _uses_batch_norm(node: Any) -> bool:
    return any(isinstance(n, dict) and path and path[-1] == 'norm_cfg'
               and str(n.get('type', '')) in ('BN', 'SyncBN', 'BN2d')
               for path, n in _walk(node))


def _check_run_values(cfg: Config, config_path: str, with_data: bool = True) -> None:
    """Values that fail later (or inside torch) without naming their key. ``with_data``:
    the tool reads the data loaders (the number of classes and the batch size matter)."""
    randomness = cfg.get('randomness') or {}
    seed = randomness.get('seed') if isinstance(randomness, dict) else None
    if seed is not None and not (_is_int(seed) and 0 <= seed < 2**32):
        raise ValueError(f'{config_path}: randomness.seed={seed!r} must be an int in '
                         f'[0, 2**32) or None (a random seed), e.g. randomness.seed=0.')
    for loop in ('train_cfg', 'val_cfg', 'test_cfg'):
        section = cfg.get(loop) or {}
        for key in ('max_iters', 'val_interval', 'val_begin', 'max_epochs'):
            if not isinstance(section, dict) or key not in section:
                continue
            value, low = section[key], (0 if key == 'val_begin' else 1)
            if not (_is_int(value) and value >= low):
                raise ValueError(f'{config_path}: {loop}.{key}={value!r} must be an int >= {low}'
                                 + (' (validate every N iterations; a very large N validates '
                                    'never)' if key == 'val_interval' else '') + '.')
    clip = (cfg.get('optim_wrapper') or {}).get('clip_grad')
    if isinstance(clip, dict) and 'max_norm' in clip and not (
            _is_number(clip['max_norm']) and clip['max_norm'] > 0):
        raise ValueError(f'{config_path}: optim_wrapper.clip_grad.max_norm='
                         f'{clip["max_norm"]!r} must be a number > 0 (e.g. 35), or set '
                         'optim_wrapper.clip_grad=None to not clip.')
    model = cfg.get('model') or {}
    for path, node in _walk(model, ('model', )):
        if not isinstance(node, dict):
            continue
        if path[-1] == 'neck' and 'levels' in node:
            levels = node['levels']
            if not (isinstance(levels, (list, tuple)) and all(_is_int(v) for v in levels)):
                raise ValueError(f'{config_path}: {_where(path)}.levels={levels!r} must be a '
                                 'list of backbone level indices, e.g. [0, 3] (or [] for no '
                                 'exchange).')
        if path[-1] == 'decode_head' and 'num_classes' in node:
            num = node['num_classes']
            if not (_is_int(num) and num >= 1):
                raise ValueError(f'{config_path}: {_where(path)}.num_classes={num!r} must be '
                                 'an int >= 1.')
            loader = cfg.get('train_dataloader') or cfg.get('test_dataloader') or {}
            classes = _dataset_classes(loader.get('dataset')) if isinstance(loader,
                                                                            dict) else None
            if with_data and classes is not None and num != classes:
                raise ValueError(
                    f'{config_path}: {_where(path)}.num_classes={num} but the dataset has '
                    f'{classes} classes (labels 0..{classes - 1}): a label >= {num} fails the '
                    f'loss at iteration 1 ("Target ... is out of bounds") and IoU is computed '
                    f'over the wrong classes. Set {_where(path)}.num_classes={classes}, or give '
                    'the dataset a metainfo with your classes.')
    loader = cfg.get('train_dataloader') or {}
    batch = loader.get('batch_size') if isinstance(loader, dict) else None
    if batch is not None and not (_is_int(batch) and batch >= 1):
        raise ValueError(f'{config_path}: train_dataloader.batch_size={batch!r} must be an '
                         'int >= 1.')
    if with_data and batch == 1 and _uses_batch_norm(model) and 'train_cfg' in cfg:
        raise ValueError(
            f'{config_path}: train_dataloader.batch_size=1 with BatchNorm (norm_cfg type BN) '
            'in the model: BN normalises over the batch, and the ASPP image-pooling branch '
            'has one value per channel with a batch of 1, so training fails ("Expected more '
            'than 1 value per channel"). Use batch_size >= 2, or norm_cfg=dict(type=\'GN\', '
            'num_groups=...) in every head and the backbone.')


def _top_level_assignments(filename: str) -> List[str]:
    """Names assigned at the top level of a Python config file (not ``_base_``)."""
    import ast
    try:
        with open(filename, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename)
    except (OSError, SyntaxError, ValueError):
        return []
    names: List[str] = []
    for stmt in tree.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else \
            [stmt.target] if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) else []
        for target in targets:
            for node in ast.walk(target):
                if isinstance(node, ast.Name) and node.id != '_base_' and \
                        node.id not in names:
                    names.append(node.id)
    return names


def _value_at(cfg: Any, path: str) -> Tuple[bool, Any]:
    node = cfg
    for part in path.split('.'):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def check_redefined_variables(cfg: Config, config_path: str = 'the config') -> None:
    """Refuse a derived config that redefines a variable its base already substituted.

    MMEngine reads the ``_base_`` files first: ``data_root = 'data/x/'`` in a base is copied
    into ``train_dataloader.dataset.data_root`` & co. while the base is read. A derived file
    that only sets ``data_root = '/elsewhere/'`` changes the top-level variable, and the
    merged config still trains on ``data/x/`` (the same for ``max_iters``, ``crop_size``, ...).
    For each top-level name the derived file assigns that a base also defines with another
    value, every key where the base had substituted it is looked up in the merged config:
    if one still holds the base's value, the redefinition did not reach it, and the error names
    the variable and those keys. Redefining a variable *and* the keys that use it (as the
    shipped configs do) passes. An error, not a warning: the run would otherwise silently use
    the base's value (a wrong dataset, 500 times the iterations), and a warning in a long log
    is missed; an intended difference is written by overriding the key itself.

    Raises:
        ValueError: naming the variable, the keys still holding the base's value and the fix.
    """
    filename = getattr(cfg, 'filename', None)
    if not filename or not str(filename).endswith('.py'):
        return
    import os.path as osp
    if not osp.isfile(filename):
        return
    try:
        bases = Config._get_base_files(filename) or []
    except Exception:  # not a readable config: Config.fromfile reported it already
        return
    if isinstance(bases, str):
        bases = [bases]
    own = [n for n in _top_level_assignments(filename) if n not in RUNNER_KEYS]
    if not own:
        return
    base_cfgs = []  # read once, for both checks
    for base in bases:
        base_path = osp.join(osp.dirname(filename), base) if not osp.isabs(base) else base
        try:
            base_cfgs.append((base, Config.fromfile(base_path)))
        except Exception:  # a missing base: Config.fromfile of the file itself said so
            continue
    if not base_cfgs:
        # A file without bases, e.g. the merged config MMEngine dumps into the work dir: its
        # top-level variables legitimately differ from keys changed by --cfg-options.
        return
    _check_unread_variables(cfg, own, [c for _, c in base_cfgs], config_path)
    merged = cfg.to_dict()
    for base, base_cfg in base_cfgs:
        for name in own:
            if name not in base_cfg or name not in cfg or name in RUNNER_KEYS:
                continue
            old, new = base_cfg[name], cfg[name]
            if old == new or old is None or isinstance(old, bool):
                continue
            stale = []
            for path in _variable_uses(base_cfg, name):
                found, value = _value_at(merged, path)
                if found and type(value) is type(old) and value == old:
                    stale.append(path)
            if stale:
                raise ValueError(
                    f'{config_path}: sets {name} = {new!r}, but its base {base} had already '
                    f'substituted {name} = {old!r} into {", ".join(stale[:6])}'
                    f'{" ..." if len(stale) > 6 else ""} when it was read, so those keys keep '
                    f'{old!r} and the run would silently use it. Also override them in '
                    f'{osp.basename(filename)} (e.g. {stale[0]} = {name}), or give them with '
                    f'--cfg-options {stale[0]}=...')


def _check_unread_variables(cfg: Config, own: List[str], base_cfgs: List[Config],
                            config_path: str) -> None:
    """A top-level variable of the file that nothing reads, while keys of that name exist
    deeper (``labeled_ratio = 0.5`` at the top of a semi config, where the ratio lives in
    ``train_dataloader.dataset.datasets.*``): the value is used nowhere, so the run keeps the
    keys' values. Same rule as a new top-level key in ``--cfg-options``."""
    base_names = set()
    for base_cfg in base_cfgs:
        base_names |= set(base_cfg.keys())
    for name in own:
        if name in base_names or name not in cfg or name.startswith('_'):
            continue
        value = cfg[name]
        if isinstance(value, (dict, list, tuple)):
            continue  # helper dicts / lists (pipelines, splits) are unpacked, not copied
        deeper = _key_uses(cfg, name)
        reached = [p for p in deeper if _value_at(cfg.to_dict(), p) == (True, value)]
        if deeper and not reached:
            raise ValueError(
                f'{config_path}: sets {name} = {value!r} at the top level, but nothing reads a '
                f'top-level {name}: the run uses the keys of that name, {", ".join(deeper[:6])}'
                f'{" ..." if len(deeper) > 6 else ""}, which keep their values. Set those keys '
                f'(e.g. {deeper[0]} = {value!r}), or use the variable in them.')


def load_checked_config(path: str, cfg_options: Optional[Dict[str, Any]] = None,
                        with_data: bool = True, amp: bool = False) -> Config:
    """``Config.fromfile`` with the checks of ``tools/train.py`` / ``tools/test.py``: the
    ``--cfg-options`` keys (:func:`check_cfg_options`), the merged config's keys
    (:func:`check_config_keys`) and values (:func:`check_config_values`, which includes
    :func:`check_redefined_variables`). For the tools that read a config without a runner
    (demo, export, analysis tools, the inference API). ``with_data=False``: the tool does not
    read the data loaders (their classes and batch size are not checked against the model).
    ``amp``: the run wraps the optimizer for mixed precision (its keys are checked so). An
    option that shortens ``train_cfg.max_iters`` rescales ``param_scheduler``
    (:func:`~mmseg_ccam.utils.schedule_fit.follow_max_iters`)."""
    import os.path as osp
    if not osp.isfile(str(path)):
        raise FileNotFoundError(f'Config file {str(path)!r} does not exist' + (
            ' (it is a directory)' if osp.isdir(str(path)) else '') +
            '. Configs live under configs/, e.g. configs/ccam/ccam_r18_synthcity.py.')
    cfg = Config.fromfile(str(path))
    if cfg_options:
        check_cfg_options(cfg, cfg_options, str(path), amp=amp)
        old_max_iters = cfg.get('train_cfg', {}).get('max_iters')
        cfg.merge_from_dict(cfg_options)
        follow_max_iters(cfg, cfg_options, old_max_iters)
    check_config_keys(cfg, str(path), amp=amp)
    check_config_values(cfg, str(path), with_data)
    return cfg
