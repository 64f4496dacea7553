from . import backbones, data_preprocessor, decode_heads, losses, necks, segmentors, utils  # noqa: F401
from .backbones import EfficientNetLite
from .decode_heads import DepthHead
from .losses import BerHuLoss, InverseDepthL1Loss
from .necks import CCAMNeck
from .segmentors import SegDepthEncoderDecoder
from .utils import CrossChannelAttention

__all__ = [
    'EfficientNetLite', 'CrossChannelAttention', 'CCAMNeck', 'DepthHead', 'BerHuLoss',
    'InverseDepthL1Loss', 'SegDepthEncoderDecoder'
]
