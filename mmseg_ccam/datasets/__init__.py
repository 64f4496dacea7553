from . import cityscapes_depth, samplers, transforms  # noqa: F401
