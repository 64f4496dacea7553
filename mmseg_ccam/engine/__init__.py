from . import checkpoint, hooks  # noqa: F401
from .checkpoint import AtomicCheckpointRunner, register_mmengine_safe_globals

__all__ = ['AtomicCheckpointRunner', 'register_mmengine_safe_globals']
