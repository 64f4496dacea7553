"""Pure functional cores (numpy and torch) of AffineMix and ColorAug.

The numpy forms serve the data pipeline (one sample, ``H x W x C`` images); the torch forms
serve the semi-supervised step (batches, ``B x C x H x W``, any device), as does
:func:`strong_aug_batch` (the student's strong view). Each pair shares one
algorithm and accepts the same explicit parameter records, so they can be checked against
each other. The masks of the batch mixing are registered components (:mod:`.mix_masks`).
"""
from .affine_mix import (
    DEFAULT_MARGIN,
    WARP_DEFAULTS,
    AffineMixBatchResult,
    AffineMixResult,
    AffineParams,
    affine_mix,
    affine_mix_batch,
    class_mask_batch,
    nearest_indices,
    occlusion_mask,
    sample_affine_params,
    sample_affine_params_batch,
    source_coords,
    warp_depth,
    warp_image,
    warp_nearest,
)
from .color_aug import (
    COLOR_AUG_DEFAULTS,
    ColorAugBatchResult,
    ColorAugParams,
    ColorJitter,
    color_aug,
    color_aug_batch,
    jitter_range,
    sample_color_aug_params,
)
from .mix_masks import MIX_MASKS, BaseMixMask, build_mix_mask
from .strong_aug import (
    STRONG_AUG_DEFAULTS,
    StrongAugBatchResult,
    gaussian_kernels,
    strong_aug_batch,
)

__all__ = [
    'AffineParams', 'AffineMixResult', 'AffineMixBatchResult', 'sample_affine_params',
    'sample_affine_params_batch', 'source_coords', 'nearest_indices', 'warp_image',
    'warp_nearest', 'warp_depth', 'occlusion_mask', 'affine_mix', 'affine_mix_batch',
    'class_mask_batch', 'DEFAULT_MARGIN', 'WARP_DEFAULTS', 'MIX_MASKS', 'BaseMixMask',
    'build_mix_mask', 'COLOR_AUG_DEFAULTS', 'STRONG_AUG_DEFAULTS', 'ColorJitter',
    'ColorAugParams', 'ColorAugBatchResult', 'jitter_range', 'sample_color_aug_params',
    'color_aug', 'color_aug_batch', 'StrongAugBatchResult', 'gaussian_kernels',
    'strong_aug_batch'
]
