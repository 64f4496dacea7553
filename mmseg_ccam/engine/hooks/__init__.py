from . import mean_teacher_hook  # noqa: F401
from . import sync_buffers_hook  # noqa: F401
