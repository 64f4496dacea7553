"""ClassMix's mask (Olsson et al.): half of the partner's classes, pasted whole."""
from typing import Optional

import torch

from ..affine_mix import class_mask_batch
from .base import MIX_MASKS, BaseMixMask


@MIX_MASKS.register_module()
class ClassMask(BaseMixMask):
    """Per sample, ``ceil(n / 2)`` of the ``n`` classes in its partner's labels (the ignore
    index excluded), drawn without replacement, pasted whole; depth is not read. ClassMix is
    this mask with an unmoved partner (``mix.warp=None``); the control without depth.
    """

    def __call__(self, depth_a: torch.Tensor, depth_b: torch.Tensor,
                 seg_b: Optional[torch.Tensor], *, generator: Optional[torch.Generator],
                 ignore_index: int) -> torch.Tensor:
        if seg_b is None:
            raise ValueError("ClassMask pastes classes of the partner's labels: give `seg` to "
                             'the mixing.')
        return class_mask_batch(seg_b, ignore_index, generator)
