from . import depth_metric  # noqa: F401
