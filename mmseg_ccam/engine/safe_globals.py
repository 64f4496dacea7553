"""Resume under ``weights_only`` loading: MMEngine 0.10.7 checkpoints on torch >= 2.6.

torch >= 2.6 defaults ``torch.load`` to ``weights_only=True`` and MMEngine 0.10.7
(``load_from_local``) calls ``torch.load(filename, map_location=map_location)`` without overriding
it, so resuming from an MMEngine checkpoint raises ``UnpicklingError: Unsupported global ...
HistoryBuffer``. :func:`register_mmengine_safe_globals` (called explicitly by ``import mmseg_ccam``
and by ``AtomicCheckpointRunner.load_checkpoint``; importing this module changes nothing)
allow-lists exactly the globals that MMEngine's own checkpoints reference, found empirically by
training a toy ``Runner`` (IterBasedTrainLoop, SGD, LinearLR + MultiStepLR, LoggerHook, a metric
returning numpy scalars and arrays) and listing
``torch.serialization.get_unsafe_globals_in_checkpoint``:

- ``mmengine.logging.history_buffer.HistoryBuffer``: the message hub's scalar logs;
- ``numpy.ndarray``, ``numpy.dtype``, ``numpy._core.multiarray._reconstruct`` and
  ``numpy._core.multiarray.scalar``: numpy arrays and scalars (metric values, ETA) kept in the
  message hub; the ``numpy.core.multiarray`` spellings are aliases of the same two functions for
  checkpoints written under numpy 1.x;
- the classes of the bool/int/float dtypes (``numpy.dtypes.Float64DType``, ...): torch only
  restores the state of an unpickled ``np.dtype`` whose class is allow-listed;
- ``builtins.getattr``: pickle protocol 2 writes ``HistoryBuffer``'s statistics methods
  (``HistoryBuffer.min`` etc., stored in its ``__getstate__``) as ``getattr(HistoryBuffer,
  'min')``. The real ``getattr`` would let a checkpoint read any attribute of any allow-listed
  object, so the name is bound to :func:`history_buffer_statistic`, which only resolves
  registered statistics methods of ``HistoryBuffer`` and raises ``UnpicklingError`` for anything
  else.

``weights_only`` stays on: a checkpoint is untrusted input, and a pickle referencing any other
callable (``os.system``, ``builtins.print``, ...) is still refused.
"""
import pickle
from typing import Any, Callable, FrozenSet, Tuple

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

try:  # numpy >= 2.0 moved the pickling helpers to numpy._core
    from numpy._core import multiarray as _np_multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _np_multiarray

__all__ = [
    'MMENGINE_CHECKPOINT_SAFE_GLOBALS', 'history_buffer_statistic',
    'register_mmengine_safe_globals', 'safe_global_names'
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
