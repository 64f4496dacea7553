"""Safe resume and crash-safe checkpoint writing for MMEngine 0.10.7 on torch >= 2.6.

Two problems of the stock stack are solved here:

1. **Resume fails under ``weights_only`` loading.** torch >= 2.6 defaults ``torch.load`` to
   ``weights_only=True`` and MMEngine 0.10.7 (``load_from_local``) calls
   ``torch.load(filename, map_location=map_location)`` without overriding it, so resuming from an
   MMEngine checkpoint raises ``UnpicklingError: Unsupported global ... HistoryBuffer``.
   :func:`register_mmengine_safe_globals` (called explicitly by ``import mmseg_ccam`` and by
   ``AtomicCheckpointRunner.load_checkpoint``; importing this module changes nothing)
   allow-lists exactly the globals that MMEngine's own checkpoints reference, found
   empirically by training a toy
   ``Runner`` (IterBasedTrainLoop, SGD, LinearLR + MultiStepLR, LoggerHook, a metric returning
   numpy scalars and arrays) and listing ``torch.serialization.get_unsafe_globals_in_checkpoint``:

   - ``mmengine.logging.history_buffer.HistoryBuffer``: the message hub's scalar logs;
   - ``numpy.ndarray``, ``numpy.dtype``, ``numpy._core.multiarray._reconstruct`` and
     ``numpy._core.multiarray.scalar``: numpy arrays and scalars (metric values, ETA) kept in
     the message hub; the ``numpy.core.multiarray`` spellings are aliases of the same two
     functions for checkpoints written under numpy 1.x;
   - the classes of the bool/int/float dtypes (``numpy.dtypes.Float64DType``, ...): torch only
     restores the state of an unpickled ``np.dtype`` whose class is allow-listed;
   - ``builtins.getattr``: pickle protocol 2 writes ``HistoryBuffer``'s statistics methods
     (``HistoryBuffer.min`` etc., stored in its ``__getstate__``) as
     ``getattr(HistoryBuffer, 'min')``. The real ``getattr`` would let a checkpoint read any
     attribute of any allow-listed object, so the name is bound to
     :func:`history_buffer_statistic`, which only resolves registered statistics methods of
     ``HistoryBuffer`` and raises ``UnpicklingError`` for anything else.

   ``weights_only`` stays on: a checkpoint is untrusted input, and a pickle referencing any
   other callable (``os.system``, ``builtins.print``, ...) is still refused.

2. **A kill while saving can corrupt the checkpoint being written.** MMEngine writes
   checkpoints in place (``LocalBackend.put`` opens the final path with ``'wb'``).
   :class:`AtomicCheckpointRunner` writes every local checkpoint to a hidden temporary file in
   the same directory, fsyncs it, and ``os.replace``-s it onto the final name, so the final path
   holds either the previous complete file or the new complete file, never a truncated one.
   A registered ``Runner`` subclass was chosen over patching ``mmengine`` at import time
   because it is opt-in and visible in the config (``runner_type``), changes no third-party
   global, and reuses ``Runner.save_checkpoint`` unchanged by only choosing the filename it
   writes to. A ``CheckpointHook`` subclass cannot do it: ``Runner.save_checkpoint`` does the
   writing.

   ``AtomicCheckpointRunner.load_checkpoint`` also puts the file name into
   :class:`IncompatibleCheckpointError`, which the models raise (from ``_load_from_state_dict``,
   where the name is unknown) when a checkpoint of the other model kind would load nothing.

   ``CheckpointHook`` deletes the oldest kept checkpoint *before* saving the new one, so with
   ``max_keep_ckpts=1`` a kill during the save would leave none: the runner builds
   :class:`~mmseg_ccam.engine.hooks.AtomicCheckpointHook` (deletes after the save) wherever a
   config asks for ``CheckpointHook``.

3. **Resume is exact** (:class:`~mmseg_ccam.engine.hooks.RandomStateHook`, registered by the
   runner): the random states go into every checkpoint and come back where the run stopped.

4. **A checkpoint of another architecture is refused**: ``Runner.load_checkpoint`` loads
   with ``strict=False`` and only logs "size mismatch" lines, so a wrong checkpoint evaluates
   as a random model. :meth:`AtomicCheckpointRunner.load_checkpoint` raises
   :class:`IncompatibleCheckpointError` listing missing, unexpected and mis-shaped keys, unless
   the config sets ``checkpoint_mismatch = 'warn'``. Files that are not checkpoints (JSON, an
   empty file) get an error saying so.

Usage in a config::

    custom_imports = dict(imports=['mmseg_ccam'], allow_failed_imports=False)
    runner_type = 'AtomicCheckpointRunner'   # mmseg's tools/train.py builds it via RUNNERS
    randomness = dict(seed=0)                # fixed seed: same data order after resume
"""
import os
import os.path as osp
import pickle
import re
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
from mmseg.registry import RUNNERS

from mmseg_ccam.utils.exceptions import IncompatibleCheckpointError

try:  # numpy >= 2.0 moved the pickling helpers to numpy._core
    from numpy._core import multiarray as _np_multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _np_multiarray

__all__ = [
    'MMENGINE_CHECKPOINT_SAFE_GLOBALS', 'AtomicCheckpointRunner', 'IncompatibleCheckpointError',
    'check_checkpoint_file', 'check_mismatch', 'checkpoint_key_mismatch', 'checkpoint_seed',
    'load_checkpoint_strict',
    'history_buffer_statistic', 'register_mmengine_safe_globals', 'safe_global_names',
    'temporary_checkpoint_name'
]

_DEFAULT_HISTORY_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def history_buffer_statistic(owner: Any, name: str) -> Callable:
    """Restricted stand-in for ``builtins.getattr`` during ``weights_only`` unpickling.

    MMEngine pickles ``HistoryBuffer.__getstate__()['statistics_methods']`` (functions such as
    ``HistoryBuffer.mean``); pickle protocol 2 encodes each as ``getattr(HistoryBuffer, 'mean')``.

    Args:
        owner (Any): The object the pickle wants an attribute of.
        name (str): The attribute name.

    Returns:
        Callable: ``getattr(HistoryBuffer, name)`` for a registered statistics method.

    Raises:
        pickle.UnpicklingError: for any other object or attribute.
    """
    # The defaults are registered lazily (by the first HistoryBuffer.__init__), so they are
    # named here explicitly; custom ones come from HistoryBuffer.register_statistics.
    allowed = _DEFAULT_HISTORY_STATISTICS | set(HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and isinstance(name, str) and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'Checkpoint refused: it asks for getattr({owner!r}, {name!r}), but weights_only '
        'loading with mmseg_ccam only resolves HistoryBuffer statistics methods '
        f'{sorted(allowed)}. Load only checkpoints you trust to be MMEngine checkpoints.')


def _numeric_dtype_classes() -> Tuple[Tuple[type, str], ...]:
    """Classes of the bool / integer / float numpy dtypes, e.g. ``numpy.dtypes.Float64DType``.

    A pickled ``np.dtype`` is rebuilt by calling ``numpy.dtype`` and then ``BUILD``-ing the
    instance, and torch only ``BUILD``-s instances whose *type* is allow-listed. Every
    fixed-size bool/int/float type is admitted because metric values and log buffers may come in
    any of them; object, string, void (structured) and datetime dtypes are not.
    """
    classes = []
    for char in '?bBhHiIlLqQefd':
        cls = type(np.dtype(char))
        name = f'{cls.__module__}.{cls.__qualname__}'
        if (cls, name) not in classes:
            classes.append((cls, name))
    return tuple(classes)


# (object, the name under which the pickle references it). Explicit names keep the list
# assertable and make the numpy-1.x aliases and the restricted getattr visible.
MMENGINE_CHECKPOINT_SAFE_GLOBALS: Tuple[Tuple[Any, str], ...] = (
    (HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
    (np.ndarray, 'numpy.ndarray'),
    (np.dtype, 'numpy.dtype'),
    (_np_multiarray._reconstruct, 'numpy._core.multiarray._reconstruct'),
    (_np_multiarray.scalar, 'numpy._core.multiarray.scalar'),
    (_np_multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
    (_np_multiarray.scalar, 'numpy.core.multiarray.scalar'),
    (history_buffer_statistic, 'builtins.getattr'),
) + _numeric_dtype_classes()


def safe_global_names() -> FrozenSet[str]:
    """Names this module allow-lists for ``weights_only`` loading."""
    return frozenset(name for _, name in MMENGINE_CHECKPOINT_SAFE_GLOBALS)


def register_mmengine_safe_globals() -> None:
    """Allow-list :data:`MMENGINE_CHECKPOINT_SAFE_GLOBALS` for ``torch.load(weights_only=True)``.

    Idempotent (torch keeps the allow-list in a set). An explicit call, not an import side
    effect: ``mmseg_ccam/__init__.py`` makes it once, and
    :meth:`AtomicCheckpointRunner.load_checkpoint` before every load.
    """
    torch.serialization.add_safe_globals(list(MMENGINE_CHECKPOINT_SAFE_GLOBALS))


def _fsync_path(path: str) -> None:
    """Flush a file or directory to stable storage (power-loss safety, not only kill safety)."""
    flags = (os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0)) if osp.isdir(path) else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # e.g. directories cannot be opened on Windows; nothing to flush then
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems (tmpfs variants, network mounts) refuse fsync
        pass
    finally:
        os.close(fd)


def temporary_checkpoint_name(filename: str) -> str:
    """Hidden sibling of ``filename`` used while writing it (same directory → atomic rename)."""
    head, tail = osp.split(filename)
    return osp.join(head, f'.{tail}.tmp')


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


_ZERO_GATED = re.compile(r'(^|\.)attentions\.\d+\.gamma_[sd]$')


def checkpoint_key_mismatch(model_state: Dict[str, torch.Tensor],
                            ckpt_state: Dict[str, Any]) -> Dict[str, List]:
    """Compare a checkpoint's state dict with the model's.

    Returns:
        dict: ``missing`` (model keys the checkpoint lacks), ``unexpected`` (checkpoint keys the
        model lacks), ``mismatched`` (``(key, checkpoint shape, model shape)``) and
        ``zero_gated`` (missing keys that are CCAM attention weights ``gamma_s`` / ``gamma_d``
        still at zero in the model: loading a no-CCAM checkpoint into a CCAM model leaves the
        attention switched off, i.e. the same function).
    """
    missing = [k for k in model_state if k not in ckpt_state]
    unexpected = [k for k in ckpt_state if k not in model_state]
    mismatched = [
        (k, tuple(getattr(ckpt_state[k], 'shape', ())), tuple(model_state[k].shape))
        for k in model_state if k in ckpt_state
        and tuple(getattr(ckpt_state[k], 'shape', ())) != tuple(model_state[k].shape)
    ]
    zero_gated = [k for k in missing if _ZERO_GATED.search(k)
                  and not bool(torch.count_nonzero(model_state[k]))]
    return dict(missing=missing, unexpected=unexpected, mismatched=mismatched,
                zero_gated=zero_gated)


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

    Nothing to say: returns. Only the zero-initialised CCAM gates missing: a warning (same
    function). ``policy='warn'``: a warning listing what did not fit. Otherwise
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
        logger.warning(
            f'The checkpoint has no CCAM attention weights ({len(report["missing"])} '
            'gamma keys): they stay at 0, so the model computes what the checkpoint\'s '
            'model computed (attention off).')
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
    with the model (:func:`checkpoint_key_mismatch`), loaded, and a checkpoint of another
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
        report = checkpoint_key_mismatch(target.state_dict(), ckpt_state)
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict,
                                               revise_keys=revise_keys)
        check_mismatch(report, policy, logger)
    except IncompatibleCheckpointError as err:
        if err.checkpoint is None:
            err.checkpoint = str(filename)
        raise
    return checkpoint


@RUNNERS.register_module()
class AtomicCheckpointRunner(Runner):
    """``Runner`` whose local checkpoints are written atomically.

    ``save_checkpoint`` lets ``Runner.save_checkpoint`` write to ``.<filename>.tmp`` in the
    target directory, fsyncs it and renames it onto ``<filename>`` with ``os.replace`` (atomic
    on POSIX and Windows within one filesystem). A process killed while saving therefore leaves
    either the complete previous file under the final name, or no file of that name, plus a
    stale ``.tmp`` that the next save of the same name overwrites. Non-local backends (e.g.
    ``s3://``) and the deprecated ``file_client_args`` path are delegated unchanged.

    ``load_checkpoint`` (used by ``load_from``, ``--resume`` and ``tools/test.py``) adds the file
    name to :class:`IncompatibleCheckpointError`.

    Enable it with ``runner_type = 'AtomicCheckpointRunner'`` in the config.
    """

    def register_hook(self, hook: Union[Hook, Dict], priority=None) -> None:
        """``Runner.register_hook``; a ``CheckpointHook`` dict becomes ``AtomicCheckpointHook``
        (same arguments; the old checkpoint is removed only after the new one is saved)."""
        if isinstance(hook, dict) and hook.get('type') in ('CheckpointHook',
                                                           'mmengine.CheckpointHook'):
            hook = dict(hook, type='AtomicCheckpointHook')
        super().register_hook(hook, priority)

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        """``Runner.register_hooks`` plus a :class:`RandomStateHook` (exact resume) unless the
        config already has one."""
        super().register_hooks(default_hooks, custom_hooks)
        from mmseg_ccam.engine.hooks.random_state_hook import RandomStateHook
        if not any(isinstance(h, RandomStateHook) for h in self.hooks):
            self.register_hook(RandomStateHook())

    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]) -> dict:  # noqa: B006
        """``Runner.load_checkpoint``, refusing a checkpoint that does not fit the model.

        After the model's own checks (e.g. a mean teacher without ``teacher.*`` weights),
        missing, unexpected or mis-shaped keys raise :class:`IncompatibleCheckpointError`
        listing a few of each and their counts. ``checkpoint_mismatch = 'warn'`` in the config
        (or ``--cfg-options checkpoint_mismatch=warn``) loads what fits and warns instead, e.g.
        to fine-tune with a new head. A no-CCAM checkpoint into a CCAM model (only the
        attention weights ``gamma``, zero at init, missing) loads with a warning: it is the
        same function. :class:`IncompatibleCheckpointError` gets the file name.
        """
        policy = (self.cfg.get('checkpoint_mismatch', 'error') if self.cfg is not None
                  else 'error')
        checkpoint = load_checkpoint_strict(
            self.model, filename, policy=policy, map_location=map_location, strict=strict,
            revise_keys=revise_keys, logger=self.logger,
            before_load=lambda ckpt: self.call_hook('after_load_checkpoint', checkpoint=ckpt))
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    @master_only
    def save_checkpoint(self,
                        out_dir: str,
                        filename: str,
                        file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        meta: Optional[dict] = None,
                        by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """Save a checkpoint to ``out_dir/filename`` atomically. Arguments as ``Runner``'s."""
        kwargs = dict(
            file_client_args=file_client_args,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler,
            meta=meta,
            by_epoch=by_epoch,
            backend_args=backend_args)
        local = file_client_args is None and isinstance(
            get_file_backend(out_dir, backend_args=backend_args), LocalBackend)
        if not local:
            super().save_checkpoint(out_dir, filename, **kwargs)
            return

        tmp_filename = temporary_checkpoint_name(filename)
        final_path = osp.join(out_dir, filename)
        tmp_path = osp.join(out_dir, tmp_filename)
        try:
            super().save_checkpoint(out_dir, tmp_filename, **kwargs)
            _fsync_path(tmp_path)
            os.replace(tmp_path, final_path)
        except BaseException:
            # Leave the previous checkpoint untouched and no half-written temporary behind.
            if osp.exists(tmp_path):
                os.remove(tmp_path)
            raise
        _fsync_path(osp.dirname(final_path) or '.')
