"""Reverse Huber (berHu) depth loss over valid pixels."""
from typing import Optional, Union

import torch
from mmseg.registry import MODELS
from torch import Tensor

from .depth_loss_utils import MaskedDepthLoss, masked_reduce, valid_depth_mask


def berhu_loss(pred: Tensor,
               target: Tensor,
               weight: Optional[Tensor] = None,
               threshold: float = 0.2,
               eps: float = 1e-6,
               reduction: str = 'mean',
               avg_factor: Union[float, Tensor, None] = None) -> Tensor:
    """berHu loss (Laina et al., 2016) on the pixels where ``target > eps``.

    With ``e = |pred - target|`` and ``c = threshold * max(e)`` (max over all
    valid pixels of the batch, detached)::

        berhu(e) = e                      if e <= c
                   (e^2 + c^2) / (2 c)    otherwise

    Args:
        pred (Tensor): Predicted depth, e.g. (B, 1, H, W).
        target (Tensor): Target depth of the same shape; ``<= eps`` or
            non-finite = invalid.
        weight (Tensor, optional): Per-sample (B,) or per-pixel weight.
        threshold (float): ``c`` as a fraction of the largest error.
        eps (float): Validity threshold on ``target`` and floor of ``c``.
        reduction (str): 'mean' (over valid pixels), 'sum' or 'none'.
        avg_factor (float | Tensor, optional): Denominator of the mean.

    Returns:
        Tensor: The loss (0 with zero gradients if no pixel is valid).
    """
    if pred.shape != target.shape:
        raise ValueError(f'berhu_loss: pred {tuple(pred.shape)} and target '
                         f'{tuple(target.shape)} must have the same shape.')
    valid = valid_depth_mask(target, eps)
    safe_target = torch.where(valid, target, torch.ones_like(target))
    err = (pred - safe_target).abs()
    valid_err = torch.where(valid, err, torch.zeros_like(err)).detach()
    # c is a constant of the loss, not something to optimise; the floor keeps
    # (e^2 + c^2) / 2c finite when every error is 0.
    c = (threshold * valid_err.max()).clamp(min=eps)
    loss_map = torch.where(err <= c, err, (err * err + c * c) / (2 * c))
    return masked_reduce(loss_map, valid, weight, reduction, avg_factor)


@MODELS.register_module()
class BerHuLoss(MaskedDepthLoss):
    """berHu (reverse Huber) loss on depth; see :func:`berhu_loss`.

    Args:
        threshold (float): ``c = threshold * max |pred - target|``.
            Defaults to 0.2.
        reduction, loss_weight, eps, loss_name: As in :class:`MaskedDepthLoss` (shapes
            too). Default to 'mean', 1.0, 1e-6 and 'loss_berhu'.
    """

    loss_fn = staticmethod(berhu_loss)

    def __init__(self,
                 threshold: float = 0.2,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 eps: float = 1e-6,
                 loss_name: str = 'loss_berhu') -> None:
        super().__init__(reduction, loss_weight, eps, loss_name, threshold=threshold)
        self.threshold = threshold
