"""Shared parts of the depth losses that count valid pixels only: the mask, the reduction and
the loss-module interface of mmseg (``forward(pred, target, weight, avg_factor,
reduction_override)``, ``loss_name``)."""
from typing import Callable, Optional, Union

import torch
import torch.nn as nn
from torch import Tensor


def valid_depth_mask(target: Tensor, eps: float = 1e-6) -> Tensor:
    """Valid pixels of a depth target: finite and greater than ``eps``.

    Depth 0 marks "no measurement" everywhere in mmseg_ccam; callers that need
    a depth range (e.g. :class:`DepthHead`) zero the out-of-range targets first.
    """
    return torch.isfinite(target) & (target > eps)


def _broadcast_weight(weight: Tensor, ref: Tensor) -> Tensor:
    """Accept a per-sample (B,) or a per-pixel weight broadcastable to ``ref``."""
    weight = weight.to(ref.dtype)
    if weight.dim() == 1 and ref.dim() > 1 and weight.numel() == ref.shape[0]:
        weight = weight.reshape(-1, *([1] * (ref.dim() - 1)))
    try:
        return torch.broadcast_to(weight, ref.shape)
    except RuntimeError as err:
        raise ValueError(f'depth loss: weight of shape {tuple(weight.shape)} is neither per '
                         f'sample (B,) nor broadcastable to the prediction '
                         f'{tuple(ref.shape)}.') from err


def masked_reduce(loss_map: Tensor,
                  valid: Tensor,
                  weight: Optional[Tensor] = None,
                  reduction: str = 'mean',
                  avg_factor: Union[float, Tensor, None] = None) -> Tensor:
    """Reduce a per-pixel loss over the valid pixels.

    Invalid pixels are excluded with ``torch.where`` (not multiplied by 0), so
    a non-finite value there cannot leak into the loss or its gradient. With
    ``reduction='mean'`` the sum is divided by ``avg_factor`` or, by default,
    by the number of valid pixels (weights scale each pixel's contribution but
    do not change the count). No valid pixel at all gives an exact 0 that is
    still connected to the graph, so ``backward()`` yields zero gradients.

    Args:
        loss_map (Tensor): Per-pixel loss, any shape.
        valid (Tensor): Bool mask of the same shape.
        weight (Tensor, optional): Per-sample (B,) or broadcastable per-pixel
            weight.
        reduction (str): 'mean', 'sum' or 'none' ('none' returns the map with
            0 at invalid pixels).
        avg_factor (float | Tensor, optional): Denominator of the mean.

    Returns:
        Tensor: Scalar loss, or the masked map for ``reduction='none'``.
    """
    loss_map = torch.where(valid, loss_map, torch.zeros_like(loss_map))
    if weight is not None:
        loss_map = loss_map * _broadcast_weight(weight, loss_map)
    if reduction == 'none':
        return loss_map
    total = loss_map.sum()
    if reduction == 'sum':
        if avg_factor is not None:
            raise ValueError('depth loss: avg_factor can not be used with reduction="sum".')
        return total
    if reduction != 'mean':
        raise ValueError(f"depth loss: reduction must be 'none', 'mean' or 'sum', "
                         f'got {reduction!r}.')
    if avg_factor is None:
        # Pixel count, at least 1: no valid pixel gives 0 / 1 = 0, not 0 / 0.
        return total / valid.sum().clamp(min=1).to(total.dtype)
    # A user-given factor is used like mmseg's weight_reduce_loss does.
    return total / (avg_factor + torch.finfo(torch.float32).eps)


class MaskedDepthLoss(nn.Module):
    """mmseg loss module around a functional depth loss ``loss_fn(pred, target, weight, eps=,
    reduction=, avg_factor=, **options)``; subclasses set ``loss_fn`` and pass their options.

    Args:
        reduction (str): 'mean', 'sum' or 'none'.
        loss_weight (float): Multiplier of the loss.
        eps (float): Targets ``<= eps`` are invalid.
        loss_name (str): Name in the loss dict; must start with ``loss_`` to be
            back-propagated.
        **options: Further keyword arguments of ``loss_fn`` (e.g. berHu's ``threshold``).

    Shapes:
        - pred, target: (B, 1, H, W) (any identical shapes work); weight: (B,) or
          broadcastable to pred.
    """
    loss_fn: Callable[..., Tensor]

    def __init__(self, reduction: str, loss_weight: float, eps: float, loss_name: str,
                 **options) -> None:
        super().__init__()
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.eps = eps
        self._loss_name = loss_name
        self.options = options

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Union[float, Tensor, None] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        """Compute the weighted loss."""
        reduction = reduction_override if reduction_override else self.reduction
        return self.loss_weight * type(self).loss_fn(
            pred, target, weight, eps=self.eps, reduction=reduction, avg_factor=avg_factor,
            **self.options)

    @property
    def loss_name(self) -> str:
        """Name of the loss item in the loss dict."""
        return self._loss_name
