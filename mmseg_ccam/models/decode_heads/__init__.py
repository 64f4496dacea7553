from . import depth_head  # noqa: F401
