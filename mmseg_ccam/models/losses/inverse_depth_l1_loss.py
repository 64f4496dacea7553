"""L1 loss on inverse depth over valid pixels."""
from typing import Optional, Union

import torch
from mmseg.registry import MODELS
from torch import Tensor

from .depth_loss_utils import MaskedDepthLoss, masked_reduce, valid_depth_mask


def inverse_depth_l1_loss(pred: Tensor,
                          target: Tensor,
                          weight: Optional[Tensor] = None,
                          eps: float = 1e-6,
                          reduction: str = 'mean',
                          avg_factor: Union[float, Tensor, None] = None) -> Tensor:
    """``|1 / pred - 1 / target|`` averaged over the pixels where ``target > eps``.

    Errors on inverse depth weigh near pixels more than far ones, like a loss
    on stereo disparity. ``pred`` is floored at ``eps`` so the loss stays
    finite for a non-positive prediction.

    Args:
        pred (Tensor): Predicted depth (metres), e.g. (B, 1, H, W).
        target (Tensor): Target depth of the same shape; ``<= eps`` or
            non-finite = invalid.
        weight (Tensor, optional): Per-sample (B,) or per-pixel weight.
        eps (float): Validity threshold on ``target`` and floor of ``pred``.
        reduction (str): 'mean' (over valid pixels), 'sum' or 'none'.
        avg_factor (float | Tensor, optional): Denominator of the mean.

    Returns:
        Tensor: The loss, in 1/metres (0 with zero gradients if no pixel is
        valid).
    """
    if pred.shape != target.shape:
        raise ValueError(f'inverse_depth_l1_loss: pred {tuple(pred.shape)} and target '
                         f'{tuple(target.shape)} must have the same shape.')
    valid = valid_depth_mask(target, eps)
    # Substitute invalid targets before dividing: 1/0 = inf would give
    # inf - inf = NaN whose gradient survives a later mask.
    safe_target = torch.where(valid, target, torch.ones_like(target))
    loss_map = (1.0 / pred.clamp(min=eps) - 1.0 / safe_target).abs()
    return masked_reduce(loss_map, valid, weight, reduction, avg_factor)


@MODELS.register_module()
class InverseDepthL1Loss(MaskedDepthLoss):
    """L1 loss on inverse depth; see :func:`inverse_depth_l1_loss`.

    Args:
        reduction, loss_weight, eps, loss_name: As in :class:`MaskedDepthLoss` (shapes
            too). Default to 'mean', 1.0, 1e-6 and 'loss_inv_l1'.
    """

    loss_fn = staticmethod(inverse_depth_l1_loss)

    def __init__(self,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 eps: float = 1e-6,
                 loss_name: str = 'loss_inv_l1') -> None:
        super().__init__(reduction, loss_weight, eps, loss_name)
