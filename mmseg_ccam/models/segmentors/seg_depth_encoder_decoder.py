"""Joint semantic segmentation + monocular depth segmentor."""
import logging
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.logging import print_log
from mmengine.structures import PixelData
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.models.segmentors.encoder_decoder import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import (
    ConfigType,
    OptConfigType,
    OptMultiConfig,
    OptSampleList,
    SampleList,
    add_prefix,
)
from torch import Tensor

from mmseg_ccam.models.utils.loss_guard import FiniteLossGuardMixin
from mmseg_ccam.utils.config_check import ConfigKeyError, check_cfg_keys
from mmseg_ccam.utils.exceptions import IncompatibleCheckpointError

TEST_CFG_KEYS = ('mode', 'crop_size', 'stride', 'flip')


def count_samples_without_depth(data_samples: SampleList, device: torch.device,
                                valid_fn: Optional[Callable[[Tensor], Tensor]] = None
                                ) -> Tensor:
    """Number of samples whose ``gt_depth_map`` is missing or has no valid pixel.

    Computed on ``device`` without a host sync (a float32 0-dim tensor, so that MMEngine can
    average and log it).

    Args:
        data_samples (list[SegDataSample]): The batch.
        device (torch.device): Device of the result.
        valid_fn (callable, optional): Valid-pixel mask of a depth map (e.g.
            ``DepthHead.valid_mask``); defaults to finite and > 0.
    """
    if valid_fn is None:
        def valid_fn(d: Tensor) -> Tensor:
            return torch.isfinite(d) & (d > 0)
    has_depth = [
        valid_fn(ds.gt_depth_map.data).flatten().any() for ds in data_samples
        if 'gt_depth_map' in ds
    ]
    missing = len(data_samples) - len(has_depth)
    count = torch.full((), float(missing), device=device)
    if has_depth:
        count = count + (~torch.stack(has_depth).to(device)).sum().to(torch.float32)
    return count


def scale_losses(losses: Dict[str, object], weight: float) -> Dict[str, object]:
    """Multiply every entry that MMEngine back-propagates (name contains
    'loss') by ``weight``; metrics such as ``acc_seg`` are left alone."""
    if weight == 1.0:
        return losses
    out = dict()
    for name, value in losses.items():
        if 'loss' in name:
            value = [v * weight for v in value] if isinstance(value, (list, tuple)) \
                else value * weight
        out[name] = value
    return out


@MODELS.register_module()
class SegDepthEncoderDecoder(FiniteLossGuardMixin, EncoderDecoder):
    """Encoder-decoder for semantic segmentation and monocular depth.

    .. code:: text

     loss():    extract_task_feats() -> decode_head.forward(), depth_head.forward()
                -> loss_by_outputs(): decode + auxiliary head losses, depth losses
     predict(): inference() -> postprocess_result()
     inference(): whole_inference() / slide_inference() [+ horizontal flip]
                  -> encode_decode(): extract_task_feats() -> decode_head.predict()
                                                           -> depth_head.predict()
     _forward(): extract_task_feats() -> decode_head.forward(), depth_head.forward()

    ``extract_task_feats`` runs the backbone and the neck. A neck with the
    class attribute ``task_split = True`` (:class:`CCAMNeck`) returns
    ``(seg_feats, depth_feats)``; without a neck, or with any plain mmseg neck,
    both heads read the same features.

    Either head may be None, which gives single-task baselines from the same
    code. Loss names are namespaced: ``decode.*`` and ``aux.*`` (segmentation,
    scaled by ``seg_loss_weight``) and ``depth.*`` (scaled by
    ``depth_loss_weight``); per-loss weights inside the heads (``loss_weight``
    of each loss config) multiply on top. Samples whose ``gt_sem_seg`` is all
    ignore (255) or missing, or whose ``gt_depth_map`` has no valid pixel or is
    missing, contribute no loss for that task, and a batch with no label for a
    task gives a finite 0 for it. The loss dict also holds ``num_no_depth``
    (logged, not a loss): the number of samples of the batch without a valid
    depth pixel.

    Training stops with :class:`NonFiniteLossError` at the first NaN / inf
    loss, before the optimizer step (see :mod:`mmseg_ccam.models.utils.loss_guard`).
    Loading a ``MeanTeacherSegDepth`` checkpoint (``student.*`` / ``teacher.*``
    keys) raises :class:`IncompatibleCheckpointError` instead of leaving every
    weight at its initial value.

    Outputs:
        - ``mode='predict'``: data samples with ``seg_logits`` (PixelData
          K x H x W), ``pred_sem_seg`` (1 x H x W) and ``pred_depth_map``
          (1 x H x W, metres), at the original image size, padding removed and
          flips undone, for the heads that exist.
        - ``mode='tensor'``: ``dict(seg=(B, K, h, w) logits, depth=(B, 1, h, w)
          metres)`` straight from the heads' ``forward`` (feature resolution),
          with only the keys of existing heads.

    Args:
        backbone (dict): Backbone config.
        decode_head (dict | None): Segmentation head config (any mmseg head).
        depth_head (dict | None): Depth head config (e.g. ``DepthHead``).
        neck (dict | None): Neck config (``CCAMNeck`` or any mmseg neck).
        auxiliary_head (dict | list[dict] | None): Auxiliary segmentation
            head(s), trained on the segmentation features. Needs
            ``decode_head``.
        seg_loss_weight (float): Weight of all segmentation losses.
            Defaults to 1.0.
        depth_loss_weight (float): Weight of all depth losses. Defaults to 1.0.
        train_cfg (dict | None): Training config (passed to the heads).
        test_cfg (dict | None): ``mode`` 'whole' (default) or 'slide' (with
            ``crop_size=(h, w)`` and ``stride=(h, w)``); ``flip=True`` averages
            with the horizontally flipped image. Other keys raise ``KeyError``.
        data_preprocessor (dict | None): e.g. ``SegDepthDataPreProcessor``.
        pretrained (str | None): Backbone checkpoint.
        init_cfg (dict | None): Initialization config. To start from the
            teacher of a ``MeanTeacherSegDepth`` checkpoint use
            ``dict(type='Pretrained', checkpoint=..., prefix='teacher.')``.
        check_finite_loss (bool): Stop training at the first non-finite loss.
            Defaults to True.
    """

    def __init__(self,
                 backbone: ConfigType,
                 decode_head: OptConfigType = None,
                 depth_head: OptConfigType = None,
                 neck: OptConfigType = None,
                 auxiliary_head: OptConfigType = None,
                 seg_loss_weight: float = 1.0,
                 depth_loss_weight: float = 1.0,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 pretrained: Optional[str] = None,
                 init_cfg: OptMultiConfig = None,
                 check_finite_loss: bool = True) -> None:
        # EncoderDecoder.__init__ insists on a decode head; build the parts here.
        BaseSegmentor.__init__(self, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if decode_head is None and depth_head is None:
            raise ValueError('SegDepthEncoderDecoder needs at least one of decode_head '
                             '(segmentation) and depth_head.')
        if auxiliary_head is not None and decode_head is None:
            raise ValueError('SegDepthEncoderDecoder: auxiliary_head trains segmentation and '
                             'needs a decode_head; remove it for a depth-only model.')
        if pretrained is not None:
            if backbone.get('pretrained') is not None:
                raise ValueError('Both the backbone config and the segmentor set `pretrained`; '
                                 'keep one.')
            backbone = dict(backbone, pretrained=pretrained)
        self.backbone = MODELS.build(backbone)
        if neck is not None:
            self.neck = MODELS.build(neck)
        if decode_head is not None:
            self._init_decode_head(decode_head)
        else:
            self.decode_head = None
            self.num_classes = None
            self.out_channels = None
        self._init_auxiliary_head(auxiliary_head)
        self.depth_head = MODELS.build(depth_head) if depth_head is not None else None
        self.align_corners = (self.decode_head if self.decode_head is not None else
                              self.depth_head).align_corners
        self.seg_loss_weight = float(seg_loss_weight)
        self.depth_loss_weight = float(depth_loss_weight)
        self.train_cfg = train_cfg
        self.test_cfg = ConfigDict(test_cfg if test_cfg is not None else dict(mode='whole'))
        self._check_test_cfg()
        self.check_finite_loss = bool(check_finite_loss)

    def _check_test_cfg(self) -> None:
        check_cfg_keys(self.test_cfg, TEST_CFG_KEYS, f'{type(self).__name__} test_cfg')
        mode = self.test_cfg.get('mode', 'whole')
        if mode not in ('whole', 'slide'):
            raise ValueError(f'{type(self).__name__}: test_cfg.mode must be "whole" or "slide", '
                             f'got {mode!r}.')
        if mode == 'slide':
            absent = [k for k in ('crop_size', 'stride') if self.test_cfg.get(k) is None]
            if absent:
                raise ConfigKeyError(f"{type(self).__name__}: test_cfg.mode='slide' needs "
                                     f'{absent} as (h, w), e.g. test_cfg=dict(mode='
                                     "'slide', crop_size=(512, 1024), stride=(341, 682)).")

    @property
    def with_depth_head(self) -> bool:
        """bool: whether the segmentor has a depth head."""
        return getattr(self, 'depth_head', None) is not None

    # ------------------------------------------------------------------ features
    def extract_feat(self, inputs: Tensor) -> Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]:
        """Same as :meth:`extract_task_feats`: ``(seg_feats, depth_feats)``."""
        return self.extract_task_feats(inputs)

    def extract_task_feats(self, inputs: Tensor) -> Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]:
        """Backbone + neck; returns ``(seg_feats, depth_feats)`` (the same
        tuple twice unless the neck splits the tasks)."""
        x = self.backbone(inputs)
        if not self.with_neck:
            return x, x
        x = self.neck(x)
        if getattr(self.neck, 'task_split', False):
            if not (isinstance(x, (tuple, list)) and len(x) == 2):
                raise TypeError(f'{type(self.neck).__name__} declares task_split=True but did '
                                'not return (seg_feats, depth_feats).')
            return x[0], x[1]
        return x, x

    # ---------------------------------------------------------------- training
    def _fill_missing_seg_labels(self, data_samples: SampleList,
                                 device: Optional[torch.device] = None) -> SampleList:
        """Give samples without ``gt_sem_seg`` an all-ignore map (new sample
        objects; the caller's samples are not modified), made on ``device``
        (the features' device; default: that of the first label or depth map),
        where the data preprocessor has put the other samples' labels: MMSeg's
        loss stacks them."""
        if all('gt_sem_seg' in ds for ds in data_samples):
            return data_samples
        shape = None
        for ds in data_samples:
            if 'gt_sem_seg' in ds or 'gt_depth_map' in ds:
                ref = ds.gt_sem_seg if 'gt_sem_seg' in ds else ds.gt_depth_map
                shape = ref.shape
                device = ref.data.device if device is None else device
                break
        if shape is None:
            meta = data_samples[0].metainfo
            for key in ('batch_input_shape', 'pad_shape', 'img_shape'):
                if key in meta:
                    shape = tuple(meta[key][:2])
                    break
        if shape is None:
            raise ValueError('SegDepthEncoderDecoder: no sample has gt_sem_seg, gt_depth_map or a '
                             'pad_shape/img_shape meta key, so an all-ignore label map cannot be '
                             'sized; pack the samples with PackSegInputs.')
        ignore = self.decode_head.ignore_index
        filled = []
        for ds in data_samples:
            if 'gt_sem_seg' not in ds:
                new = SegDataSample(metainfo=ds.metainfo)
                new.gt_sem_seg = PixelData(
                    data=torch.full((1, *shape), ignore, dtype=torch.long, device=device))
                if 'gt_depth_map' in ds:
                    new.gt_depth_map = ds.gt_depth_map
                ds = new
            filled.append(ds)
        return filled

    def seg_head_loss(self, seg_feats: Tuple[Tensor, ...], data_samples: SampleList) -> dict:
        """Decode (+ auxiliary) head losses on given features, weighted by
        ``seg_loss_weight``; keys ``decode.*`` / ``aux.*``."""
        return self.loss_by_outputs(data_samples, seg_logits=self.decode_head.forward(seg_feats),
                                    seg_feats=seg_feats)

    def depth_head_loss(self, depth_feats: Tuple[Tensor, ...], data_samples: SampleList) -> dict:
        """Depth head losses on given features, weighted by
        ``depth_loss_weight``; keys ``depth.*``."""
        losses = self.depth_head.loss(depth_feats, data_samples, self.train_cfg)
        return scale_losses(add_prefix(losses, 'depth'), self.depth_loss_weight)

    def loss_by_outputs(self,
                        data_samples: SampleList,
                        seg_logits: Optional[Tensor] = None,
                        depth_pred: Optional[Tensor] = None,
                        seg_feats: Optional[Tuple[Tensor, ...]] = None) -> dict:
        """The losses of :meth:`loss` from given head outputs (MMSeg's ``loss_by_feat`` one
        level up), for callers that run the heads themselves (e.g. one forward of several
        views in :class:`MeanTeacherSegDepth`).

        Args:
            data_samples (list[SegDataSample]): Targets (``gt_sem_seg`` / ``gt_depth_map``).
            seg_logits (Tensor | None): ``decode_head.forward`` output (B, K, h, w); None: no
                segmentation losses.
            depth_pred (Tensor | None): ``depth_head.forward`` output (B, 1, h, w) metres;
                None: no depth losses.
            seg_feats (tuple[Tensor] | None): Segmentation features, needed when there are
                auxiliary heads (they run their own forward on them).

        Returns:
            dict[str, Tensor]: ``decode.*`` and ``aux.*`` (scaled by ``seg_loss_weight``),
            ``depth.*`` (scaled by ``depth_loss_weight``) and ``num_no_depth``, in this order.
        """
        losses = dict()
        if seg_logits is not None:
            data_samples = self._fill_missing_seg_labels(data_samples, seg_logits.device)
            seg_losses = add_prefix(self.decode_head.loss_by_feat(seg_logits, data_samples),
                                    'decode')
            if self.with_auxiliary_head:
                if seg_feats is None:
                    raise ValueError('SegDepthEncoderDecoder.loss_by_outputs: the auxiliary '
                                     'head(s) need seg_feats.')
                seg_losses.update(self._auxiliary_head_forward_train(seg_feats, data_samples))
            losses.update(scale_losses(seg_losses, self.seg_loss_weight))
        if depth_pred is not None:
            depth_losses = add_prefix(self.depth_head.loss_by_feat(depth_pred, data_samples),
                                      'depth')
            losses.update(scale_losses(depth_losses, self.depth_loss_weight))
            losses['num_no_depth'] = count_samples_without_depth(
                data_samples, depth_pred.device, getattr(self.depth_head, 'valid_mask', None))
        return losses

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Losses of both tasks for a batch: the heads' forwards, then
        :meth:`loss_by_outputs`.

        Args:
            inputs (Tensor): Images (B, 3, H, W).
            data_samples (list[SegDataSample]): With ``gt_sem_seg`` and / or
                ``gt_depth_map``.

        Returns:
            dict[str, Tensor]: ``decode.*``, ``aux.*`` and ``depth.*`` entries, and
            ``num_no_depth`` (samples without a valid depth pixel; logged, not
            back-propagated) when there is a depth head.
        """
        self.remember_batch(data_samples)
        seg_feats, depth_feats = self.extract_task_feats(inputs)
        # The auxiliary heads run after the depth head's forward (inside loss_by_outputs);
        # the order of random draws (dropout) is decode, depth, auxiliary.
        seg_logits = self.decode_head.forward(seg_feats) if self.with_decode_head else None
        depth_pred = self.depth_head.forward(depth_feats) if self.with_depth_head else None
        return self.loss_by_outputs(data_samples, seg_logits, depth_pred, seg_feats)

    # --------------------------------------------------------------- inference
    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """Predict ``dict(seg=logits (B, K, H, W), depth=(B, 1, H, W))`` at the
        input size (keys of existing heads only)."""
        seg_feats, depth_feats = self.extract_task_feats(inputs)
        out = dict()
        if self.with_decode_head:
            out['seg'] = self.decode_head.predict(seg_feats, batch_img_metas, self.test_cfg)
        if self.with_depth_head:
            out['depth'] = self.depth_head.predict(depth_feats, batch_img_metas, self.test_cfg)
        return out

    def whole_inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """Inference on the full image; see :meth:`encode_decode`."""
        return self.encode_decode(inputs, batch_img_metas)

    def slide_inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """Sliding-window inference for both tasks.

        Crops of ``test_cfg.crop_size`` every ``test_cfg.stride`` pixels (the
        last row/column aligned to the border, crops smaller than the crop size
        where the image is smaller); each task's outputs are averaged where
        crops overlap: logits for segmentation, metres for depth.
        """
        h_stride, w_stride = self.test_cfg.stride
        h_crop, w_crop = self.test_cfg.crop_size
        batch_size, _, h_img, w_img = inputs.size()
        h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
        w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
        sums: Dict[str, Tensor] = dict()
        count = inputs.new_zeros((batch_size, 1, h_img, w_img))
        for h_idx in range(h_grids):
            for w_idx in range(w_grids):
                y2 = min(h_idx * h_stride + h_crop, h_img)
                x2 = min(w_idx * w_stride + w_crop, w_img)
                y1 = max(y2 - h_crop, 0)
                x1 = max(x2 - w_crop, 0)
                crop = inputs[:, :, y1:y2, x1:x2]
                # A torch.Size img_shape tells the heads' predict_by_feat to
                # resize to the crop (mmseg's convention); copies keep the
                # caller's metainfo intact.
                crop_metas = [dict(meta, img_shape=crop.shape[2:]) for meta in batch_img_metas]
                outs = self.encode_decode(crop, crop_metas)
                for task, out in outs.items():
                    if task not in sums:
                        sums[task] = inputs.new_zeros((batch_size, out.shape[1], h_img, w_img))
                    sums[task] += F.pad(out, (x1, w_img - x2, y1, h_img - y2))
                count[:, :, y1:y2, x1:x2] += 1
        if bool((count == 0).any()):
            raise RuntimeError('slide_inference left pixels uncovered; check test_cfg.stride '
                               f'{self.test_cfg.stride} and crop_size {self.test_cfg.crop_size}.')
        return {task: value / count for task, value in sums.items()}

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """Whole or sliding-window inference (``test_cfg.mode``), optionally
        averaged with the horizontally flipped image (``test_cfg.flip``)."""
        self._check_test_cfg()  # test_cfg may have been edited after __init__
        mode = self.test_cfg.get('mode', 'whole')
        ori_shape = batch_img_metas[0]['ori_shape']
        if not all(meta['ori_shape'] == ori_shape for meta in batch_img_metas):
            print_log('Image shapes are different in the batch.', logger='current',
                      level=logging.WARN)
        run = self.slide_inference if mode == 'slide' else self.whole_inference
        outs = run(inputs, batch_img_metas)
        if self.test_cfg.get('flip', False):
            flipped = run(inputs.flip(dims=(3, )), batch_img_metas)
            outs = {task: (outs[task] + flipped[task].flip(dims=(3, ))) / 2 for task in outs}
        return outs

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        """Predict both tasks; see the class docstring for the fields."""
        if data_samples is not None:
            batch_img_metas = [ds.metainfo for ds in data_samples]
        else:
            batch_img_metas = [
                dict(
                    ori_shape=inputs.shape[2:],
                    img_shape=inputs.shape[2:],
                    pad_shape=inputs.shape[2:],
                    padding_size=[0, 0, 0, 0])
            ] * inputs.shape[0]
        return self.postprocess_result(self.inference(inputs, batch_img_metas), data_samples)

    def _to_original(self, x: Tensor, img_meta: dict) -> Tensor:
        """(1, C, H, W) at the padded input size -> (C, H0, W0) at the original
        size: remove padding, undo the flip, resize bilinearly."""
        _, _, h, w = x.shape
        pad_l, pad_r, pad_t, pad_b = img_meta.get('img_padding_size',
                                                  img_meta.get('padding_size', [0] * 4))
        x = x[:, :, pad_t:h - pad_b, pad_l:w - pad_r]
        if img_meta.get('flip', False):
            direction = img_meta.get('flip_direction', None)
            if direction not in ('horizontal', 'vertical'):
                raise ValueError(f'Unknown flip_direction {direction!r} in the image meta.')
            x = x.flip(dims=(3, ) if direction == 'horizontal' else (2, ))
        return resize(
            x,
            size=img_meta['ori_shape'],
            mode='bilinear',
            align_corners=self.align_corners,
            warning=False).squeeze(0)

    def postprocess_result(self,
                           outputs: Dict[str, Tensor],
                           data_samples: OptSampleList = None) -> SampleList:
        """Write ``seg_logits``, ``pred_sem_seg`` and ``pred_depth_map`` into
        the data samples (new ones if None, then at the input size)."""
        batch_size = next(iter(outputs.values())).shape[0]
        only_prediction = data_samples is None
        if only_prediction:
            data_samples = [SegDataSample() for _ in range(batch_size)]
        for i in range(batch_size):
            fields = dict()
            if 'seg' in outputs:
                logits = outputs['seg'][i:i + 1]
                logits = logits[0] if only_prediction else self._to_original(
                    logits, data_samples[i].metainfo)
                if logits.shape[0] > 1:
                    pred = logits.argmax(dim=0, keepdim=True)
                else:
                    logits = logits.sigmoid()
                    pred = (logits > self.decode_head.threshold).to(logits)
                fields['seg_logits'] = PixelData(data=logits)
                fields['pred_sem_seg'] = PixelData(data=pred)
            if 'depth' in outputs:
                depth = outputs['depth'][i:i + 1]
                depth = depth[0] if only_prediction else self._to_original(
                    depth, data_samples[i].metainfo)
                fields['pred_depth_map'] = PixelData(data=depth)
            data_samples[i].set_data(fields)
        return data_samples

    # ------------------------------------------------------------- checkpoints
    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        """Refuse a ``MeanTeacherSegDepth`` checkpoint: none of its keys would match and
        MMEngine's non-strict loading would only warn, leaving a randomly initialised model."""
        own = [prefix + k for k in self.state_dict() if 'num_batches_tracked' not in k]
        if own and not any(k in state_dict for k in own):
            semi = [k for k in state_dict
                    if k.startswith(prefix + 'student.') or k.startswith(prefix + 'teacher.')]
            if semi:
                raise IncompatibleCheckpointError(
                    f'{{checkpoint}} was saved by MeanTeacherSegDepth (keys such as '
                    f'{semi[0]!r}) and has none of the {len(own)} keys of '
                    f'{type(self).__name__} (e.g. {own[0]!r}); loading it would leave every '
                    'weight at its initial value. To evaluate it, use the semi-supervised '
                    'config it was trained with (tools/test.py SEMI_CONFIG {checkpoint}). To '
                    'initialise this supervised model from its teacher instead, remove '
                    "load_from / --resume and set model.init_cfg=dict(type='Pretrained', "
                    "checkpoint={checkpoint}, prefix='teacher.').")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _forward(self, inputs: Tensor, data_samples: OptSampleList = None) -> Dict[str, Tensor]:
        """Raw head outputs: ``dict(seg=(B, K, h, w) logits, depth=(B, 1, h, w)
        metres)`` at feature resolution, keys of existing heads only."""
        seg_feats, depth_feats = self.extract_task_feats(inputs)
        out = dict()
        if self.with_decode_head:
            out['seg'] = self.decode_head.forward(seg_feats)
        if self.with_depth_head:
            out['depth'] = self.depth_head.forward(depth_feats)
        return out


__all__ = [
    'SegDepthEncoderDecoder', 'scale_losses', 'check_cfg_keys', 'count_samples_without_depth'
]
