"""Mean-teacher semi-supervised training of a joint segmentation + depth segmentor.

See docs/method.md, "Semi-supervised step".
"""
import contextlib
import copy
import logging
import math
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub, print_log
from mmengine.model import BaseModel
from mmengine.runner.checkpoint import _load_checkpoint
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
from torch.profiler import record_function

from mmseg_ccam.augmentation.affine_mix import affine_mix_batch
from mmseg_ccam.augmentation.color_aug import color_aug_batch
from mmseg_ccam.augmentation.strong_aug import strong_aug_batch
from mmseg_ccam.models.segmentors.loss_guard import FiniteLossGuardMixin
from mmseg_ccam.models.segmentors.seg_depth_encoder_decoder import (
    count_samples_without_depth,
    scale_losses,
)
from mmseg_ccam.utils.config_check import check_cfg_keys
from mmseg_ccam.utils.exceptions import IncompatibleCheckpointError

__all__ = ['MeanTeacherSegDepth', 'split_labeled', 'parse_semi_train_cfg', 'frozen_bn_stats']

IGNORE_INDEX = 255

# The defaults of the method live here; configs/_base_/semi/mean_teacher.py repeats them for
# readability and changes only what SynthCity needs (with its reason).
_AFFINE_MIX_DEFAULTS = dict(scale_range=(1.0, 1.5), max_translate_ratio=0.2, flip_prob=0.5,
                            warp=True, prob=1.0, margin=0.3)
_COLOR_AUG_DEFAULTS = dict(prob=0.5, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
_IMAGE_AUG_OPTIONAL = ('channel_order', 'value_range')
_STRONG_AUG_DEFAULTS = dict(color_prob=0.8, brightness=0.2, contrast=0.2, saturation=0.2,
                            hue=0.05, blur_prob=0.5, blur_sigma=(0.15, 1.15),
                            blur_kernel_ratio=0.1)
_TRAIN_DEFAULTS = dict(tau=0.968, sup_weight=1.0, unsup_seg_weight=1.0, unsup_depth_weight=1.0,
                       color_depth_weight=1.0, unsup_start_iter=0, unsup_rampup_iters=0,
                       pseudo_weight='batch', student_forward='concat', color_view_bn='frozen',
                       affine_mix=_AFFINE_MIX_DEFAULTS, strong_aug=_STRONG_AUG_DEFAULTS,
                       color_aug=_COLOR_AUG_DEFAULTS)
_CHOICES = dict(pseudo_weight=('batch', 'image', 'mask'), student_forward=('concat', 'separate'),
                color_view_bn=('frozen', 'update'))
_TEST_KEYS = ('eval_model', )
_INIT_CFG_KEYS = ('type', 'checkpoint', 'map_location')
_MAX_KEYS_SHOWN = 5


def _merge_sub_cfg(name: str, given: Optional[dict], defaults: dict,
                   optional: Tuple[str, ...] = ()) -> Optional[dict]:
    """Defaults updated with ``given``; None switches the step off; unknown keys raise."""
    if given is None:
        return None
    if not isinstance(given, dict):
        raise TypeError(f'MeanTeacherSegDepth: semi_train_cfg.{name} must be a dict or None, '
                        f'got {type(given).__name__}.')
    check_cfg_keys(given, list(defaults) + list(optional),
                   f'MeanTeacherSegDepth semi_train_cfg.{name}')
    return {**defaults, **dict(given)}


def parse_semi_train_cfg(cfg: Optional[dict]) -> dict:
    """Complete ``semi_train_cfg`` with the defaults and check its keys.

    Args:
        cfg (dict | None): User settings; see :class:`MeanTeacherSegDepth`.

    Returns:
        dict: All keys of the defaults; ``affine_mix`` / ``color_aug`` are dicts or None.
    """
    cfg = dict(cfg or {})
    check_cfg_keys(cfg, _TRAIN_DEFAULTS, 'MeanTeacherSegDepth semi_train_cfg')
    out = {k: cfg.get(k, v) for k, v in _TRAIN_DEFAULTS.items()}
    # mode / depth_order: the ClassMix and shuffled-depth controls of affine_mix_batch
    out['affine_mix'] = _merge_sub_cfg('affine_mix', out['affine_mix'], _AFFINE_MIX_DEFAULTS,
                                       ('mode', 'depth_order'))
    mix = out['affine_mix'] or {}
    for key, allowed in (('mode', ('affinemix', 'depthmix', 'classmix')),
                         ('depth_order', ('true', 'shuffled'))):
        if key in mix and mix[key] not in allowed:
            raise ValueError(f'MeanTeacherSegDepth: semi_train_cfg.affine_mix.{key} must be one '
                             f'of {allowed}, got {mix[key]!r}.')
    out['strong_aug'] = _merge_sub_cfg('strong_aug', out['strong_aug'], _STRONG_AUG_DEFAULTS,
                                       _IMAGE_AUG_OPTIONAL)
    out['color_aug'] = _merge_sub_cfg('color_aug', out['color_aug'], _COLOR_AUG_DEFAULTS,
                                      _IMAGE_AUG_OPTIONAL)
    for key in ('tau', 'sup_weight', 'unsup_seg_weight', 'unsup_depth_weight',
                'color_depth_weight'):
        out[key] = float(out[key])
    for key in ('unsup_start_iter', 'unsup_rampup_iters'):
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f'MeanTeacherSegDepth: semi_train_cfg.{key} must be an int >= 0 '
                             f'(iterations), got {value!r}.')
    for key, choices in _CHOICES.items():
        if out[key] not in choices:
            raise ValueError(f'MeanTeacherSegDepth: semi_train_cfg.{key} must be one of '
                             f'{choices}, got {out[key]!r}.')
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
class MeanTeacherSegDepth(FiniteLossGuardMixin, BaseModel):
    """Mean teacher around a :class:`SegDepthEncoderDecoder` (student + EMA teacher).

    .. code:: text

     loss(): split batch by has_seg_label (or gt_sem_seg != 255)
       unlabeled (weak view: the pipeline's geometric augmentation only)
                  -> teacher (eval, no_grad): seg softmax -> conf, pseudo-label; depth
                  -> affine_mix_batch(img, pseudo, teacher depth, extra=conf,
                                      extra_depth=GT depth, margin)
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

    One owner per rule: this model freezes the teacher (``requires_grad_(False)`` in
    ``__init__``, before DDP wraps it), keeps it in eval mode (:meth:`train`), and starts it
    as a copy of the student (:meth:`init_weights`); :class:`MeanTeacherHook` only does the
    EMA update after each iteration. Random draws of AffineMix / strong augmentation /
    ColorAug come from a ``torch.Generator`` seeded from torch's global RNG at every step, so
    MMEngine's ``randomness`` seed (and a resume that restores the RNG state) makes a run
    reproducible.

    Training stops with :class:`NonFiniteLossError` at the first NaN / inf loss, before the
    optimizer step and the EMA update (see :mod:`.loss_guard`). ``num_no_depth`` entries of the
    loss dict (logged, not back-propagated) count the samples without a valid depth pixel.

    Checkpoints must hold ``student.*`` and ``teacher.*`` weights: loading one without the
    ``teacher.*`` keys (``load_from``, ``--resume``, ``tools/test.py``, ``load_checkpoint``)
    raises :class:`IncompatibleCheckpointError` naming the missing keys, instead of evaluating or
    training with a randomly initialised teacher. To start semi-supervised training from a
    supervised ``SegDepthEncoderDecoder`` checkpoint, set
    ``init_cfg=dict(type='Pretrained', checkpoint=...)``: :meth:`init_weights` loads it into the
    student and copies the student into the teacher.

    Args:
        segmentor (dict): Config of the student (a ``SegDepthEncoderDecoder`` with both a
            ``decode_head`` and a ``depth_head``). Its ``data_preprocessor`` is used when
            ``data_preprocessor`` is None, and is removed from the student and teacher.
        data_preprocessor (dict | None): e.g. ``SegDepthDataPreProcessor``; normalises inputs.
        semi_train_cfg (dict | None): Keys (defaults in brackets):

            - ``tau`` (0.968): confidence threshold of the pseudo-labels.
            - ``sup_weight``, ``unsup_seg_weight``, ``unsup_depth_weight``,
              ``color_depth_weight`` (1.0 each): loss weights.
            - ``unsup_start_iter`` (0), ``unsup_rampup_iters`` (0): the pseudo-label loss is 0
              before ``unsup_start_iter``, then ramps up as ``exp(-5 (1 - x)^2)`` over
              ``unsup_rampup_iters`` (see :meth:`pseudo_label_schedule`).
            - ``pseudo_weight`` ('batch'): 'batch' (the batch's share above ``tau`` times the
              batch's mean CE, as DACS), 'image' (per-image shares and means) or 'mask'
              (CE on the pixels >= ``tau`` only, over the valid pixels: no gradient from
              pixels below ``tau``).
            - ``student_forward`` ('concat'): 'concat' (labeled and unlabeled views in one
              student forward) or 'separate' (two forwards; BN statistics updated twice).
            - ``color_view_bn`` ('frozen'): 'frozen' (the ColorAug view does not move BN
              running statistics) or 'update' (it does; the behaviour before this option).
            - ``affine_mix``: dict of :func:`affine_mix_batch` options ``scale_range``,
              ``max_translate_ratio``, ``flip_prob``, ``warp``, ``prob``, ``margin``;
              None: no mixing.
            - ``strong_aug``: dict of :func:`strong_aug_batch` options ``color_prob``,
              ``brightness``, ``contrast``, ``saturation``, ``hue``, ``blur_prob``,
              ``blur_sigma``, ``blur_kernel_ratio`` (optionally ``channel_order``,
              ``value_range``); None: the student sees the weak (mixed) view.
            - ``color_aug``: dict of :func:`color_aug_batch` options ``prob``,
              ``brightness``, ``contrast``, ``saturation``, ``hue`` (optionally
              ``channel_order``, ``value_range``); None: no ColorAug loss.

        semi_test_cfg (dict | None): ``eval_model``: 'teacher' (default) or 'student'.
        init_cfg (dict | None): None (the student's own init), or
            ``dict(type='Pretrained', checkpoint=PATH[, map_location='cpu'])``: the weights of a
            supervised ``SegDepthEncoderDecoder`` checkpoint, or the ``student.*`` weights of a
            ``MeanTeacherSegDepth`` checkpoint, are loaded into the student and copied to the
            teacher by :meth:`init_weights` (MMEngine calls it at the start of ``train``; a
            ``load_from`` / resume checkpoint then overrides it).
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
        segmentor = copy.deepcopy(dict(segmentor))
        seg_preprocessor = segmentor.pop('data_preprocessor', None)
        if data_preprocessor is None:
            data_preprocessor = seg_preprocessor
        if init_cfg is not None:
            if not (isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'
                    and init_cfg.get('checkpoint')):
                raise ValueError(
                    "MeanTeacherSegDepth: init_cfg must be None or dict(type='Pretrained', "
                    f'checkpoint=PATH), got {init_cfg!r}. Initialise parts of the network with '
                    'init_cfg inside model.segmentor instead.')
            check_cfg_keys(init_cfg, _INIT_CFG_KEYS, 'MeanTeacherSegDepth init_cfg')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.check_finite_loss = bool(check_finite_loss)
        self.semi_train_cfg = parse_semi_train_cfg(semi_train_cfg)
        semi_test_cfg = dict(semi_test_cfg or {})
        check_cfg_keys(semi_test_cfg, _TEST_KEYS, 'MeanTeacherSegDepth semi_test_cfg')
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
        """Initialise the student (its own init, or the ``Pretrained`` checkpoint of
        ``init_cfg``) and start the teacher as an exact copy of it."""
        if self.init_cfg is None:
            self.student.init_weights()
        else:
            self.load_student_weights(self.init_cfg['checkpoint'],
                                      self.init_cfg.get('map_location', 'cpu'))
        self.teacher.load_state_dict(self.student.state_dict())

    def load_student_weights(self, filename: str, map_location: str = 'cpu') -> None:
        """Load the student from a supervised ``SegDepthEncoderDecoder`` checkpoint, or from the
        ``student.*`` weights of a ``MeanTeacherSegDepth`` checkpoint.

        Raises:
            IncompatibleCheckpointError: if student weights are missing from the file.
        """
        ckpt = _load_checkpoint(filename, map_location=map_location)
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
        state = {(k[len('module.'):] if k.startswith('module.') else k): v
                 for k, v in state.items()}
        if any(k.startswith('student.') for k in state):
            state = {k[len('student.'):]: v for k, v in state.items() if k.startswith('student.')}
        own = self.student.state_dict()
        expected = [k for k in own if 'num_batches_tracked' not in k]
        missing = [k for k in expected if k not in state]
        if missing:
            raise IncompatibleCheckpointError(
                f'{{checkpoint}} (model.init_cfg.checkpoint) lacks {len(missing)} of the '
                f'{len(expected)} student weights, e.g. {missing[:_MAX_KEYS_SHOWN]}: it is not a '
                'checkpoint of the segmentor in model.segmentor. Use a checkpoint trained with '
                'the same model config.', checkpoint=str(filename))
        unexpected = [k for k in state if k not in own]
        if unexpected:
            print_log(f'MeanTeacherSegDepth: ignored {len(unexpected)} key(s) of {filename} '
                      f'that the student does not have, e.g. {unexpected[:_MAX_KEYS_SHOWN]}',
                      logger='current', level=logging.WARNING)
        self.student.load_state_dict(state, strict=False)
        print_log(f'MeanTeacherSegDepth: student initialised from {filename}; the teacher '
                  'starts as its copy', logger='current')

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        """Refuse a checkpoint without ``teacher.*`` weights.

        MMEngine loads checkpoints non-strictly and only warns about missing keys, which would
        leave the teacher (the evaluated model, the pseudo-label source) randomly initialised.
        """
        expected = [prefix + 'teacher.' + k for k in self.teacher.state_dict()
                    if 'num_batches_tracked' not in k]
        missing = [k for k in expected if k not in state_dict]
        if missing:
            raise IncompatibleCheckpointError(
                self._missing_teacher_message(state_dict, prefix, missing, len(expected)))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _missing_teacher_message(self, state_dict: dict, prefix: str, missing: List[str],
                                 total: int) -> str:
        shown = missing[:_MAX_KEYS_SHOWN]
        head = (f'{{checkpoint}} has no weights for {len(missing)} of the {total} '
                f"'{prefix}teacher.' keys MeanTeacherSegDepth needs (e.g. {shown}). ")
        use_init = ('To start semi-supervised training from its weights, remove load_from / '
                    "--resume and set model.init_cfg=dict(type='Pretrained', "
                    'checkpoint={checkpoint}): the student is loaded from it and copied into '
                    'the teacher.')
        has_student = any(k.startswith(prefix + 'student.') for k in state_dict)
        supervised = [k for k in self.student.state_dict() if 'num_batches_tracked' not in k]
        if not has_student and any(prefix + k in state_dict for k in supervised):
            return head + (
                'It is a checkpoint of the supervised SegDepthEncoderDecoder (keys such as '
                f'{prefix + supervised[0]!r} without a student./teacher. prefix). To evaluate '
                'it, use the supervised config it was trained with (tools/test.py '
                f'SUPERVISED_CONFIG {{checkpoint}}). {use_init}')
        if has_student and len(missing) == total:
            return head + ("It holds 'student.' weights only (saved without the EMA teacher). "
                           + use_init)
        return head + ('It was saved from a different model or architecture; use the config '
                       'the checkpoint was trained with.')

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

    def _resize_logits(self, logits: Tensor, size) -> Tensor:
        return resize(logits, size=size, mode='bilinear',
                      align_corners=self.student.align_corners)

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
        if getattr(dp, '_enable_normalize', False):
            cfg['mean'] = dp.mean.reshape(-1).tolist()
            cfg['std'] = dp.std.reshape(-1).tolist()
        return cfg

    def _color_aug_kwargs(self) -> dict:
        return self._image_aug_kwargs(self.semi_train_cfg['color_aug'])

    def _ccam_diagnostics(self) -> Dict[str, Tensor]:
        """``ccam.{gamma_s,gamma_d,entropy_sd,entropy_ds}.l{level}`` of the student's neck
        (row entropies of its last training forward); empty without a CCAM neck."""
        neck = getattr(self.student, 'neck', None)
        attentions = getattr(neck, 'attentions', None)
        if attentions is None:
            return {}
        out = {}
        for level, att in zip(neck.levels, attentions):
            for name in ('gamma_s', 'gamma_d'):
                p = getattr(att, name, None)
                if isinstance(p, Tensor):
                    out[f'ccam.{name}.l{level}'] = p.detach().reshape(-1)[0]
            for name, value in getattr(att, 'last_stats', {}).items():
                out[f'ccam.{name}.l{level}'] = value.detach()
        return out

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

    def _sup_losses(self, seg_feats, seg_logits: Tensor, depth_pred: Tensor,
                    samples: SampleList) -> Dict[str, Tensor]:
        """``SegDepthEncoderDecoder.loss`` of the labeled samples from given head outputs."""
        st = self.student
        samples = st._fill_missing_seg_labels(samples, seg_logits.device)
        losses = add_prefix(st.decode_head.loss_by_feat(seg_logits, samples), 'decode')
        if st.with_auxiliary_head:
            losses.update(st._auxiliary_head_forward_train(seg_feats, samples))
        losses = scale_losses(losses, st.seg_loss_weight)
        losses.update(scale_losses(add_prefix(st.depth_head.loss_by_feat(depth_pred, samples),
                                              'depth'), st.depth_loss_weight))
        losses['num_no_depth'] = count_samples_without_depth(
            samples, seg_logits.device, getattr(st.depth_head, 'valid_mask', None))
        return losses

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
        if cfg['affine_mix'] is not None:
            with record_function('ccam:affine_mix'):
                mixed = affine_mix_batch(
                    inputs, pseudo, t_depth, generator=generator, seg_pad_val=IGNORE_INDEX,
                    extra=conf, extra_depth=gt_depth, **cfg['affine_mix'])
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
        logits = self._resize_logits(seg_logits, size)
        losses = dict(num_no_depth=count_samples_without_depth(
            data_samples, logits.device, getattr(self.student.depth_head, 'valid_mask', None)))
        losses['loss_seg'] = self.unsup_seg_loss(logits, view['seg'], view['conf']) * weight
        losses['seg_weight'] = logits.new_tensor(weight)
        depth_losses = add_prefix(self.student.depth_head.loss_by_feat(
            depth_pred, self._depth_samples(view['depth'], data_samples)), 'depth')
        depth_losses = scale_losses(depth_losses, self.student.depth_loss_weight)
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
                                  ignore_index=IGNORE_INDEX, **self._color_aug_kwargs())
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
        labeled, unlabeled = split_labeled(data_samples)
        lab_samples = [data_samples[i] for i in labeled]
        unl_samples = [data_samples[i] for i in unlabeled]
        losses = dict()
        view = generator = None
        if unlabeled:
            generator = self._generator(inputs.device)
            idx = torch.tensor(unlabeled, device=inputs.device)
            unl_inputs = inputs[idx]
            view = self._unsup_views(unl_inputs, unl_samples, generator)

        views = []
        if labeled:
            views.append(inputs[torch.tensor(labeled, device=inputs.device)])
        if unlabeled:
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
        if labeled:
            seg_feats, _, seg_logits, depth_pred = outs[0]
            sup = self._sup_losses(seg_feats, seg_logits, depth_pred, lab_samples)
            losses.update(add_prefix(scale_losses(sup, cfg['sup_weight']), 'sup'))
        if unlabeled:
            _, _, seg_logits, depth_pred = outs[-1]
            unsup = self._unsup_losses(view, seg_logits, depth_pred, unl_samples)
            if cfg['color_aug'] is not None:
                unsup.update(self._color_view_losses(unl_inputs, view, unl_samples, generator))
            losses.update(add_prefix(unsup, 'unsup'))
        losses.update(ccam_diag)
        return losses


@contextlib.contextmanager
def frozen_bn_stats(module: nn.Module):
    """Inside the block, BatchNorm layers of ``module`` normalise with batch statistics (train
    mode) but do not update their running statistics or ``num_batches_tracked``.

    For auxiliary views (the ColorAug depth view) that should train the weights without
    shifting the statistics used at test time towards their distribution.
    """
    bns = [m for m in module.modules()
           if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for m in bns:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in bns:
            m.track_running_stats = True
