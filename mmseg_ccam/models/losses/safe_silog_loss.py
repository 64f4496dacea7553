"""Scale-invariant log loss whose gradient stays finite where the loss is 0."""
from typing import Optional, Union

import torch
import torch.nn as nn
from mmseg.models.losses.utils import weight_reduce_loss
from mmseg.registry import MODELS
from torch import Tensor


def safe_silog_loss(pred: Tensor,
                    target: Tensor,
                    weight: Optional[Tensor] = None,
                    eps: float = 1e-6,
                    reduction: str = 'mean',
                    avg_factor: Union[float, Tensor, None] = None) -> Tensor:
    """SI-log loss of mmseg's ``silog_loss`` with a finite gradient everywhere.

    Per sample, over its valid pixels (target finite and ``> eps``), with
    ``d = log(target) - log(max(pred, eps))``::

        loss = sqrt(mean(d^2) - 0.5 * mean(d)^2)

    then reduced over samples like mmseg (a sample without a valid pixel counts as 0).

    Differences from mmseg's ``silog_loss``, all on degenerate inputs:

    - Where the variance term is 0 (an exact prediction, or a sample without a valid pixel),
      mmseg returns ``sqrt(0)`` whose gradient is ``inf * 0 = NaN``: one exactly predicted
      sample poisons every weight through the optimizer step. Here the loss is the same 0 with
      a zero gradient.
    - A NaN *prediction* at a valid pixel makes the loss NaN (mmseg masks it out with the
      invalid pixels), so a diverged model is reported (by the non-finite loss check of the
      segmentors) instead of being trained on the remaining pixels.

    ``log`` never sees 0: targets are replaced by 1 where invalid and predictions are floored
    at ``eps`` (a zero or negative prediction is a large finite error; like mmseg, the floor
    passes no gradient).

    Args:
        pred (Tensor): Predicted depth (B, 1, H, W) or (B, ...), metres.
        target (Tensor): Target depth of the same shape; ``<= eps`` or non-finite = invalid.
        weight (Tensor, optional): Per-sample weight (B,).
        eps (float): Validity threshold on ``target`` and floor of ``pred``.
        reduction (str): 'mean', 'sum' or 'none' (per-sample losses).
        avg_factor (float | Tensor, optional): Denominator of the mean over samples.

    Returns:
        Tensor: The loss.
    """
    if pred.shape != target.shape:
        raise ValueError(f'safe_silog_loss: pred {tuple(pred.shape)} and target '
                         f'{tuple(target.shape)} must have the same shape.')
    pred, target = pred.flatten(1), target.flatten(1)
    valid = torch.isfinite(target) & (target > eps)
    safe_target = torch.where(valid, target, torch.ones_like(target))
    diff = torch.log(safe_target) - torch.log(pred.clamp(min=eps))
    diff = torch.where(valid, diff, torch.zeros_like(diff))
    count = valid.sum(dim=1).clamp(min=1).to(diff.dtype)
    mean_sq = diff.pow(2).sum(dim=1) / count
    mean = diff.sum(dim=1) / count
    var = mean_sq - 0.5 * mean.pow(2)
    # Double where: sqrt only sees positive values, so its gradient is finite; the result is 0
    # where var <= 0 (exactly 0 up to rounding, since var >= mean_sq / 2 >= 0).
    positive = var > 0
    loss = torch.where(positive, torch.sqrt(torch.where(positive, var, torch.ones_like(var))),
                       torch.zeros_like(var))
    # NaN predictions fail `var > 0`; put them back so that the loss reports them.
    loss = torch.where(torch.isnan(var), var, loss)
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class SafeSiLogLoss(nn.Module):
    """Drop-in replacement of mmseg's ``SiLogLoss`` without its NaN gradient at zero loss.

    Same arguments, defaults, loss name and values as ``SiLogLoss`` wherever that one's
    gradient is finite; see :func:`safe_silog_loss`.

    Args:
        reduction (str): 'mean', 'sum' or 'none'. Defaults to 'mean'.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        eps (float): Targets ``<= eps`` are invalid; predictions are floored at it.
            Defaults to 1e-6.
        loss_name (str): Name in the loss dict; must start with ``loss_`` to be
            back-propagated. Defaults to 'loss_silog'.

    Shapes:
        - pred, target: (B, 1, H, W) (any identical shapes with a batch dimension work).
    """

    def __init__(self,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 eps: float = 1e-6,
                 loss_name: str = 'loss_silog') -> None:
        super().__init__()
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f"SafeSiLogLoss: reduction must be 'none', 'mean' or 'sum', "
                             f'got {reduction!r}.')
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.eps = eps
        self._loss_name = loss_name

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Union[float, Tensor, None] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        """Compute the weighted loss."""
        reduction = reduction_override if reduction_override else self.reduction
        return self.loss_weight * safe_silog_loss(
            pred, target, weight, eps=self.eps, reduction=reduction, avg_factor=avg_factor)

    @property
    def loss_name(self) -> str:
        """Name of the loss item in the loss dict."""
        return self._loss_name
