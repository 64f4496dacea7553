"""DeepLabV3+-style monocular depth head with a bounded depth output."""
import math
import warnings
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmseg.models.decode_heads.sep_aspp_head import DepthwiseSeparableASPPHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, SampleList
from torch import Tensor

DEPTH_MAPPINGS = ('inverse_sigmoid', 'sigmoid', 'exp')
DEFAULT_LOSS = dict(type='SiLogLoss')  # copied before use


def _check_range(mapping: str, min_depth: float, max_depth: float) -> None:
    if mapping not in DEPTH_MAPPINGS:
        raise ValueError(f'DepthHead: depth_mapping must be one of {DEPTH_MAPPINGS}, '
                         f'got {mapping!r}.')
    if not 0 < min_depth < max_depth:
        raise ValueError('DepthHead: need 0 < min_depth < max_depth, got '
                         f'min_depth={min_depth}, max_depth={max_depth}.')


def logits_to_depth(logits: Tensor, mapping: str, min_depth: float, max_depth: float) -> Tensor:
    """Map raw head outputs to depth in ``[min_depth, max_depth]`` metres.

    With ``s = sigmoid(logits)``:

    - ``'inverse_sigmoid'``: ``1/depth = 1/max + s * (1/min - 1/max)``
      (monodepth's disparity mapping: s = 0 is the far end, s = 1 the near end).
    - ``'sigmoid'``: ``depth = min + s * (max - min)``.
    - ``'exp'``: ``log depth = log min + s * (log max - log min)``, i.e.
      ``depth = min * (max / min) ** s`` (log-space, bounded).

    Computed in float32 so that the reciprocal is accurate under autocast.
    """
    _check_range(mapping, min_depth, max_depth)
    s = torch.sigmoid(logits.float())
    if mapping == 'inverse_sigmoid':
        inv = 1.0 / max_depth + s * (1.0 / min_depth - 1.0 / max_depth)
        return 1.0 / inv
    if mapping == 'sigmoid':
        return min_depth + s * (max_depth - min_depth)
    return torch.exp(math.log(min_depth) + s * (math.log(max_depth) - math.log(min_depth)))


def depth_to_logits(depth: Tensor, mapping: str, min_depth: float, max_depth: float,
                    eps: float = 1e-6) -> Tensor:
    """Inverse of :func:`logits_to_depth` (depth clipped into the open range)."""
    _check_range(mapping, min_depth, max_depth)
    depth = depth.float().clamp(min=min_depth, max=max_depth)
    if mapping == 'inverse_sigmoid':
        s = (1.0 / depth - 1.0 / max_depth) / (1.0 / min_depth - 1.0 / max_depth)
    elif mapping == 'sigmoid':
        s = (depth - min_depth) / (max_depth - min_depth)
    else:
        s = (depth.log() - math.log(min_depth)) / (math.log(max_depth) - math.log(min_depth))
    return torch.logit(s.clamp(eps, 1 - eps))


@MODELS.register_module()
class DepthHead(DepthwiseSeparableASPPHead):
    """Depth head of the DeepLabV3+ family (ASPP on the deep level, fusion with
    the low-level level ``inputs[0]``), predicting one channel mapped to metric
    depth.

    The decoder is MMSegmentation's :class:`DepthwiseSeparableASPPHead` with
    one output channel; :meth:`forward` returns depth in metres, bounded to
    ``[min_depth, max_depth]`` by ``depth_mapping``. Losses see valid pixels
    only: ``min_depth <= gt <= max_depth`` and finite (0 = no measurement).
    Samples without any valid pixel are dropped before the loss modules are
    called: mmseg's ``SiLogLoss`` gives them 0 but still counts them in its
    mean over samples, so an unlabeled frame would scale down the loss of a
    labeled one. A batch without any valid pixel gives a 0 loss that keeps
    the graph. A data sample without ``gt_depth_map`` (frames with
    segmentation labels only, cf. mmsegmentation#3696) counts as all invalid.
    Prediction is ``BaseDecodeHead.predict_by_feat``: the depth map is resized
    bilinearly to the (padded) input size, like segmentation logits.

    Args:
        min_depth (float): Smallest predicted / valid depth in metres.
            Defaults to 0.1.
        max_depth (float): Largest predicted / valid depth in metres; larger
            ground truth (e.g. 255 m padding of mmseg's ``SegDataPreProcessor``)
            is ignored. Defaults to 80.
        depth_mapping (str): 'inverse_sigmoid', 'sigmoid' or 'exp'; see
            :func:`logits_to_depth`. Defaults to 'inverse_sigmoid'.
        init_depth (float | None): If set, the bias of the last conv makes the
            untrained head predict about this depth (instead of the middle of the
            sigmoid, 0.2 m for the inverse mapping over 0.1-80 m). Defaults to 10.
        dilations (Sequence[int]): ASPP dilations. Defaults to (1, 12, 24, 36).
        c1_in_channels (int): Channels of ``inputs[0]`` for the low-level
            fusion; 0 disables it (DeepLabV3). Defaults to 256.
        c1_channels (int): Channels after the low-level 1x1 conv. Defaults to 48.
        dropout_ratio (float): Dropout before the last conv. Defaults to 0
            (regression output).
        loss_decode (dict | Sequence[dict]): Loss config(s): ``SiLogLoss``,
            ``BerHuLoss``, ``InverseDepthL1Loss`` or any loss with mmseg's
            ``forward(pred, target, weight, avg_factor, reduction_override)``.
            Defaults to ``dict(type='SiLogLoss')``.
        **kwargs: ``in_channels``, ``channels``, ``in_index``, ``norm_cfg``,
            ``align_corners``, ``init_cfg`` ... of :class:`BaseDecodeHead`.

    Shapes:
        - inputs: tuple of feature maps; ``inputs[in_index]`` (B, in_channels,
          h, w), ``inputs[0]`` (B, c1_in_channels, h0, w0).
        - forward output: depth (B, 1, h0, w0) in metres, at the resolution of
          ``inputs[0]`` (of ``inputs[in_index]`` when ``c1_in_channels=0``).
    """

    def __init__(self,
                 min_depth: float = 0.1,
                 max_depth: float = 80.0,
                 depth_mapping: str = 'inverse_sigmoid',
                 init_depth: Optional[float] = 10.0,
                 dilations: Sequence[int] = (1, 12, 24, 36),
                 c1_in_channels: int = 256,
                 c1_channels: int = 48,
                 dropout_ratio: float = 0.0,
                 loss_decode: ConfigType = DEFAULT_LOSS,
                 **kwargs) -> None:
        _check_range(depth_mapping, min_depth, max_depth)
        if kwargs.pop('num_classes', 1) != 1 or kwargs.pop('out_channels', 1) != 1:
            raise ValueError('DepthHead predicts one channel: leave num_classes / out_channels '
                             'unset (or 1).')
        with warnings.catch_warnings():
            # BaseDecodeHead takes one output channel for binary segmentation
            # and warns about a missing threshold, which depth does not use.
            warnings.filterwarnings('ignore', message='threshold is not defined')
            super().__init__(
                c1_in_channels=c1_in_channels,
                c1_channels=c1_channels,
                dilations=tuple(dilations),
                num_classes=1,
                out_channels=1,
                dropout_ratio=dropout_ratio,
                loss_decode=dict(loss_decode) if isinstance(loss_decode, dict) else loss_decode,
                **kwargs)
        self.threshold = None
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.depth_mapping = depth_mapping
        self.init_depth = init_depth
        self._init_depth_bias()

    def _init_depth_bias(self) -> None:
        if self.init_depth is None:
            return
        # On the bias's own device (init_weights may run after the model moved to the GPU),
        # not on the default device.
        bias = depth_to_logits(
            torch.tensor(float(self.init_depth), device=self.conv_seg.bias.device),
            self.depth_mapping, self.min_depth, self.max_depth)
        with torch.no_grad():
            self.conv_seg.bias.fill_(bias)

    def init_weights(self) -> None:
        """Run the configured init, then set the output bias for ``init_depth``."""
        super().init_weights()
        self._init_depth_bias()

    def logits_to_depth(self, logits: Tensor) -> Tensor:
        """Map raw outputs (B, 1, h, w) to depth in metres."""
        return logits_to_depth(logits, self.depth_mapping, self.min_depth, self.max_depth)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Return depth (B, 1, h, w) in metres (feature resolution)."""
        return self.logits_to_depth(super().forward(inputs))

    def _stack_batch_gt(self, batch_data_samples: SampleList) -> Optional[Tensor]:
        """Stack ``gt_depth_map`` (B, 1, H, W); samples lacking it become 0
        (invalid). Returns None if no sample has one."""
        maps = [
            ds.gt_depth_map.data if 'gt_depth_map' in ds else None for ds in batch_data_samples
        ]
        present = [m for m in maps if m is not None]
        if not present:
            return None
        shape = present[0].shape
        for i, m in enumerate(maps):
            if m is not None and m.shape != shape:
                raise ValueError(
                    f'DepthHead: gt_depth_map of sample {i} has shape {tuple(m.shape)}, sample '
                    f'0 with depth has {tuple(shape)}; pad the batch to one size with the data '
                    'preprocessor (SegDepthDataPreProcessor pads depth with 0).')
        ref = present[0]
        return torch.stack([m if m is not None else ref.new_zeros(shape) for m in maps]).float()

    def valid_mask(self, gt_depth: Tensor) -> Tensor:
        """Pixels whose ground truth is finite and within [min_depth, max_depth]."""
        return torch.isfinite(gt_depth) & (gt_depth >= self.min_depth) & (
            gt_depth <= self.max_depth)

    def loss_by_feat(self, pred_depth_map: Tensor, batch_data_samples: SampleList) -> dict:
        """Depth losses over valid pixels.

        Args:
            pred_depth_map (Tensor): Output of :meth:`forward`, (B, 1, h, w).
            batch_data_samples (list[SegDataSample]): Samples, with
                ``gt_depth_map`` (PixelData 1 x H x W, metres, 0 = invalid) where
                available.

        Returns:
            dict[str, Tensor]: One entry per distinct ``loss_name``.
        """
        if not isinstance(self.loss_decode, nn.ModuleList):
            losses_decode = [self.loss_decode]
        else:
            losses_decode = self.loss_decode
        gt = self._stack_batch_gt(batch_data_samples)
        losses = dict()
        if gt is None:
            valid_samples = None
        else:
            gt = gt.to(pred_depth_map.device)
            pred_depth_map = resize(
                input=pred_depth_map,
                size=gt.shape[2:],
                mode='bilinear',
                align_corners=self.align_corners)
            valid = self.valid_mask(gt)
            target = torch.where(valid, gt, torch.zeros_like(gt))
            valid_samples = valid.flatten(1).any(dim=1)
            if not bool(valid_samples.any()):
                valid_samples = None
        for loss_decode in losses_decode:
            if valid_samples is None:
                # Nothing to learn from, but keep the graph so that every rank
                # back-propagates through the same parameters.
                value = pred_depth_map.sum() * 0.0
            else:
                value = loss_decode(pred_depth_map[valid_samples], target[valid_samples])
            if loss_decode.loss_name in losses:
                losses[loss_decode.loss_name] = losses[loss_decode.loss_name] + value
            else:
                losses[loss_decode.loss_name] = value
        return losses

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, depth_mapping={self.depth_mapping}, '
                f'min_depth={self.min_depth}, max_depth={self.max_depth}')
