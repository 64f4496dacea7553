"""AffineMix's mask: the partner is pasted where it is nearer (docs/method.md, "AffineMix")."""
from typing import Optional

import torch

from ..affine_mix import DEFAULT_MARGIN, check_margin, occlusion_mask
from .base import MIX_MASKS, BaseMixMask


@MIX_MASKS.register_module()
class DepthOrderMask(BaseMixMask):
    """``M = valid_B & (~valid_A | (1 + margin) * Z_B < Z_A)`` (see :func:`occlusion_mask`).

    Args:
        margin (float): Relative depth margin >= 0: the partner must be nearer by more than
            ``margin`` times its own depth (Hoyer et al.'s DepthMix safeguard). Default: 0.0,
            plain depth order.
    """

    def __init__(self, margin: float = DEFAULT_MARGIN) -> None:
        self.margin = check_margin(margin)

    def __call__(self, depth_a: torch.Tensor, depth_b: torch.Tensor,
                 seg_b: Optional[torch.Tensor], *, generator: Optional[torch.Generator],
                 ignore_index: int) -> torch.Tensor:
        return occlusion_mask(depth_a, depth_b, self.margin)
