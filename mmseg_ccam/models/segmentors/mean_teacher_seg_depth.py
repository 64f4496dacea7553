"""Mean-teacher semi-supervised training of a joint segmentation + depth segmentor (DESIGN §6)."""
import copy
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
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

from mmseg_ccam.augmentation.affine_mix import affine_mix_batch
from mmseg_ccam.augmentation.color_aug import color_aug_batch
from mmseg_ccam.models.segmentors.seg_depth_encoder_decoder import scale_losses

__all__ = ['MeanTeacherSegDepth', 'split_labeled', 'parse_semi_train_cfg']

IGNORE_INDEX = 255

_AFFINE_MIX_DEFAULTS = dict(scale_range=(1.0, 1.5), max_translate_ratio=0.2, flip_prob=0.5,
                            warp=True, prob=1.0)
_COLOR_AUG_DEFAULTS = dict(prob=0.5, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
_COLOR_AUG_OPTIONAL = ('channel_order', 'value_range')
_TRAIN_DEFAULTS = dict(tau=0.968, sup_weight=1.0, unsup_seg_weight=1.0, unsup_depth_weight=1.0,
                       color_depth_weight=1.0, affine_mix=_AFFINE_MIX_DEFAULTS,
                       color_aug=_COLOR_AUG_DEFAULTS)


def _merge_sub_cfg(name: str, given: Optional[dict], defaults: dict,
                   optional: Tuple[str, ...] = ()) -> Optional[dict]:
    """Defaults updated with ``given``; None switches the step off; unknown keys raise."""
    if given is None:
        return None
    if not isinstance(given, dict):
        raise TypeError(f'MeanTeacherSegDepth: semi_train_cfg.{name} must be a dict or None, '
                        f'got {type(given).__name__}.')
    unknown = [k for k in given if k not in defaults and k not in optional]
    if unknown:
        raise KeyError(f'MeanTeacherSegDepth: unknown key(s) {unknown} in semi_train_cfg.{name}; '
                       f'allowed: {sorted(list(defaults) + list(optional))}.')
    return {**defaults, **dict(given)}


def parse_semi_train_cfg(cfg: Optional[dict]) -> dict:
    """Complete ``semi_train_cfg`` with the defaults and check its keys.

    Args:
        cfg (dict | None): User settings; see :class:`MeanTeacherSegDepth`.

    Returns:
        dict: All keys of the defaults; ``affine_mix`` / ``color_aug`` are dicts or None.
    """
    cfg = dict(cfg or {})
    unknown = [k for k in cfg if k not in _TRAIN_DEFAULTS]
    if unknown:
        raise KeyError(f'MeanTeacherSegDepth: unknown key(s) {unknown} in semi_train_cfg; '
                       f'allowed: {sorted(_TRAIN_DEFAULTS)}.')
    out = {k: cfg.get(k, v) for k, v in _TRAIN_DEFAULTS.items()}
    out['affine_mix'] = _merge_sub_cfg('affine_mix', out['affine_mix'], _AFFINE_MIX_DEFAULTS)
    out['color_aug'] = _merge_sub_cfg('color_aug', out['color_aug'], _COLOR_AUG_DEFAULTS,
                                      _COLOR_AUG_OPTIONAL)
    for key in ('tau', 'sup_weight', 'unsup_seg_weight', 'unsup_depth_weight',
                'color_depth_weight'):
        out[key] = float(out[key])
    return out


def is_labeled(sample: SegDataSample, ignore_index: int = IGNORE_INDEX) -> bool:
    """Metainfo ``has_seg_label`` when present, otherwise whether ``gt_sem_seg`` has any
    pixel other than ``ignore_index`` (a missing ``gt_sem_seg`` means unlabeled)."""
    if 'has_seg_label' in sample.metainfo:
        return bool(sample.metainfo['has_seg_label'])
    if 'gt_sem_seg' not in sample:
        return False
    return bool((sample.gt_sem_seg.data != ignore_index).any())


def split_labeled(data_samples: SampleList,
                  ignore_index: int = IGNORE_INDEX) -> Tuple[List[int], List[int]]:
    """Indices of the labeled and of the unlabeled samples of a batch."""
    flags = [is_labeled(ds, ignore_index) for ds in data_samples]
    return ([i for i, f in enumerate(flags) if f], [i for i, f in enumerate(flags) if not f])


@MODELS.register_module()
class MeanTeacherSegDepth(BaseModel):
    """Mean teacher around a :class:`SegDepthEncoderDecoder` (student + EMA teacher).

    .. code:: text

     loss(): split batch by has_seg_label (or gt_sem_seg != 255)
       labeled    -> student.loss()                                        'sup.*'
       unlabeled  -> teacher (eval, no_grad): seg softmax -> conf, pseudo-label; depth
                  -> affine_mix_batch(img, pseudo, teacher depth, extra=conf,
                                      extra_depth=GT depth)
                  -> student CE(mixed img, mixed pseudo-label) * w_i          'unsup.loss_seg'
                     w_i = share of mixed pixels with conf >= tau
                  -> student depth loss(mixed img, mixed GT depth)           'unsup.depth.*'
                  -> color_aug_batch(img, pseudo) -> student depth loss(GT)  'unsup.color.depth.*'

    The teacher is a deep copy of the student, frozen (``requires_grad_(False)``) and kept in
    eval mode; :class:`MeanTeacherHook` updates it as the EMA of the student after every
    iteration. Random draws of AffineMix / ColorAug come from a ``torch.Generator`` on the
    inputs' device seeded from torch's global RNG at every step, so MMEngine's ``randomness``
    seed makes a run reproducible.

    Args:
        segmentor (dict): Config of the student (a ``SegDepthEncoderDecoder`` with both a
            ``decode_head`` and a ``depth_head``). Its ``data_preprocessor`` is used when
            ``data_preprocessor`` is None, and is removed from the student and teacher.
        data_preprocessor (dict | None): e.g. ``SegDepthDataPreProcessor``; normalises inputs.
        semi_train_cfg (dict | None): ``tau`` (0.968), ``sup_weight`` (1.0),
            ``unsup_seg_weight`` (1.0), ``unsup_depth_weight`` (1.0), ``color_depth_weight``
            (1.0), ``affine_mix`` (dict of :func:`affine_mix_batch` options ``scale_range``,
            ``max_translate_ratio``, ``flip_prob``, ``warp``, ``prob``; None: no mixing),
            ``color_aug`` (dict of :func:`color_aug_batch` options ``prob``, ``brightness``,
            ``contrast``, ``saturation``, ``hue`` and optionally ``channel_order``,
            ``value_range``; None: no ColorAug loss).
        semi_test_cfg (dict | None): ``eval_model``: 'teacher' (default) or 'student'.
        init_cfg (dict | None): Initialization config.

    Shapes:
        inputs (B, 3, H, W) normalised images; pseudo-labels / confidence (B, H, W);
        depth (B, 1, H, W) metres, 0 = invalid.
    """

    def __init__(self,
                 segmentor: ConfigType,
                 data_preprocessor: OptConfigType = None,
                 semi_train_cfg: OptConfigType = None,
                 semi_test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        segmentor = copy.deepcopy(dict(segmentor))
        seg_preprocessor = segmentor.pop('data_preprocessor', None)
        if data_preprocessor is None:
            data_preprocessor = seg_preprocessor
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.semi_train_cfg = parse_semi_train_cfg(semi_train_cfg)
        semi_test_cfg = dict(semi_test_cfg or {})
        unknown = [k for k in semi_test_cfg if k != 'eval_model']
        if unknown:
            raise KeyError(f'MeanTeacherSegDepth: unknown key(s) {unknown} in semi_test_cfg; '
                           "allowed: ['eval_model'].")
        eval_model = semi_test_cfg.get('eval_model', 'teacher')
        if eval_model not in ('teacher', 'student'):
            raise ValueError("MeanTeacherSegDepth: semi_test_cfg.eval_model must be 'teacher' or "
                             f"'student', got {eval_model!r}.")
        self.semi_test_cfg = dict(eval_model=eval_model)

        self.student = MODELS.build(segmentor)
        if getattr(self.student, 'decode_head', None) is None or \
                getattr(self.student, 'depth_head', None) is None:
            raise ValueError('MeanTeacherSegDepth: the segmentor config needs both decode_head and '
                             'depth_head (pseudo-labels drive AffineMix/ColorAug, depth drives '
                             'the occlusion test).')
        self.teacher = copy.deepcopy(self.student)
        # Frozen before any wrapper (DDP) registers trainable parameters; the EMA hook
        # updates it in place.
        self.teacher.requires_grad_(False)
        self.teacher.eval()

    # ------------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> 'MeanTeacherSegDepth':
        """Set the student's mode; the teacher always stays in eval mode (BN statistics)."""
        super().train(mode)
        self.teacher.eval()
        return self

    def init_weights(self) -> None:
        """Initialise the student and start the teacher as an exact copy of it."""
        self.student.init_weights()
        self.teacher.load_state_dict(self.student.state_dict())

    @property
    def eval_model(self):
        """The segmentor used by ``predict`` / ``tensor`` mode."""
        return self.teacher if self.semi_test_cfg['eval_model'] == 'teacher' else self.student

    # ----------------------------------------------------------------- forward
    def forward(self,
                inputs: Tensor,
                data_samples: OptSampleList = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], SampleList]:
        """``mode``: 'loss' (dict of losses), 'predict' (data samples), 'tensor' (raw heads)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, predict and tensor mode')

    def extract_feat(self, inputs: Tensor):
        """Features ``(seg_feats, depth_feats)`` of the evaluation model."""
        return self.eval_model.extract_feat(inputs)

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        """Predictions of the teacher or the student (``semi_test_cfg.eval_model``)."""
        return self.eval_model.predict(inputs, data_samples)

    def _forward(self, inputs: Tensor, data_samples: OptSampleList = None) -> Dict[str, Tensor]:
        """Raw ``dict(seg=logits, depth=metres)`` of the evaluation model."""
        return self.eval_model._forward(inputs, data_samples)

    # ---------------------------------------------------------------- training
    def _generator(self, device: torch.device) -> torch.Generator:
        # Seeded from the global RNG, which MMEngine seeds, so runs are reproducible while
        # draws can happen on the inputs' device.
        seed = int(torch.randint(0, 2**62, (1, ), dtype=torch.int64))
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

    def _student_seg_logits(self, seg_feats, size) -> Tensor:
        logits = self.student.decode_head.forward(seg_feats)
        return resize(logits, size=size, mode='bilinear',
                      align_corners=self.student.align_corners)

    def unsup_seg_loss(self, logits: Tensor, pseudo: Tensor, conf: Tensor) -> Tensor:
        """Confidence-weighted CE: mean over images of ``w_i * CE_i``.

        ``CE_i`` is the mean over the non-ignored pixels of image ``i``; ``w_i`` the share of
        its pixels with ``conf >= tau`` (a constant, no gradient).
        """
        ce = F.cross_entropy(logits, pseudo, ignore_index=IGNORE_INDEX, reduction='none')
        valid = (pseudo != IGNORE_INDEX).to(ce.dtype)
        per_image = (ce * valid).flatten(1).sum(1) / valid.flatten(1).sum(1).clamp(min=1)
        weight = (conf >= self.semi_train_cfg['tau']).to(ce.dtype).flatten(1).mean(1)
        return (weight.detach() * per_image).mean()

    def _color_aug_kwargs(self) -> dict:
        cfg = dict(self.semi_train_cfg['color_aug'])
        dp = self.data_preprocessor
        if 'channel_order' not in cfg:
            # mmseg loads BGR; either channel flag of the preprocessor flips it to RGB.
            cfg['channel_order'] = 'rgb' if getattr(dp, 'channel_conversion', False) else 'bgr'
        if getattr(dp, '_enable_normalize', False):
            cfg['mean'] = dp.mean.reshape(-1).tolist()
            cfg['std'] = dp.std.reshape(-1).tolist()
        return cfg

    def unsup_loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of the unlabeled samples (see the class docstring); keys without prefix."""
        cfg = self.semi_train_cfg
        size = inputs.shape[2:]
        pseudo, conf, t_depth = self.teacher_predict(inputs)
        gt_depth = self._stack_gt_depth(data_samples, inputs)
        generator = self._generator(inputs.device)

        img, seg, conf_m, depth_m = inputs, pseudo, conf, gt_depth
        if cfg['affine_mix'] is not None:
            mixed = affine_mix_batch(
                inputs, pseudo, t_depth, generator=generator, seg_pad_val=IGNORE_INDEX,
                extra=conf, extra_depth=gt_depth, **cfg['affine_mix'])
            img, seg, conf_m, depth_m = mixed.img, mixed.seg, mixed.extra[0], mixed.extra_depth[0]

        losses = dict()
        seg_feats, depth_feats = self.student.extract_task_feats(img)
        logits = self._student_seg_logits(seg_feats, size)
        losses['loss_seg'] = self.unsup_seg_loss(logits, seg, conf_m) * cfg['unsup_seg_weight']
        depth_losses = self.student.depth_head_loss(
            depth_feats, self._depth_samples(depth_m, data_samples))
        losses.update(scale_losses(depth_losses, cfg['unsup_depth_weight']))

        if cfg['color_aug'] is not None:
            aug = color_aug_batch(inputs, pseudo, generator=generator,
                                  ignore_index=IGNORE_INDEX, **self._color_aug_kwargs())
            _, depth_feats = self.student.extract_task_feats(aug.img)
            color_losses = self.student.depth_head_loss(
                depth_feats, self._depth_samples(gt_depth, data_samples))
            losses.update(add_prefix(scale_losses(color_losses, cfg['color_depth_weight']),
                                     'color'))
        return losses

    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """Supervised (``sup.*``) and unsupervised (``unsup.*``) losses of a mixed batch.

        Args:
            inputs (Tensor): Normalised images (B, 3, H, W).
            data_samples (list[SegDataSample]): ``gt_sem_seg`` (all 255 for unlabeled
                frames), ``gt_depth_map`` where available, metainfo ``has_seg_label``.
        """
        labeled, unlabeled = split_labeled(data_samples)
        losses = dict()
        if labeled:
            idx = torch.tensor(labeled, device=inputs.device)
            sup = self.student.loss(inputs[idx], [data_samples[i] for i in labeled])
            losses.update(add_prefix(scale_losses(sup, self.semi_train_cfg['sup_weight']), 'sup'))
        if unlabeled:
            idx = torch.tensor(unlabeled, device=inputs.device)
            unsup = self.unsup_loss(inputs[idx], [data_samples[i] for i in unlabeled])
            losses.update(add_prefix(unsup, 'unsup'))
        return losses
