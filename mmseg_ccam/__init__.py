"""mmseg_ccam: joint semantic segmentation and monocular depth for MMSegmentation 1.x.

Importing the package registers every component into MMSegmentation's registries, so a
config only needs::

    custom_imports = dict(imports=['mmseg_ccam'], allow_failed_imports=False)
"""
import mmseg  # noqa: F401  (fails early with mmseg's own message if mmcv is wrong)

from . import (  # noqa: F401
    apis,
    augmentation,
    datasets,
    engine,
    evaluation,
    models,
    utils,
    visualization,
)
from .version import __version__

__all__ = ['__version__']
