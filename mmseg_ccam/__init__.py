"""mmseg_ccam: joint semantic segmentation and monocular depth for MMSegmentation 1.x.

Importing the package registers every component into MMSegmentation's registries, so a
config only needs::

    custom_imports = dict(imports=['mmseg_ccam'], allow_failed_imports=False)

It also allow-lists the globals of MMEngine checkpoints for torch's ``weights_only`` loading
(:func:`mmseg_ccam.engine.register_mmengine_safe_globals`, an explicit call below), so that
``--resume`` and ``load_checkpoint`` work under torch >= 2.6.
"""
import warnings

# MMEngine imports pkg_resources, which setuptools deprecates, when a config inherits from
# `mmseg::`: every command printed that warning twice. Only this message, attributed to
# MMEngine's import or to pkg_resources' own import (run by importlib), is hidden; the same
# warning from any other module, and every other warning, still shows.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated as an API',
                        category=UserWarning,
                        module=r'(mmengine\.utils\.package_utils|importlib)$')

# MMSegmentation's own decode heads call its deprecated ``build_loss`` (two warnings per
# command, nothing a user can change): hidden when raised in mmseg.models.builder only.
warnings.filterwarnings('ignore', message='``build_loss`` would be deprecated soon',
                        category=UserWarning, module=r'mmseg\.models\.builder$')

import mmseg  # noqa: E402, F401  (fails early with mmseg's own message if mmcv is wrong)

from . import (  # noqa: E402, F401
    apis,
    augmentation,
    datasets,
    engine,
    evaluation,
    models,
    utils,
    visualization,
)
from .utils.quiet_logs import install_log_filters  # noqa: E402
from .version import __version__  # noqa: E402

engine.register_mmengine_safe_globals()
# MMEngine's "prefix is not set" notice for this package's metrics, and "GPU number" without
# CUDA (mmseg_ccam/utils/quiet_logs.py says why).
install_log_filters()

__all__ = ['__version__']
