"""The camera of the inference APIs is :mod:`mmseg_ccam.datasets.cityscapes_geometry`; this
module keeps the old positional ``depth_to_disparity_png(depth, baseline, fx)`` only until its
last callers pass keywords."""
import numpy as np

from ..datasets.cityscapes_geometry import depth_to_disparity_png as _encode


def depth_to_disparity_png(depth: np.ndarray, baseline: float, fx: float) -> np.ndarray:
    """:func:`mmseg_ccam.datasets.cityscapes_geometry.depth_to_disparity_png`."""
    return _encode(depth, baseline=baseline, fx=fx)
