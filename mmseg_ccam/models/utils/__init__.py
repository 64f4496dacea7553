from . import cross_channel_attention  # noqa: F401
