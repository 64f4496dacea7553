from .seg_depth_encoder_decoder import SegDepthEncoderDecoder

__all__ = ['SegDepthEncoderDecoder']
