"""Bottom layer of the package: shared exceptions, config checks and start-up helpers.

Nothing here imports the package's models, datasets or engine; they import from here.
"""
from .config_check import ConfigKeyError, check_cfg_keys, closest_key
from .dist_cpu import init_cpu_distributed
from .exceptions import IncompatibleCheckpointError
from .file_digest import file_sha256
from .launch import build_runner, load_config

__all__ = [
    'ConfigKeyError', 'IncompatibleCheckpointError', 'build_runner', 'check_cfg_keys',
    'closest_key', 'file_sha256', 'init_cpu_distributed', 'load_config'
]
