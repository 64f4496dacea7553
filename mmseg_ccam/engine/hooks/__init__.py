# Importing the modules registers the hooks in mmseg.registry.HOOKS.
from . import (  # noqa: F401
    atomic_checkpoint_hook,
    eval_progress_hook,
    mean_teacher_hook,
    random_state_hook,
    sync_buffers_hook,
)
