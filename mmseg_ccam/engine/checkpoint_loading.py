"""Checkpoint loading rule: what a file is, and whether its keys fit the model.

``Runner.load_checkpoint`` loads with ``strict=False`` and only logs "size mismatch" lines, so a
checkpoint of another architecture evaluates as a random model. :func:`load_checkpoint_strict`
(used by :meth:`~mmseg_ccam.engine.AtomicCheckpointRunner.load_checkpoint`, ``tools/test.py``,
:func:`mmseg_ccam.apis.init_model` and the analysis tools) raises
:class:`IncompatibleCheckpointError` listing missing, unexpected and mis-shaped keys, unless the
config sets ``checkpoint_mismatch = 'warn'``. Keys a module declares zero-initialised
(``zero_init_keys``, e.g. the CCAM attention gates) may be missing with a warning. Files that are
not checkpoints (JSON, an empty file) get an error saying so.

MMEngine's private ``_load_checkpoint`` / ``_load_checkpoint_to_model`` are used because they are
the two halves of its public ``load_checkpoint``, between which the key comparison has to run.
"""
import os
import os.path as osp
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

import torch
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

from mmseg_ccam.utils.exceptions import IncompatibleCheckpointError

from .safe_globals import register_mmengine_safe_globals

__all__ = [
    'CHECKPOINT_MISMATCH_POLICIES', 'IncompatibleCheckpointError', 'check_checkpoint_file',
    'check_mismatch', 'checkpoint_key_mismatch', 'checkpoint_seed', 'load_checkpoint_strict',
    'zero_init_keys'
]


def check_checkpoint_file(filename: str) -> None:
    """Refuse a local file that cannot be a PyTorch checkpoint, saying what it is instead.

    ``torch.load`` on a JSON file says ``invalid load key, '{'`` and on an empty file
    ``Ran out of input``; neither names the file or the fix. Checkpoints start with a zip
    header (``torch.save`` since 1.6) or a pickle protocol byte (legacy format).
    Non-local names (``http://``, ``open-mmlab://``, ...) are left to MMEngine.

    Raises:
        ValueError: for an empty file, a text/JSON file or any other non-checkpoint.
    """
    if isinstance(filename, str) and osp.isdir(filename):
        found = sorted(f for f in os.listdir(filename) if f.endswith('.pth'))
        hint = (f' It holds {", ".join(found[-3:])}; give one of them (the newest is named in '
                f'{osp.join(filename, "last_checkpoint")}).' if found else
                ' It holds no .pth file.')
        raise IsADirectoryError(f'Checkpoint {filename!r} is a directory, not a checkpoint '
                                f'file.{hint}')
    if not isinstance(filename, str) or not osp.isfile(filename):
        return
    size = osp.getsize(filename)
    if size == 0:
        raise ValueError(
            f'Checkpoint {filename!r} is empty (0 bytes): an interrupted copy or save. Use '
            'another checkpoint (e.g. the previous iter_*.pth of the work dir).')
    with open(filename, 'rb') as f:
        head = f.read(64)
    if head.startswith(b'PK\x03\x04') or head[:1] == b'\x80':
        return
    text = head.lstrip()
    kind = ('a JSON file (e.g. the metrics written by tools/test.py --out)'
            if text[:1] in (b'{', b'[') else
            'a text file' if all(32 <= c < 127 or c in (9, 10, 13) for c in head) else
            'not a PyTorch checkpoint')
    raise ValueError(
        f'Checkpoint {filename!r} ({size} bytes) is {kind}, not a PyTorch checkpoint written '
        'by torch.save / a training run. Give the .pth file from the work dir.')


def checkpoint_seed(filename: str) -> Optional[int]:
    """The ``meta.seed`` of an MMEngine checkpoint (None if it has none)."""
    register_mmengine_safe_globals()
    check_checkpoint_file(filename)
    seed = _load_checkpoint(filename, map_location='cpu').get('meta', {}).get('seed')
    return None if seed is None else int(seed)


def zero_init_keys(model: torch.nn.Module) -> Dict[str, str]:
    """State-dict keys a checkpoint may lack because the model declares them zero-initialised.

    A module class lists such parameters in a ``zero_init_keys`` class attribute (e.g. a gate
    that starts at 0, so a model without it computes the same function) and the warning shown
    when only they are missing in ``zero_init_message`` (``{n}``: how many keys). The engine
    knows no parameter by name: it reads the declarations of the model's modules.

    Args:
        model (nn.Module): The model whose ``state_dict()`` is compared.

    Returns:
        dict: Full state-dict key → the declaring module's ``zero_init_message``.
    """
    found = {}
    # remove_duplicate=False: a shared module appears under every name state_dict() uses.
    for prefix, module in model.named_modules(remove_duplicate=False):
        for key in getattr(type(module), 'zero_init_keys', ()):
            found[f'{prefix}.{key}' if prefix else key] = getattr(
                module, 'zero_init_message',
                'The checkpoint lacks {n} zero-initialised key(s): they stay at 0.')
    return found


def checkpoint_key_mismatch(model_state: Dict[str, torch.Tensor],
                            ckpt_state: Dict[str, Any],
                            zero_init: Optional[Mapping[str, str]] = None) -> Dict[str, List]:
    """Compare a checkpoint's state dict with the model's.

    Args:
        model_state (dict): The model's ``state_dict()``.
        ckpt_state (dict): The checkpoint's state dict.
        zero_init (Mapping[str, str], optional): :func:`zero_init_keys` of the model.

    Returns:
        dict: ``missing`` (model keys the checkpoint lacks), ``unexpected`` (checkpoint keys the
        model lacks), ``mismatched`` (``(key, checkpoint shape, model shape)``), ``zero_gated``
        (missing keys of ``zero_init`` still at zero in the model, e.g. the CCAM attention
        weights when a no-CCAM checkpoint is loaded into a CCAM model: the attention stays
        switched off, i.e. the same function) and ``zero_gated_notes`` (the distinct warnings of
        those keys, each formatted with its key count).
    """
    zero_init = zero_init or {}
    missing = [k for k in model_state if k not in ckpt_state]
    unexpected = [k for k in ckpt_state if k not in model_state]
    mismatched = [
        (k, tuple(getattr(ckpt_state[k], 'shape', ())), tuple(model_state[k].shape))
        for k in model_state if k in ckpt_state
        and tuple(getattr(ckpt_state[k], 'shape', ())) != tuple(model_state[k].shape)
    ]
    zero_gated = [k for k in missing if k in zero_init
                  and not bool(torch.count_nonzero(model_state[k]))]
    counts: Dict[str, int] = {}
    for k in zero_gated:
        counts[zero_init[k]] = counts.get(zero_init[k], 0) + 1
    notes = [message.format(n=n) for message, n in counts.items()]
    return dict(missing=missing, unexpected=unexpected, mismatched=mismatched,
                zero_gated=zero_gated, zero_gated_notes=notes)


def _describe_mismatch(report: Dict[str, List]) -> str:
    def few(items, fmt=str):
        return ', '.join(fmt(i) for i in items[:4]) + (', ...' if len(items) > 4 else '')

    parts = []
    if report['missing']:
        parts.append(f"{len(report['missing'])} missing key(s) ({few(report['missing'])})")
    if report['unexpected']:
        parts.append(f"{len(report['unexpected'])} unexpected key(s) "
                     f"({few(report['unexpected'])})")
    if report['mismatched']:
        parts.append(f"{len(report['mismatched'])} key(s) of another shape (" + few(
            report['mismatched'], lambda m: f'{m[0]}: checkpoint {m[1]} vs model {m[2]}') + ')')
    return '; '.join(parts)


CHECKPOINT_MISMATCH_POLICIES = ('error', 'warn')


def check_mismatch(report: Dict[str, List], policy: str = 'error',
                   logger: Optional[Any] = None) -> None:
    """Apply the loading rule to a :func:`checkpoint_key_mismatch` report.

    Nothing to say: returns. Only keys a module declares zero-initialised missing (e.g. the CCAM
    gates, see :func:`zero_init_keys`): the declared warning (same function).
    ``policy='warn'``: a warning listing what did not fit. Otherwise
    :class:`IncompatibleCheckpointError` (file name filled in by the caller).
    """
    if not (report['missing'] or report['unexpected'] or report['mismatched']):
        return
    if logger is None:
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
    only_gates = (not report['unexpected'] and not report['mismatched']
                  and report['missing'] == report['zero_gated'])
    text = _describe_mismatch(report)
    if only_gates:
        for note in report.get('zero_gated_notes') or [
                f'The checkpoint lacks {len(report["missing"])} zero-initialised key(s): '
                'they stay at 0.']:
            logger.warning(note)
        return
    if policy == 'warn':
        logger.warning(f'checkpoint_mismatch=warn: loaded what fits; {text}.')
        return
    raise IncompatibleCheckpointError(
        '{checkpoint} does not fit the model of this config: ' + text + '. It was probably '
        'trained with another config (backbone, neck, heads or number of classes). Use the '
        'config it was trained with; to load what fits anyway (e.g. to fine-tune a new '
        'head), set checkpoint_mismatch=\'warn\' in the config or --cfg-options '
        'checkpoint_mismatch=warn.')


def load_checkpoint_strict(model: torch.nn.Module,
                           filename: str,
                           policy: str = 'error',
                           map_location: Union[str, Callable] = 'cpu',
                           strict: bool = False,
                           revise_keys: list = [(r'^module.', '')],  # noqa: B006
                           logger: Optional[Any] = None,
                           before_load: Optional[Callable[[dict], None]] = None) -> dict:
    """The one loading rule of every entry point that takes a checkpoint.

    ``tools/train.py`` (``load_from``, ``--resume``), ``tools/test.py``,
    :func:`mmseg_ccam.apis.init_model` (demo, ONNX export) and the analysis tools all load
    through here: the file is checked to be a checkpoint (:func:`check_checkpoint_file`),
    loaded with ``weights_only`` (:func:`register_mmengine_safe_globals`), compared key by key
    with the model (:func:`checkpoint_key_mismatch`, tolerating the keys the model's modules
    declare zero-initialised: :func:`zero_init_keys`), loaded, and a checkpoint of another
    architecture raises :class:`IncompatibleCheckpointError` naming the file and the keys,
    unless ``policy='warn'`` (the config's ``checkpoint_mismatch = 'warn'``, also given as
    ``--cfg-options checkpoint_mismatch=warn``). The model's own checks (e.g. a mean teacher
    without ``teacher.*`` weights) run inside ``load_state_dict``.

    Args:
        model (nn.Module): The model (a model wrapper or a TTA model is unwrapped).
        filename (str): Checkpoint file (or a URL MMEngine can load).
        policy (str): ``'error'`` (default) or ``'warn'``.
        map_location (str | callable): As ``torch.load``.
        strict (bool): Passed to MMEngine (the check above is the strict part).
        revise_keys (list): ``(pattern, replacement)`` applied to the checkpoint's keys.
        logger (optional): Where warnings go (default: MMEngine's current logger).
        before_load (callable, optional): Called with the checkpoint dict before loading
            (the runner's ``after_load_checkpoint`` hooks).

    Returns:
        dict: The checkpoint.
    """
    if policy not in CHECKPOINT_MISMATCH_POLICIES:
        raise ValueError(f"checkpoint_mismatch={policy!r} must be 'error' or 'warn'.")
    register_mmengine_safe_globals()
    check_checkpoint_file(filename)
    try:
        checkpoint = _load_checkpoint(filename, map_location=map_location)
        if not isinstance(checkpoint, dict):
            raise ValueError(f'Checkpoint {filename!r} holds a {type(checkpoint).__name__}, '
                             'not a state dict; give a checkpoint written by a training run.')
        if before_load is not None:
            before_load(checkpoint)
        if is_model_wrapper(model):
            model = model.module
        ckpt_state = checkpoint.get('state_dict', checkpoint)
        for pattern, repl in revise_keys:
            ckpt_state = {re.sub(pattern, repl, k): v for k, v in ckpt_state.items()}
        # A TTA model (tools/test.py --tta) holds the segmentor in `.module`; MMEngine's
        # loading unwraps it the same way, so its keys are the segmentor's.
        target = model.module if isinstance(model, BaseTTAModel) else model
        report = checkpoint_key_mismatch(target.state_dict(), ckpt_state,
                                         zero_init_keys(target))
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict,
                                               revise_keys=revise_keys)
        check_mismatch(report, policy, logger)
    except IncompatibleCheckpointError as err:
        if err.checkpoint is None:
            err.checkpoint = str(filename)
        raise
    return checkpoint
