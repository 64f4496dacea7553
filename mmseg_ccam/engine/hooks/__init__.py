# Importing the modules registers the hooks in mmseg.registry.HOOKS.
from . import mean_teacher_hook, sync_buffers_hook  # noqa: F401
