"""Training engine: hooks and checkpoint safety for MMEngine 0.10.7 on torch >= 2.6, one job
per module:

- :mod:`.safe_globals`: ``weights_only`` resume (the allow-list of the globals MMEngine
  checkpoints reference);
- :mod:`.atomic_runner`: :class:`AtomicCheckpointRunner` (atomic saves, exact resume, the file
  name in loading errors);
- :mod:`.checkpoint_loading`: what a file is and whether its keys fit the model
  (:func:`load_checkpoint_strict`).
"""
from . import hooks  # noqa: F401
from .atomic_runner import (
    PLAIN_CHECKPOINT_HOOK_TYPES,
    AtomicCheckpointRunner,
    temporary_checkpoint_name,
)
from .checkpoint_loading import (
    CHECKPOINT_MISMATCH_POLICIES,
    IncompatibleCheckpointError,
    check_checkpoint_file,
    check_mismatch,
    checkpoint_key_mismatch,
    checkpoint_seed,
    load_checkpoint_strict,
    zero_init_keys,
)
from .safe_globals import (
    MMENGINE_CHECKPOINT_SAFE_GLOBALS,
    history_buffer_statistic,
    register_mmengine_safe_globals,
    safe_global_names,
)

__all__ = [
    'CHECKPOINT_MISMATCH_POLICIES', 'MMENGINE_CHECKPOINT_SAFE_GLOBALS',
    'PLAIN_CHECKPOINT_HOOK_TYPES', 'AtomicCheckpointRunner', 'IncompatibleCheckpointError',
    'check_checkpoint_file', 'check_mismatch', 'checkpoint_key_mismatch', 'checkpoint_seed',
    'history_buffer_statistic', 'load_checkpoint_strict', 'register_mmengine_safe_globals',
    'safe_global_names', 'temporary_checkpoint_name', 'zero_init_keys'
]
