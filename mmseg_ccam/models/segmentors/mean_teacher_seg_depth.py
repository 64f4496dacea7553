"""Mean-teacher semi-supervised training of a joint segmentation + depth segmentor.

See docs/method.md, "Semi-supervised step". The student / teacher ownership, batch routing and
checkpoint rules are in :mod:`.semi_base`, the configuration in :mod:`.semi_cfg`.
"""
import contextlib
import math
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.structures import PixelData
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig, SampleList, add_prefix
from torch import Tensor
from torch.profiler import record_function

from mmseg_ccam.augmentation.affine_mix import affine_mix_batch
from mmseg_ccam.augmentation.color_aug import color_aug_batch
from mmseg_ccam.augmentation.strong_aug import strong_aug_batch
from mmseg_ccam.models.segmentors.seg_depth_encoder_decoder import (
    count_samples_without_depth,
    scale_losses,
)
from mmseg_ccam.models.segmentors.semi_base import (
    IGNORE_INDEX,
    SemiBaseSegDepth,
    is_labeled,
    split_labeled,
)
from mmseg_ccam.models.segmentors.semi_cfg import parse_semi_train_cfg
from mmseg_ccam.models.utils.frozen_bn_stats import frozen_bn_stats

__all__ = ['MeanTeacherSegDepth', 'split_labeled', 'is_labeled', 'parse_semi_train_cfg',
           'frozen_bn_stats', 'IGNORE_INDEX']


@MODELS.register_module()
class MeanTeacherSegDepth(SemiBaseSegDepth):
    """Mean teacher around a :class:`SegDepthEncoderDecoder` (student + EMA teacher).

    .. code:: text

     loss(): split batch by has_seg_label (or gt_sem_seg != 255)
       unlabeled (weak view: the pipeline's geometric augmentation only)
                  -> teacher (eval, no_grad): seg softmax -> conf, pseudo-label; depth
                  -> affine_mix_batch(img, pseudo, teacher depth, extra=conf,
                                      extra_depth=GT depth, mix.warp, mix.mask)
                  -> strong_aug_batch (colour jitter + blur): the student's view
       student    -> ONE forward of [labeled ; strong mixed] (student_forward='concat')
                     labeled: seg + depth losses                              'sup.*'
                     unlabeled: CE(mixed pseudo-label) * w * ramp(iter)        'unsup.loss_seg'
                                w = batch share of mixed pixels with conf >= tau
                                depth loss(mixed GT depth)                     'unsup.depth.*'
       ColorAug   -> color_aug_batch(weak img, pseudo) -> student, BN running
                     statistics frozen -> depth loss(GT)                       'unsup.color.depth.*'

    BatchNorm: the running statistics (what the evaluated model normalises with) are moved
    only by the intended views, the labeled images and the student's unlabeled view, in one
    forward; the ColorAug view trains the depth branch under :func:`frozen_bn_stats`.

    Diagnostics (logged through the loss dict as message-hub scalars ``train/...``; their
    keys hold no ``loss``, so they are not back-propagated): ``unsup.share_above_tau`` and
    ``unsup.teacher_conf`` (teacher, weak view), ``unsup.pasted_frac`` (AffineMix mask),
    ``unsup.seg_weight`` (``unsup_seg_weight`` x schedule), and per CCAM level ``lv``
    ``ccam.gamma_s.l{lv}``, ``ccam.gamma_d.l{lv}``, ``ccam.entropy_sd.l{lv}``,
    ``ccam.entropy_ds.l{lv}`` (mean attention row entropy of the student's forward, nats).

    Teacher ownership, batch routing, ``predict`` and checkpoint rules: :class:`SemiBaseSegDepth`.
    Random draws of the mixing and augmentations come from a ``torch.Generator`` seeded from
    torch's global RNG at every step, so MMEngine's ``randomness`` seed makes runs reproducible.

    Training stops with :class:`NonFiniteLossError` at the first NaN / inf loss, before the
    optimizer step and the EMA update (see :mod:`mmseg_ccam.models.utils.loss_guard`).
    ``num_no_depth`` entries of the loss dict (logged, not back-propagated) count the samples
    without a valid depth pixel.

    Args:
        segmentor (dict): Config of the student (a ``SegDepthEncoderDecoder`` with both a
            ``decode_head`` and a ``depth_head``); see :class:`SemiBaseSegDepth`.
        data_preprocessor (dict | None): e.g. ``SegDepthDataPreProcessor``; normalises inputs.
        semi_train_cfg (dict | None): ``tau``, loss weights and schedule, ``pseudo_weight``,
            ``student_forward``, ``color_view_bn``, and the ``mix`` (``warp``, registered
            ``mask``) / ``strong_aug`` / ``color_aug`` steps (None switches one off); every
            key with its default: :func:`.semi_cfg.parse_semi_train_cfg`.
        semi_test_cfg (dict | None): ``eval_model``: 'teacher' (default) or 'student'.
        init_cfg (dict | None): None, or ``dict(type='Pretrained', checkpoint=PATH)``: a
            supervised checkpoint loaded into the student and copied to the teacher (see
            :meth:`SemiBaseSegDepth.load_student_weights`).
        check_finite_loss (bool): Stop training at the first non-finite loss. Defaults to True.

    Shapes:
        inputs (B, 3, H, W) normalised images; pseudo-labels / confidence (B, H, W);
        depth (B, 1, H, W) metres, 0 = invalid.
    """

    def __init__(self,
                 segmentor: ConfigType,
                 data_preprocessor: OptConfigType = None,
                 semi_train_cfg: OptConfigType = None,
                 semi_test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None,
                 check_finite_loss: bool = True) -> None:
        # Parsed first: a config error is reported before any network is built.
        train_cfg = parse_semi_train_cfg(semi_train_cfg)
        super().__init__(segmentor, data_preprocessor=data_preprocessor,
                         semi_test_cfg=semi_test_cfg, init_cfg=init_cfg,
                         check_finite_loss=check_finite_loss)
        self.semi_train_cfg = train_cfg

    def _generator(self, device: torch.device) -> torch.Generator:
        # Seeded from the global CPU RNG, which MMEngine seeds (and a resume restores), so runs
        # are reproducible while draws can happen on the inputs' device. The seed is a host
        # value: drawn on the CPU explicitly, whatever the default device.
        seed = int(torch.randint(0, 2**62, (1, ), dtype=torch.int64, device='cpu'))
        return torch.Generator(device=device).manual_seed(seed)

    @staticmethod
    def _stack_gt_depth(samples: SampleList, like: Tensor) -> Tensor:
        """``(B, 1, H, W)`` ground-truth depth at the input size; missing maps are 0."""
        b, _, h, w = like.shape
        out = like.new_zeros((b, 1, h, w))
        for i, ds in enumerate(samples):
            if 'gt_depth_map' in ds:
                d = ds.gt_depth_map.data.to(device=like.device, dtype=like.dtype)
                if tuple(d.shape[-2:]) != (h, w):
                    raise ValueError(
                        f'MeanTeacherSegDepth: gt_depth_map of sample {i} is '
                        f'{tuple(d.shape[-2:])} but the batch input is {(h, w)}; pad depth with '
                        'the data preprocessor (SegDepthDataPreProcessor).')
                out[i] = d.reshape(1, h, w)
        return out

    @staticmethod
    def _depth_samples(depth: Tensor, samples: SampleList) -> SampleList:
        """New data samples carrying ``depth`` (B, 1, H, W) as ``gt_depth_map``."""
        out = []
        for i, ds in enumerate(samples):
            new = SegDataSample(metainfo=ds.metainfo)
            new.gt_depth_map = PixelData(data=depth[i])
            out.append(new)
        return out

    @torch.no_grad()
    def teacher_predict(self, inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Teacher's pseudo-labels (B, H, W) long, confidence (B, H, W) and depth (B, 1, H, W)
        at the input size, in eval mode."""
        self.teacher.eval()
        # A torch.Size img_shape makes the heads resize to exactly the input size.
        metas = [dict(img_shape=inputs.shape[2:])] * inputs.shape[0]
        out = self.teacher.encode_decode(inputs, metas)
        probs = out['seg'].softmax(dim=1)
        conf, pseudo = probs.max(dim=1)
        return pseudo, conf, out['depth']

    def unsup_seg_loss(self, logits: Tensor, pseudo: Tensor, conf: Tensor) -> Tensor:
        """Confidence-weighted CE on pseudo-labels (no schedule factor).

        ``pseudo_weight='batch'`` (DACS, Hoyer et al.): ``w * CE`` with ``CE`` the mean over
        all non-ignored pixels of the batch and ``w`` the batch's share of pixels with
        ``conf >= tau``. ``'image'``: the mean over images of ``w_i * CE_i`` with per-image
        means and shares. ``w`` is a constant (no gradient). ``'mask'`` (FixMatch-style): CE
        only on the pixels with ``conf >= tau``, summed and divided by the number of valid
        pixels, so pixels below ``tau`` give no gradient at all (with 'batch' and 'image' they
        are trained towards their pseudo-label, at the weight ``w``).
        """
        tau = self.semi_train_cfg['tau']
        ce = F.cross_entropy(logits, pseudo, ignore_index=IGNORE_INDEX, reduction='none')
        valid = (pseudo != IGNORE_INDEX).to(ce.dtype)
        above = (conf >= tau).to(ce.dtype)
        if self.semi_train_cfg['pseudo_weight'] == 'batch':
            return above.mean().detach() * (ce * valid).sum() / valid.sum().clamp(min=1)
        if self.semi_train_cfg['pseudo_weight'] == 'mask':
            return (ce * valid * above).sum() / valid.sum().clamp(min=1)
        per_image = (ce * valid).flatten(1).sum(1) / valid.flatten(1).sum(1).clamp(min=1)
        weight = above.flatten(1).mean(1)
        return (weight.detach() * per_image).mean()

    def pseudo_label_schedule(self, cur_iter: Optional[int] = None) -> float:
        """Factor of the pseudo-label loss at iteration ``cur_iter`` (default: the runner's
        current iteration from the message hub; 0 outside a runner).

        0 before ``unsup_start_iter``; then the sigmoid ramp ``exp(-5 (1 - x)^2)``,
        ``x = (iter - start) / unsup_rampup_iters`` clipped to [0, 1], of Tarvainen & Valpola
        (1 at once when ``unsup_rampup_iters`` is 0).
        """
        cfg = self.semi_train_cfg
        if cur_iter is None:
            cur_iter = int(MessageHub.get_current_instance().get_info('iter', 0) or 0)
        start, ramp = cfg['unsup_start_iter'], cfg['unsup_rampup_iters']
        if cur_iter < start:
            return 0.0
        if ramp <= 0:
            return 1.0
        x = min(1.0, (cur_iter - start) / ramp)
        return float(math.exp(-5.0 * (1.0 - x)**2))

    def _image_aug_kwargs(self, cfg: dict) -> dict:
        """``cfg`` completed with the channel order and normalisation of the preprocessor."""
        cfg = dict(cfg)
        dp = self.data_preprocessor
        if 'channel_order' not in cfg:
            # mmseg loads BGR; either channel flag of the preprocessor flips it to RGB.
            cfg['channel_order'] = 'rgb' if getattr(dp, 'channel_conversion', False) else 'bgr'
        if getattr(dp, 'mean', None) is not None:  # SegDataPreProcessor: normalising
            cfg['mean'] = dp.mean.reshape(-1).tolist()
            cfg['std'] = dp.std.reshape(-1).tolist()
        return cfg

    def _ccam_diagnostics(self) -> Dict[str, Tensor]:
        """``ccam.{gamma_s,gamma_d,entropy_sd,entropy_ds}.l{level}`` of the student's neck
        (its ``diagnostics()``); empty for a neck without one."""
        diagnostics = getattr(self.student.neck, 'diagnostics', None) \
            if self.student.with_neck else None
        return {} if diagnostics is None else add_prefix(diagnostics(), 'ccam')

    def _student_views(self, views: List[Tensor]):
        """One student forward of the concatenated views; returns per-view
        ``(seg_feats, depth_feats, seg_logits, depth_pred)`` (feature resolution)."""
        sizes = [v.shape[0] for v in views]
        x = views[0] if len(views) == 1 else torch.cat(views)
        seg_feats, depth_feats = self.student.extract_task_feats(x)
        seg_logits = self.student.decode_head.forward(seg_feats)
        depth_pred = self.student.depth_head.forward(depth_feats)

        def split(t):
            if isinstance(t, (tuple, list)):
                parts = [torch.split(f, sizes) for f in t]
                return [tuple(p[k] for p in parts) for k in range(len(views))]
            return list(torch.split(t, sizes))

        return list(zip(split(seg_feats), split(depth_feats), split(seg_logits),
                        split(depth_pred)))

    def _unsup_views(self, inputs: Tensor, data_samples: SampleList, generator: torch.Generator):
        """Teacher on the weak view, AffineMix, strong augmentation: the student's unlabeled
        input and its targets, plus the diagnostics."""
        cfg = self.semi_train_cfg
        with record_function('ccam:teacher'):
            pseudo, conf, t_depth = self.teacher_predict(inputs)
        gt_depth = self._stack_gt_depth(data_samples, inputs)
        img, seg, conf_m, depth_m = inputs, pseudo, conf, gt_depth
        diag = {
            'share_above_tau': (conf >= cfg['tau']).float().mean(),
            'teacher_conf': conf.float().mean(),
        }
        mix = cfg['mix']
        if mix is not None:
            with record_function('ccam:affine_mix'):
                mixed = affine_mix_batch(
                    inputs, pseudo, t_depth, generator=generator, seg_pad_val=IGNORE_INDEX,
                    extra=conf, extra_depth=gt_depth, prob=mix['prob'],
                    warp=mix['warp'] is not None, **(mix['warp'] or {}), mask=mix['mask'])
            img, seg, conf_m, depth_m = mixed.img, mixed.seg, mixed.extra[0], mixed.extra_depth[0]
            diag['pasted_frac'] = mixed.mask.float().mean()
        if cfg['strong_aug'] is not None:
            with record_function('ccam:strong_aug'):
                img = strong_aug_batch(img, generator=generator,
                                       **self._image_aug_kwargs(cfg['strong_aug'])).img
        return dict(img=img, seg=seg, conf=conf_m, depth=depth_m, pseudo=pseudo,
                    gt_depth=gt_depth, diag=diag)

    def _unsup_losses(self, view: dict, seg_logits: Tensor, depth_pred: Tensor,
                      data_samples: SampleList) -> Dict[str, Tensor]:
        cfg = self.semi_train_cfg
        size = view['img'].shape[2:]
        factor = self.pseudo_label_schedule()
        weight = cfg['unsup_seg_weight'] * factor
        logits = resize(seg_logits, size=size, mode='bilinear',
                        align_corners=self.student.align_corners)
        losses = dict(num_no_depth=count_samples_without_depth(
            data_samples, logits.device, getattr(self.student.depth_head, 'valid_mask', None)))
        losses['loss_seg'] = self.unsup_seg_loss(logits, view['seg'], view['conf']) * weight
        losses['seg_weight'] = logits.new_tensor(weight)
        # The student's depth losses against the mixed ground-truth depth; the count of
        # samples without depth is that of the unmixed batch (above).
        depth_losses = self.student.loss_by_outputs(
            self._depth_samples(view['depth'], data_samples), depth_pred=depth_pred)
        depth_losses.pop('num_no_depth')
        losses.update(scale_losses(depth_losses, cfg['unsup_depth_weight']))
        losses.update(view['diag'])
        return losses

    def _color_view_losses(self, inputs: Tensor, view: dict,
                           data_samples: SampleList, generator: torch.Generator) -> dict:
        """ColorAug depth view: depth loss only; BN running statistics untouched unless
        ``color_view_bn='update'``."""
        cfg = self.semi_train_cfg
        with record_function('ccam:color_aug'):
            aug = color_aug_batch(inputs, view['pseudo'], generator=generator,
                                  ignore_index=IGNORE_INDEX,
                                  **self._image_aug_kwargs(cfg['color_aug']))
        bn_ctx = frozen_bn_stats(self.student) if cfg['color_view_bn'] == 'frozen' \
            else contextlib.nullcontext()
        with record_function('ccam:student'), bn_ctx:
            _, depth_feats = self.student.extract_task_feats(aug.img)
            color_losses = self.student.depth_head_loss(
                depth_feats, self._depth_samples(view['gt_depth'], data_samples))
        return add_prefix(scale_losses(color_losses, cfg['color_depth_weight']), 'color')

    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """Supervised (``sup.*``) and unsupervised (``unsup.*``) losses of a mixed batch,
        with the diagnostics (``unsup.share_above_tau``, ``unsup.teacher_conf``,
        ``unsup.pasted_frac``, ``unsup.seg_weight``, ``ccam.*``; logged, not
        back-propagated).

        Args:
            inputs (Tensor): Normalised images (B, 3, H, W); the unlabeled ones are the weak
                view (geometric augmentation only).
            data_samples (list[SegDataSample]): ``gt_sem_seg`` (all 255 for unlabeled
                frames), ``gt_depth_map`` where available, metainfo ``has_seg_label``.
        """
        self.remember_batch(data_samples)
        cfg = self.semi_train_cfg
        batch = self.split_batch(inputs, data_samples)
        losses, views = dict(), []
        if batch['labeled'] is not None:
            views.append(batch['labeled'][0])
        if batch['unlabeled'] is not None:
            unl_inputs, unl_samples = batch['unlabeled']
            generator = self._generator(inputs.device)
            view = self._unsup_views(unl_inputs, unl_samples, generator)
            views.append(view['img'])
        if cfg['student_forward'] == 'concat':
            with record_function('ccam:student'):
                outs = self._student_views(views)
        else:
            outs = []
            for v in views:
                with record_function('ccam:student'):
                    outs.extend(self._student_views([v]))
        ccam_diag = self._ccam_diagnostics()
        if batch['labeled'] is not None:
            seg_feats, _, seg_logits, depth_pred = outs[0]
            sup = self.student.loss_by_outputs(batch['labeled'][1], seg_logits, depth_pred,
                                               seg_feats)
            losses.update(add_prefix(scale_losses(sup, cfg['sup_weight']), 'sup'))
        if batch['unlabeled'] is not None:
            _, _, seg_logits, depth_pred = outs[-1]
            unsup = self._unsup_losses(view, seg_logits, depth_pred, unl_samples)
            if cfg['color_aug'] is not None:
                unsup.update(self._color_view_losses(unl_inputs, view, unl_samples, generator))
            losses.update(add_prefix(unsup, 'unsup'))
        losses.update(ccam_diag)
        return losses
