"""Global colour jitter at ColorAug's strength: the control arm of ColorAug's comparison."""
from __future__ import annotations

import numpy as np
from mmseg.registry import TRANSFORMS

from mmseg_ccam.augmentation.color_aug import color_aug, sample_color_aug_params
from mmseg_ccam.datasets.transforms.color_aug import ColorAug


@TRANSFORMS.register_module()
class GlobalColorJitter(ColorAug):
    """ColorAug's photometric change applied to the whole image as one region.

    The same factor ranges, order and arithmetic as :class:`ColorAug`, but the image is one
    segment: with probability ``prob`` every pixel gets the same brightness, contrast (about
    the image's mean luma), saturation and hue change. Pixel for pixel it changes colours as
    often and as strongly as ColorAug, without knowing the semantics, which is what a
    comparison "semantics-aware vs global colour augmentation" must hold fixed.
    Randomness: numpy's global RNG (as ColorAug).

    Required Keys:

    - img (H x W x 3, uint8 or float)

    Modified Keys:

    - img

    Added Keys:

    - color_aug_classes (np.ndarray): ``[0]`` if the image was changed, else empty.

    Args:
        channel_order (str): ``'bgr'`` (mmseg's default) or ``'rgb'``. Default: 'bgr'.
        value_range (tuple | None): Clamp bounds of pixel values. Default: (0, 255).
        **jitter: ``prob`` (of a change per image), ``brightness``, ``contrast``,
            ``saturation``, ``hue``: as :class:`ColorAug`, with its defaults.
    """

    def __init__(self, channel_order: str = 'bgr', value_range=(0.0, 255.0),
                 **jitter) -> None:
        # prob, brightness, contrast, saturation, hue: ColorAug's (COLOR_AUG_DEFAULTS), so
        # that the control stays at ColorAug's strength when those defaults change.
        super().__init__(ignore_index=255, channel_order=channel_order,
                         value_range=value_range, **jitter)

    def transform(self, results: dict) -> dict:
        if 'img' not in results:
            raise KeyError("GlobalColorJitter: results has no 'img'; put LoadImageFromFile "
                           'before it.')
        img = results['img']
        whole = np.zeros(img.shape[:2], np.uint8)
        params = sample_color_aug_params(whole, self.jitter, self.ignore_index)
        results['img'] = color_aug(img, whole, params, self.channel_order, self.value_range)
        results['color_aug_classes'] = params.classes
        return results
