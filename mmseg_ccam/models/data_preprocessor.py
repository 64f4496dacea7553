"""Data pre-processor that pads depth ground truth with an invalid value.

mmseg's ``stack_batch`` pads ``gt_depth_map`` with ``seg_pad_val`` (255): padded pixels then look
like valid 255 m depth to any loss that masks ``target > eps`` (e.g. ``SiLogLoss``). This
pre-processor re-pads depth with ``depth_pad_val`` (0 = invalid by the package convention).
"""
from numbers import Number
from typing import Any, Dict, Sequence

import torch
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS


def fill_padding(data: torch.Tensor, padding_size: Sequence[int], value: Number) -> None:
    """Overwrite, in place, the border that ``F.pad(x, padding_size)`` added.

    Args:
        data (Tensor): Padded map ``(..., H, W)``.
        padding_size (Sequence[int]): ``(left, right, top, bottom)`` as in ``F.pad``/mmseg.
        value (Number): Fill value.
    """
    left, right, top, bottom = (int(v) for v in padding_size)
    height, width = data.shape[-2:]
    if top > 0:
        data[..., :top, :] = value
    if bottom > 0:
        data[..., height - bottom:, :] = value
    if left > 0:
        data[..., :, :left] = value
    if right > 0:
        data[..., :, width - right:] = value


@MODELS.register_module()
class SegDepthDataPreProcessor(SegDataPreProcessor):
    """``SegDataPreProcessor`` that pads ``gt_depth_map`` with ``depth_pad_val``.

    Images are normalised, converted and padded exactly as by the parent; ``gt_sem_seg`` is
    padded with ``seg_pad_val``; ``gt_depth_map`` (``1 x H x W``) with ``depth_pad_val``. The
    parent pads every map with ``seg_pad_val`` and records the padding of each sample in its
    ``padding_size`` meta; this class overwrites exactly that border of the depth map, so the
    result does not depend on the depth values themselves. (mmseg 1.2.2 never builds its
    ``batch_augments``, so nothing runs between the parent's padding and this fix.)

    Args:
        depth_pad_val (float): Padding value of ``gt_depth_map``; 0 marks invalid depth.
            Defaults to 0.
        **kwargs: Passed to :class:`mmseg.models.SegDataPreProcessor` (mean, std, size,
            size_divisor, pad_val, seg_pad_val, bgr_to_rgb, test_cfg, ...).
    """

    def __init__(self, depth_pad_val: Number = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.depth_pad_val = depth_pad_val

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        """Pre-process a batch (see :meth:`SegDataPreProcessor.forward`).

        Args:
            data (dict): Batch from the dataloader (``inputs``, ``data_samples``).
            training (bool): Whether ground truth is padded and stacked.

        Returns:
            dict: ``inputs`` ``(B, C, H, W)`` and ``data_samples``.
        """
        out = super().forward(data, training)
        # Only the training path pads ground truth; at test time maps keep their own size.
        if training and out.get('data_samples') is not None:
            for sample in out['data_samples']:
                padding = sample.metainfo.get('padding_size')
                if 'gt_depth_map' in sample and padding is not None:
                    fill_padding(sample.gt_depth_map.data, padding, self.depth_pad_val)
        return out
