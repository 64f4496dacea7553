"""ColorAug as an MMSegmentation pipeline transform (thin wrapper over the numpy core)."""
from __future__ import annotations

from dataclasses import asdict
from typing import Optional, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS

from mmseg_ccam.augmentation.color_aug import (
    COLOR_AUG_DEFAULTS,
    ColorAugParams,
    ColorJitter,
    color_aug,
    sample_color_aug_params,
)

Range = Union[float, Tuple[float, float]]


@TRANSFORMS.register_module()
class ColorAug(BaseTransform):
    """Independent photometric change per semantic class (docs/method.md, "ColorAug").

    Each class present in ``results[guide_key]`` (``ignore_index`` excluded) is selected with
    probability ``prob``; its pixels get their own random brightness, contrast (about the
    class-region mean luma), saturation and hue (YIQ rotation) change, ColorJitter-style
    ranges, fixed order. Pixels of unselected classes and of ``ignore_index`` are bit-for-bit
    unchanged; depth is untouched (geometry does not depend on colour). A frame without
    labels (all ``ignore_index``) passes unchanged. Randomness: numpy's global RNG.

    Required Keys:

    - img (H x W x 3, uint8 or float), ``guide_key`` (H x W labels)

    Modified Keys:

    - img

    Added Keys:

    - color_aug_classes (np.ndarray): class ids that were changed.

    Args:
        prob (float): Per-class probability of a change. Default: 0.5.
        brightness (float | tuple): Factor range ``[max(0, 1-v), 1+v]`` or ``(lo, hi)``.
            Default: 0.4.
        contrast (float | tuple): As ``brightness``. Default: 0.4.
        saturation (float | tuple): As ``brightness``. Default: 0.4.
        hue (float | tuple): Hue rotation in turns, ``[-v, v]`` with ``v <= 0.5``.
            Default: 0.1.
        ignore_index (int): Label never changed. Default: 255.
        guide_key (str): Key of the label map that guides the change. Default: 'gt_seg_map'.
        channel_order (str): ``'bgr'`` for OpenCV-loaded images (mmseg's default) or
            ``'rgb'``. Default: 'bgr'.
        value_range (tuple | None): Clamp bounds of pixel values. Default: (0, 255).
    """

    def __init__(self,
                 prob: float = COLOR_AUG_DEFAULTS['prob'],
                 brightness: Range = COLOR_AUG_DEFAULTS['brightness'],
                 contrast: Range = COLOR_AUG_DEFAULTS['contrast'],
                 saturation: Range = COLOR_AUG_DEFAULTS['saturation'],
                 hue: Range = COLOR_AUG_DEFAULTS['hue'],
                 ignore_index: int = 255,
                 guide_key: str = 'gt_seg_map',
                 channel_order: str = 'bgr',
                 value_range: Optional[Tuple[float, float]] = (0.0, 255.0)) -> None:
        # validated once, at config build time
        self.jitter = ColorJitter(prob, brightness, contrast, saturation, hue)
        if channel_order not in ('rgb', 'bgr'):
            raise ValueError(f"ColorAug: channel_order must be 'rgb' or 'bgr', "
                             f'got {channel_order!r}')
        self.ignore_index = ignore_index
        self.guide_key = guide_key
        self.channel_order = channel_order
        self.value_range = value_range

    @cache_randomness
    def _sample_params(self, seg: np.ndarray) -> ColorAugParams:
        return sample_color_aug_params(seg, self.jitter, self.ignore_index)

    def transform(self, results: dict) -> dict:
        if 'img' not in results:
            raise KeyError("ColorAug: results has no 'img'; put LoadImageFromFile before it.")
        if self.guide_key not in results:
            raise KeyError(f"ColorAug: results has no '{self.guide_key}' (guide_key); put "
                           'LoadAnnotations before ColorAug or set guide_key to an existing '
                           'label map.')
        img, seg = results['img'], results[self.guide_key]
        if seg.shape != img.shape[:2]:
            raise ValueError(f"ColorAug: '{self.guide_key}' is {seg.shape} but 'img' is "
                             f'{img.shape}; they must have the same height and width.')
        params = self._sample_params(seg)
        results['img'] = color_aug(img, seg, params, self.channel_order, self.value_range)
        results['color_aug_classes'] = params.classes
        return results

    def __repr__(self) -> str:
        jitter = ', '.join(f'{k}={v}' for k, v in asdict(self.jitter).items())
        return (f'{self.__class__.__name__}({jitter}, '
                f'ignore_index={self.ignore_index}, guide_key={self.guide_key!r}, '
                f'channel_order={self.channel_order!r}, value_range={self.value_range})')
