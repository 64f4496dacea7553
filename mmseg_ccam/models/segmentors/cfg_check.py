"""Former home of the config-key checker; it now lives in :mod:`mmseg_ccam.utils.config_check`
(the bottom layer, so that models, datasets and tools share it). Kept as a re-export."""
from mmseg_ccam.utils.config_check import ConfigKeyError, check_cfg_keys, closest_key

__all__ = ['ConfigKeyError', 'check_cfg_keys', 'closest_key']
