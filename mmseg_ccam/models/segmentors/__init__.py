from . import seg_depth_encoder_decoder  # noqa: F401
