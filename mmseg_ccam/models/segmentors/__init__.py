# The config-key checker lives in the bottom layer (models, datasets and tools share it).
from mmseg_ccam.utils.config_check import ConfigKeyError, check_cfg_keys

from .seg_depth_encoder_decoder import SegDepthEncoderDecoder

__all__ = ['SegDepthEncoderDecoder', 'ConfigKeyError', 'check_cfg_keys']
from . import mean_teacher_seg_depth  # noqa: F401, E402
from .seg_depth_tta_model import SegDepthTTAModel, tta_config  # noqa: F401, E402
