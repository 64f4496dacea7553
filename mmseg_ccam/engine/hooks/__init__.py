from . import mean_teacher_hook  # noqa: F401
