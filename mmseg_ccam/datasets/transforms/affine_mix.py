"""AffineMix as an MMSegmentation multi-image transform (thin wrapper over the numpy core)."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS

from mmseg_ccam.augmentation.affine_mix import (
    DEFAULT_FLIP_PROB,
    DEFAULT_MARGIN,
    DEFAULT_MAX_TRANSLATE_RATIO,
    DEFAULT_SCALE_RANGE,
    AffineParams,
    affine_mix,
    check_margin,
    sample_affine_params,
)


@TRANSFORMS.register_module()
class AffineMix(BaseTransform):
    """Paste an affinely moved partner sample where it is nearer than this one.

    See docs/method.md, "AffineMix".

    The partner is flipped (``flip_prob``), zoomed about the image centre by
    ``s ~ U(scale_range)`` (its depth divided by ``s``) and translated by up to
    ``max_translate_ratio`` of the image size; then, per pixel, the partner covers the sample
    where its depth is valid and smaller than the sample's by more than ``margin`` times its
    own depth (invalid sample depth counts as infinitely far). Image, labels, depth and
    ``extra_keys`` are mixed with that one mask; with ``margin=0`` depth becomes the nearer
    valid depth. ``warp=False`` is Hoyer et al.'s DepthMix (no move).

    It follows MMSegmentation's multi-image convention (like ``RandomMosaic``): wrap the
    dataset in ``MultiImageMixDataset``, which calls :meth:`get_indices` and stores the
    partner's pipeline output in ``results['mix_results'][0]``. Both samples must already
    have the same size, so put AffineMix after the crop, and put ``LoadCityscapesDepth``
    (which provides ``gt_depth_map``) in the dataset's own pipeline.

    Randomness comes from numpy's global RNG, which MMEngine seeds.

    Required Keys:

    - img (H x W x C), gt_seg_map (H x W), gt_depth_map (H x W float, 0 = invalid)
    - mix_results (list with the partner's dict holding the same keys)

    Modified Keys:

    - img, gt_seg_map, gt_depth_map (and ``extra_keys``)

    Added Keys:

    - mix_mask (np.uint8, H x W): 1 where the partner was pasted, 0 elsewhere (all 0 when
      the transform was skipped by ``prob``). Its key is appended to ``seg_fields`` so later
      geometric transforms keep it aligned with the image.
    - affine_mix_params (dict | None): ``scale``, ``translate``, ``flip`` of the partner warp
      (None when skipped or ``warp=False``).

    Args:
        prob (float): Probability of mixing. Default: 1.0.
        scale_range (tuple[float, float]): Zoom range of the partner. Default: (1.0, 1.5).
        max_translate_ratio (float): Maximum shift as a fraction of width/height.
            Default: 0.2.
        flip_prob (float): Probability of a horizontal flip of the partner. Default: 0.5.
        seg_pad_val (int): Label given to partner pixels from outside its image inside the
            core; those pixels are never pasted. Default: 255.
        warp (bool): False gives DepthMix (partner unmoved). Default: True.
        extra_keys (Sequence[str]): Further per-pixel maps (confidence, weights) of both
            samples, warped by nearest neighbour and mixed with the same mask. Default: ().
        margin (float): Relative depth margin: the partner is pasted only where
            ``(1 + margin) * Z_partner < Z_sample`` (Hoyer et al.'s DepthMix margin; see
            ``mmseg_ccam.augmentation.occlusion_mask``). Default: 0.0 (plain depth order).
    """

    def __init__(self,
                 prob: float = 1.0,
                 scale_range: Tuple[float, float] = DEFAULT_SCALE_RANGE,
                 max_translate_ratio: float = DEFAULT_MAX_TRANSLATE_RATIO,
                 flip_prob: float = DEFAULT_FLIP_PROB,
                 seg_pad_val: int = 255,
                 warp: bool = True,
                 extra_keys: Sequence[str] = (),
                 margin: float = DEFAULT_MARGIN) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'AffineMix: prob must be in [0, 1], got {prob}')
        # validate the ranges once, at config build time
        sample_affine_params(2, 2, scale_range, max_translate_ratio, flip_prob,
                             rng=np.random.RandomState(0))
        self.prob = prob
        self.scale_range = tuple(scale_range)
        self.max_translate_ratio = max_translate_ratio
        self.flip_prob = flip_prob
        self.seg_pad_val = seg_pad_val
        self.warp = warp
        self.extra_keys = tuple(extra_keys)
        self.margin = check_margin(margin)

    def get_indices(self, dataset) -> List[int]:
        """One random partner index (``MultiImageMixDataset`` loads it into mix_results)."""
        return [int(np.random.randint(0, len(dataset)))]

    @cache_randomness
    def _do_mix(self) -> bool:
        return bool(np.random.rand() < self.prob)

    @cache_randomness
    def _sample_params(self, height: int, width: int) -> Optional[AffineParams]:
        if not self.warp:
            return None
        return sample_affine_params(height, width, self.scale_range, self.max_translate_ratio,
                                    self.flip_prob)

    @staticmethod
    def _get(results: dict, key: str, who: str) -> np.ndarray:
        if key not in results:
            hint = ''
            if key == 'gt_depth_map':
                hint = (' Put LoadCityscapesDepth (or another loader that writes '
                        "'gt_depth_map') in the dataset pipeline before AffineMix.")
            elif key == 'gt_seg_map':
                hint = ' Put LoadAnnotations in the dataset pipeline before AffineMix.'
            raise KeyError(f"AffineMix: the {who} has no '{key}'.{hint}")
        return results[key]

    def transform(self, results: dict) -> dict:
        mix_results = results.get('mix_results')
        if not mix_results:
            raise KeyError("AffineMix: results['mix_results'] is missing or empty: AffineMix "
                           'needs a partner sample; wrap the dataset in MultiImageMixDataset '
                           '(which calls AffineMix.get_indices).')
        partner = mix_results[0]
        keys = ('img', 'gt_seg_map', 'gt_depth_map') + self.extra_keys
        a = {k: self._get(results, k, 'sample') for k in keys}
        b = {k: self._get(partner, k, 'partner sample (mix_results[0])') for k in keys}
        hw = a['img'].shape[:2]
        for k in keys:
            for who, d in (('sample', a), ('partner sample', b)):
                if d[k].shape[:2] != hw:
                    raise ValueError(
                        f"AffineMix: '{k}' of the {who} is {d[k].shape[0]}x{d[k].shape[1]} but "
                        f'the image is {hw[0]}x{hw[1]}; sample and partner must have the same '
                        'size (put AffineMix after RandomCrop / resizing to a fixed size).')
        if b['img'].shape != a['img'].shape:
            raise ValueError(f"AffineMix: 'img' of the partner sample has shape {b['img'].shape}"
                             f" but the sample's is {a['img'].shape}; both must be equal "
                             '(put AffineMix after RandomCrop / resizing to a fixed size).')

        seg_fields = results.setdefault('seg_fields', [])
        if 'mix_mask' not in seg_fields:
            seg_fields.append('mix_mask')
        if not self._do_mix():
            results['mix_mask'] = np.zeros(hw, np.uint8)
            results['affine_mix_params'] = None
            return results

        params = self._sample_params(*hw)
        out = affine_mix(
            a['img'],
            a['gt_seg_map'],
            a['gt_depth_map'],
            b['img'],
            b['gt_seg_map'],
            b['gt_depth_map'],
            params,
            seg_pad_val=self.seg_pad_val,
            extra_a=[a[k] for k in self.extra_keys],
            extra_b=[b[k] for k in self.extra_keys],
            margin=self.margin)
        results['img'] = out.img
        results['gt_seg_map'] = out.seg
        results['gt_depth_map'] = out.depth
        for k, v in zip(self.extra_keys, out.extra):
            results[k] = v
        results['mix_mask'] = out.mask.astype(np.uint8)
        results['affine_mix_params'] = None if params is None else params.to_dict()
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, scale_range={self.scale_range}, '
                f'max_translate_ratio={self.max_translate_ratio}, flip_prob={self.flip_prob}, '
                f'seg_pad_val={self.seg_pad_val}, warp={self.warp}, '
                f'extra_keys={self.extra_keys}, margin={self.margin})')
