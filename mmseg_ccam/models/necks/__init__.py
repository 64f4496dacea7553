from . import ccam_neck  # noqa: F401
