"""Old positional-argument names of the disparity codec, kept only until the SynthCity tests call
:mod:`mmseg_ccam.datasets.cityscapes_geometry` (the one home of the codec) directly."""
import numpy as np

from ..cityscapes_geometry import depth_to_disparity_png as _encode
from ..cityscapes_geometry import disparity_png_to_depth as _decode


def depth_to_disparity_png(depth: np.ndarray, fx: float, baseline: float,
                           max_depth: float) -> np.ndarray:
    """:func:`mmseg_ccam.datasets.cityscapes_geometry.depth_to_disparity_png`."""
    return _encode(depth, baseline=baseline, fx=fx, max_depth=max_depth)


def disparity_png_to_depth(p: np.ndarray, fx: float, baseline: float) -> np.ndarray:
    """:func:`mmseg_ccam.datasets.cityscapes_geometry.disparity_png_to_depth`."""
    return _decode(p, baseline=baseline, fx=fx)
