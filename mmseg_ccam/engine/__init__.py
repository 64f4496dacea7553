from . import checkpoint, hooks  # noqa: F401
from .checkpoint import (
    AtomicCheckpointRunner,
    IncompatibleCheckpointError,
    check_checkpoint_file,
    check_mismatch,
    checkpoint_key_mismatch,
    checkpoint_seed,
    load_checkpoint_strict,
    register_mmengine_safe_globals,
    temporary_checkpoint_name,
    zero_init_keys,
)

__all__ = [
    'AtomicCheckpointRunner', 'IncompatibleCheckpointError', 'check_checkpoint_file',
    'check_mismatch', 'checkpoint_key_mismatch', 'checkpoint_seed', 'load_checkpoint_strict',
    'register_mmengine_safe_globals', 'temporary_checkpoint_name', 'zero_init_keys'
]
