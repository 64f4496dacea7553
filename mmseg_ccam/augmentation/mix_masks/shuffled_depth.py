"""The control for depth order: every sample gets another sample's AffineMix mask."""
from typing import Optional

import torch

from ..affine_mix import DEFAULT_MARGIN, check_margin, occlusion_mask
from .base import MIX_MASKS, BaseMixMask


@MIX_MASKS.register_module()
class ShuffledDepthMask(BaseMixMask):
    """Sample ``i`` receives the :class:`DepthOrderMask` computed for sample ``d[i]``, ``d`` a
    random cyclic shift of the batch (no fixed point, needs ``B >= 2``), kept to where its own
    moved partner has valid pixels: the pasted fraction and blob shapes stay AffineMix's while
    their agreement with this image's geometry is lost.

    Args:
        margin (float): Relative depth margin of the depth-order masks. Default: 0.0.
    """

    def __init__(self, margin: float = DEFAULT_MARGIN) -> None:
        self.margin = check_margin(margin)

    def __call__(self, depth_a: torch.Tensor, depth_b: torch.Tensor,
                 seg_b: Optional[torch.Tensor], *, generator: Optional[torch.Generator],
                 ignore_index: int) -> torch.Tensor:
        b = depth_a.shape[0]
        if b < 2:
            raise ValueError("ShuffledDepthMask takes another sample's mask and needs a batch "
                             f'of at least 2, got {b}')
        mask = occlusion_mask(depth_a, depth_b, self.margin)
        gdev = generator.device if generator is not None else torch.device('cpu')
        shift = int(torch.randint(1, b, (1, ), generator=generator, device=gdev))
        # another pair's mask, kept to where this sample's moved partner has pixels
        return mask[(torch.arange(b, device=mask.device) + shift) % b] & (depth_b > 0)
