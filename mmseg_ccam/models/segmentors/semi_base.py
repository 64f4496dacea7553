"""Student / teacher ownership of a semi-supervised segmentor, without the training step.

The part of MMDetection's ``SemiBaseDetector`` that is independent of the method: who owns the
teacher (frozen, eval mode, a copy of the student), how a batch is routed into labeled and
unlabeled samples, which model answers ``predict`` / ``tensor``, and which checkpoints load.
:class:`MeanTeacherSegDepth` adds the mean-teacher step (docs/method.md, "Semi-supervised step").
"""
import copy
import logging
from typing import Dict, List, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.runner.checkpoint import CheckpointLoader
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig, OptSampleList, SampleList
from torch import Tensor

from mmseg_ccam.models.segmentors.semi_cfg import check_semi_init_cfg, parse_semi_test_cfg
from mmseg_ccam.models.utils.loss_guard import FiniteLossGuardMixin
from mmseg_ccam.utils.exceptions import IncompatibleCheckpointError

__all__ = ['SemiBaseSegDepth', 'is_labeled', 'split_labeled', 'IGNORE_INDEX']

IGNORE_INDEX = 255
_MAX_KEYS_SHOWN = 5


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


class SemiBaseSegDepth(FiniteLossGuardMixin, BaseModel):
    """A student :class:`SegDepthEncoderDecoder` and its teacher; subclasses define ``loss``.

    Rules owned here: the teacher is frozen (``requires_grad_(False)`` in ``__init__``, before
    DDP wraps the model), stays in eval mode (:meth:`train`) and starts as a copy of the
    student (:meth:`init_weights`); ``predict`` / ``tensor`` use ``semi_test_cfg.eval_model``;
    a checkpoint without ``teacher.*`` weights raises :class:`IncompatibleCheckpointError`
    (MMEngine's non-strict loading would leave the teacher random); ``init_cfg=dict(
    type='Pretrained', checkpoint=...)`` loads a supervised checkpoint into the student.

    Args:
        segmentor (dict): Config of the student, with both a ``decode_head`` and a
            ``depth_head``. Its ``data_preprocessor`` is used when ``data_preprocessor`` is
            None, and is removed from the student and teacher.
        data_preprocessor (dict | None): e.g. ``SegDepthDataPreProcessor``.
        semi_test_cfg (dict | None): ``eval_model``: 'teacher' (default) or 'student'.
        init_cfg (dict | None): None, or ``dict(type='Pretrained', checkpoint=PATH[,
            map_location='cpu'])``: see :meth:`load_student_weights`.
        check_finite_loss (bool): Stop training at the first non-finite loss.
    """

    def __init__(self,
                 segmentor: ConfigType,
                 data_preprocessor: OptConfigType = None,
                 semi_test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None,
                 check_finite_loss: bool = True) -> None:
        segmentor = copy.deepcopy(dict(segmentor))
        seg_preprocessor = segmentor.pop('data_preprocessor', None)
        if data_preprocessor is None:
            data_preprocessor = seg_preprocessor
        check_semi_init_cfg(init_cfg)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.check_finite_loss = bool(check_finite_loss)
        self.semi_test_cfg = parse_semi_test_cfg(semi_test_cfg)
        self.student = MODELS.build(segmentor)
        if getattr(self.student, 'decode_head', None) is None or \
                getattr(self.student, 'depth_head', None) is None:
            raise ValueError(f'{type(self).__name__}: the segmentor config needs both '
                             'decode_head and depth_head (pseudo-labels drive AffineMix/ColorAug, '
                             'depth drives the occlusion test).')
        self.teacher = copy.deepcopy(self.student)
        # Frozen before any wrapper (DDP) registers trainable parameters; the EMA hook
        # updates it in place.
        self.teacher.requires_grad_(False)
        self.teacher.eval()

    # ------------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> 'SemiBaseSegDepth':
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

    @property
    def eval_model(self):
        """The segmentor used by ``predict`` / ``tensor`` mode."""
        return self.teacher if self.semi_test_cfg['eval_model'] == 'teacher' else self.student

    # ----------------------------------------------------------------- routing
    @staticmethod
    def split_batch(inputs: Tensor, data_samples: SampleList) -> Dict[str, tuple]:
        """``dict(labeled=(inputs, samples), unlabeled=(inputs, samples))``, each None when
        the batch has no such sample (see :func:`is_labeled`)."""
        out = dict(labeled=None, unlabeled=None)
        for name, idx in zip(out, split_labeled(data_samples)):
            if idx:
                out[name] = (inputs[torch.tensor(idx, device=inputs.device)],
                             [data_samples[i] for i in idx])
        return out

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

    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        raise NotImplementedError(f'{type(self).__name__} must define its training step.')

    def extract_feat(self, inputs: Tensor):
        """Features ``(seg_feats, depth_feats)`` of the evaluation model."""
        return self.eval_model.extract_feat(inputs)

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        """Predictions of the teacher or the student (``semi_test_cfg.eval_model``)."""
        return self.eval_model.predict(inputs, data_samples)

    def _forward(self, inputs: Tensor, data_samples: OptSampleList = None) -> Dict[str, Tensor]:
        """Raw ``dict(seg=logits, depth=metres)`` of the evaluation model."""
        return self.eval_model(inputs, data_samples, mode='tensor')

    # ------------------------------------------------------------- checkpoints
    def load_student_weights(self, filename: str, map_location: str = 'cpu') -> None:
        """Load the student from a supervised ``SegDepthEncoderDecoder`` checkpoint, or from the
        ``student.*`` weights of a semi-supervised checkpoint.

        Raises:
            IncompatibleCheckpointError: if student weights are missing from the file.
        """
        name = type(self).__name__
        ckpt = CheckpointLoader.load_checkpoint(filename, map_location=map_location)
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
            print_log(f'{name}: ignored {len(unexpected)} key(s) of {filename} '
                      f'that the student does not have, e.g. {unexpected[:_MAX_KEYS_SHOWN]}',
                      logger='current', level=logging.WARNING)
        self.student.load_state_dict(state, strict=False)
        print_log(f'{name}: student initialised from {filename}; the teacher '
                  'starts as its copy', logger='current')

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        """Refuse a checkpoint without ``teacher.*`` weights (the evaluated model and the
        pseudo-label source would stay randomly initialised)."""
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
                f"'{prefix}teacher.' keys {type(self).__name__} needs (e.g. {shown}). ")
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
