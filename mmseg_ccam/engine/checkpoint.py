"""Safe resume and crash-safe checkpoint writing for MMEngine 0.10.7 on torch >= 2.6.

Two problems of the stock stack are solved here:

1. **Resume fails under ``weights_only`` loading.** torch >= 2.6 defaults ``torch.load`` to
   ``weights_only=True`` and MMEngine 0.10.7 (``load_from_local``) calls
   ``torch.load(filename, map_location=map_location)`` without overriding it, so resuming from an
   MMEngine checkpoint raises ``UnpicklingError: Unsupported global ... HistoryBuffer``.
   Importing this module (it is imported by ``import mmseg_ccam``) allow-lists exactly the
   globals that MMEngine's own checkpoints reference, found empirically by training a toy
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

   Caveat kept from ``CheckpointHook``: with ``max_keep_ckpts=1`` the hook deletes the old
   checkpoint *before* saving the new one, so keep ``max_keep_ckpts >= 2`` (or unset) when a
   usable checkpoint must survive a kill at any moment.

Usage in a config::

    custom_imports = dict(imports=['mmseg_ccam'], allow_failed_imports=False)
    runner_type = 'AtomicCheckpointRunner'   # mmseg's tools/train.py builds it via RUNNERS
    randomness = dict(seed=0)                # fixed seed: same data order after resume
"""
import os
import os.path as osp
import pickle
from typing import Any, Callable, FrozenSet, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.logging import HistoryBuffer
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

try:  # numpy >= 2.0 moved the pickling helpers to numpy._core
    from numpy._core import multiarray as _np_multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _np_multiarray

__all__ = [
    'MMENGINE_CHECKPOINT_SAFE_GLOBALS', 'AtomicCheckpointRunner', 'IncompatibleCheckpointError',
    'history_buffer_statistic', 'register_mmengine_safe_globals', 'safe_global_names',
    'temporary_checkpoint_name'
]

_CHECKPOINT_PLACEHOLDER = '{checkpoint}'


class IncompatibleCheckpointError(RuntimeError):
    """A checkpoint does not fit the model (e.g. no ``teacher.*`` weights for a mean teacher).

    Raised inside ``load_state_dict``, where the file name is unknown: the message contains the
    placeholder ``{checkpoint}``, shown as "the checkpoint" until a caller that knows the file
    (``AtomicCheckpointRunner.load_checkpoint``, ``tools/test.py``) sets :attr:`checkpoint`.

    Args:
        message (str): The message, with ``{checkpoint}`` where the file name goes.
        checkpoint (str, optional): The file name, if known.
    """

    def __init__(self, message: str, checkpoint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.checkpoint = checkpoint

    def __str__(self) -> str:
        name = f'Checkpoint {self.checkpoint!r}' if self.checkpoint else 'The checkpoint'
        text = self.message.replace(_CHECKPOINT_PLACEHOLDER, name, 1)
        return text.replace(_CHECKPOINT_PLACEHOLDER, repr(self.checkpoint or 'CHECKPOINT'))


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

    Idempotent (torch keeps the allow-list in a set). Called once at import of this module.
    """
    torch.serialization.add_safe_globals(list(MMENGINE_CHECKPOINT_SAFE_GLOBALS))


register_mmengine_safe_globals()


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

    def load_checkpoint(self, filename: str, *args, **kwargs) -> dict:
        """``Runner.load_checkpoint``; :class:`IncompatibleCheckpointError` gets the file name."""
        try:
            return super().load_checkpoint(filename, *args, **kwargs)
        except IncompatibleCheckpointError as err:
            if err.checkpoint is None:
                err.checkpoint = str(filename)
            raise

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
