"""MMSeg's ``CrossEntropyLoss`` with class weights that work on maps holding ignored pixels.

MMSegmentation 1.2.2 computes the mean of a class-weighted cross-entropy as
``sum(class_weight[label])`` over the batch, indexing the weight vector with every label
including ``ignore_index``: any map with a 255 pixel (every Cityscapes map, every padded crop)
raises ``IndexError: index 255 is out of bounds`` (open-mmlab/mmsegmentation#3734, #3831).
"""
from typing import Optional, Union

import torch
import torch.nn.functional as F
from mmseg.models.losses import CrossEntropyLoss
from mmseg.models.losses.cross_entropy_loss import cross_entropy
from mmseg.models.losses.utils import weight_reduce_loss
from mmseg.registry import MODELS
from torch import Tensor


def weighted_cross_entropy(pred: Tensor,
                           label: Tensor,
                           weight: Optional[Tensor] = None,
                           class_weight: Optional[Tensor] = None,
                           reduction: str = 'mean',
                           avg_factor: Union[float, Tensor, None] = None,
                           ignore_index: int = -100,
                           avg_non_ignore: bool = False) -> Tensor:
    """Class-weighted softmax cross-entropy; the mean is PyTorch's weighted mean.

    Without ``class_weight`` this is MMSeg's ``cross_entropy``. With it, the ``'mean'`` is
    ``sum_i w_{y_i} m_i ce_i / sum_i w_{y_i}`` over the pixels i whose label is not
    ``ignore_index`` (``m_i`` the optional per-pixel ``weight``, e.g. an OHEM sampler's mask,
    which like in MMSeg scales the loss but not the denominator), i.e.
    ``F.cross_entropy(pred, label, weight=class_weight, ignore_index=...)`` when ``weight`` is
    None, whatever ``avg_non_ignore`` says: ignored pixels have no class and so no weight.

    Args:
        pred (Tensor): logits (N, K, H, W).
        label (Tensor): int64 (N, H, W) class ids in [0, K) or ``ignore_index``.
        weight (Tensor, optional): per-pixel weight (N, H, W).
        class_weight (Tensor, optional): (K,) weights.
        reduction (str): 'none', 'mean' or 'sum'.
        avg_factor (float | Tensor, optional): the mean's denominator, if given.
        ignore_index (int): the label that contributes nothing.
        avg_non_ignore (bool): used only without ``class_weight`` (MMSeg's meaning).

    Returns:
        Tensor: the loss; (N, H, W) for ``reduction='none'``.
    """
    if class_weight is None:
        return cross_entropy(pred, label, weight, class_weight=None, reduction=reduction,
                             avg_factor=avg_factor, ignore_index=ignore_index,
                             avg_non_ignore=avg_non_ignore)
    if class_weight.numel() != pred.shape[1]:
        raise ValueError(f'class_weight has {class_weight.numel()} values but the head predicts '
                         f'{pred.shape[1]} classes: give loss_decode.class_weight one weight per '
                         'class (tools/analysis_tools/class_weights.py prints them)')
    # float32 weights: under bf16 autocast new_tensor() gives bf16 ones, and the denominator
    # sums up to millions of them.
    class_weight = class_weight.float()
    loss = F.cross_entropy(pred, label, weight=class_weight, reduction='none',
                           ignore_index=ignore_index)
    if avg_factor is None and reduction == 'mean':
        valid = label != ignore_index
        avg_factor = (class_weight[torch.where(valid, label, 0)] * valid).sum()
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


@MODELS.register_module()
class WeightedCrossEntropyLoss(CrossEntropyLoss):
    """``CrossEntropyLoss`` (softmax) whose ``class_weight`` accepts ignored pixels.

    A drop-in for MMSeg's ``CrossEntropyLoss(class_weight=[...])``, which fails on any label
    map with an ``ignore_index`` pixel; the weighted mean is taken over the non-ignored pixels
    (:func:`weighted_cross_entropy`). Same arguments as ``CrossEntropyLoss``; the sigmoid and
    mask variants are not supported.

    Args:
        class_weight (list[float] | str, optional): K weights, or a file holding them.
        loss_weight (float): multiplier of the loss. Default: 1.0.
        loss_name (str): name of the loss item. Default: 'loss_ce'.
        avg_non_ignore (bool): MMSeg's flag, used only without ``class_weight``.
        reduction (str): 'none', 'mean' or 'sum'. Default: 'mean'.

    Shapes:
        cls_score (N, K, H, W); label (N, H, W).
    """

    def __init__(self, use_sigmoid: bool = False, use_mask: bool = False, **kwargs) -> None:
        if use_sigmoid or use_mask:
            raise ValueError('WeightedCrossEntropyLoss is the softmax cross-entropy; for '
                             'use_sigmoid / use_mask use MMSeg\'s CrossEntropyLoss')
        super().__init__(**kwargs)
        self.cls_criterion = weighted_cross_entropy
