from . import data_preprocessor, decode_heads, losses, necks, segmentors, utils  # noqa: F401
