from .seg_depth_encoder_decoder import SegDepthEncoderDecoder

__all__ = ['SegDepthEncoderDecoder']
from . import mean_teacher_seg_depth  # noqa: F401
