"""Mean-teacher EMA update of ``model.teacher`` from ``model.student``.

See docs/method.md, "Teacher and EMA update".
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS
from torch.profiler import record_function

__all__ = ['MeanTeacherHook', 'ema_momentum', 'ema_update_', 'paired_tensors']


def ema_momentum(step: int, momentum: float) -> float:
    """Student weight of the EMA update number ``step`` (0-based).

    ``w = max(1 / (step + 1), momentum)``: the first update (``step=0``, ``w=1``) copies the
    student, and the warm-up makes the teacher the plain average of the first students until
    ``momentum`` floors it (Tarvainen & Valpola's mean teacher, written with MMEngine's
    meaning of momentum).

    Args:
        step (int): Number of EMA updates done before this one, >= 0.
        momentum (float): Lower bound of the student weight, in (0, 1].

    Returns:
        float: The student weight ``w`` in ``teacher = (1 - w) * teacher + w * student``.
    """
    if step < 0:
        raise ValueError(f'ema_momentum: step must be >= 0, got {step}')
    return max(1.0 / (step + 1), momentum)


@torch.no_grad()
def ema_update_(teacher_params: List[torch.Tensor], student_params: List[torch.Tensor],
                teacher_buffers: List[torch.Tensor], student_buffers: List[torch.Tensor],
                momentum: float, update_buffers: bool = False) -> None:
    """In place: ``teacher = (1 - w) * teacher + w * student`` (``w = momentum``).

    One fused ``torch._foreach_*`` call per list (torch groups the tensors by device and dtype),
    so the cost does not grow with a Python loop over tensors. Parameters are always averaged;
    floating-point buffers (BN running statistics) are averaged too when ``update_buffers``
    (MMEngine's ``ExponentialMovingAverage(update_buffers=True)`` meaning), copied otherwise;
    integer buffers (``num_batches_tracked``) are always copied.

    Args:
        teacher_params (list[Tensor]): Teacher parameters, updated in place.
        student_params (list[Tensor]): Student parameters, same order, shapes and dtypes.
        teacher_buffers (list[Tensor]): Teacher buffers, updated in place.
        student_buffers (list[Tensor]): Student buffers, same order.
        momentum (float): Student weight ``w`` in [0, 1].
        update_buffers (bool): Average the floating-point buffers instead of copying them.
    """
    def average(teacher: List[torch.Tensor], student: List[torch.Tensor]) -> None:
        if not teacher or momentum == 0.0:
            return
        if momentum == 1.0:
            # Exact copy: a lerp with weight 1 is not bit-exact, and the first update must
            # make the teacher equal to the student.
            torch._foreach_copy_(teacher, student)
        else:
            # lerp_(t, s, w) = t + w * (s - t) = (1 - w) * t + w * s
            torch._foreach_lerp_(teacher, student, momentum)

    average(teacher_params, student_params)
    if update_buffers:
        pairs = [(t, s) for t, s in zip(teacher_buffers, student_buffers)
                 if t.is_floating_point()]
        average([t for t, _ in pairs], [s for _, s in pairs])
        copied = [(t, s) for t, s in zip(teacher_buffers, student_buffers)
                  if not t.is_floating_point()]
    else:
        copied = list(zip(teacher_buffers, student_buffers))
    if copied:
        torch._foreach_copy_([t for t, _ in copied], [s for _, s in copied])


def paired_tensors(teacher: nn.Module, student: nn.Module,
                   kind: str) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    """Parameters (``kind='parameter'``) or buffers (``'buffer'``) of two same-structured modules.

    Args:
        teacher (nn.Module): The EMA module.
        student (nn.Module): The trained module.
        kind (str): ``'parameter'`` or ``'buffer'``.

    Returns:
        tuple[list[Tensor], list[Tensor]]: Teacher and student tensors, matched by name.

    Raises:
        ValueError: naming the first key that is missing on one side or differs in shape/dtype.
    """
    named = nn.Module.named_parameters if kind == 'parameter' else nn.Module.named_buffers
    t_named = dict(named(teacher))
    s_named = dict(named(student))
    for key in list(s_named) + [k for k in t_named if k not in s_named]:
        t, s = t_named.get(key), s_named.get(key)
        if t is None or s is None:
            side = 'teacher' if t is None else 'student'
            raise ValueError(
                f'MeanTeacherHook: model.teacher and model.student must have the same structure, '
                f"but {kind} '{key}' is missing from model.{side}. Build both from the same "
                'config.')
        if t.shape != s.shape or t.dtype != s.dtype:
            raise ValueError(
                f"MeanTeacherHook: {kind} '{key}' differs between model.teacher "
                f'({tuple(t.shape)}, {t.dtype}) and model.student ({tuple(s.shape)}, {s.dtype}). '
                'Build both from the same config.')
    keys = list(s_named)
    return [t_named[k] for k in keys], [s_named[k] for k in keys]


@HOOKS.register_module()
class MeanTeacherHook(Hook):
    """Update ``model.teacher`` as the exponential moving average of ``model.student``.

    ``momentum`` has the meaning of MMEngine's ``ExponentialMovingAverage`` and MMDetection's
    ``MeanTeacherHook``: it is the **student's** weight. After every ``interval``-th train
    iteration (``(runner.iter + 1) % interval == 0``)::

        w = max(1 / (t + 1), momentum)
        teacher_param = (1 - w) * teacher_param + w * student_param
        teacher_buffer = (1 - w) * teacher_buffer + w * student_buffer   (update_buffers)
                       = student_buffer                                  (otherwise)

    ``t`` is the number of EMA updates done before this one, derived from the global iteration
    as ``t = (runner.iter + 1) // interval - 1``. It is therefore restored by a resume (the
    runner restores ``runner.iter``) without extra state, and the teacher weights themselves are
    part of ``model.state_dict()`` (prefix ``teacher.``), so MMEngine's checkpoints carry them.
    The weight used is logged as the scalar ``train/ema_momentum``.

    ``momentum`` must lie in (0, 0.5]: 0 would freeze the teacher, and a value above 0.5 (for
    instance 0.99, a *teacher* weight in other conventions) would make the teacher a near
    copy of the student; both raise instead of training silently without a mean teacher.

    This hook only does the EMA. The model owns the rest (as MMDetection's
    ``SemiBaseDetector``): it freezes the teacher in its ``__init__`` (before DDP registers
    trainable parameters), keeps it in eval mode, and initialises it as a copy of the student;
    ``before_train`` checks that the teacher is frozen and raises otherwise.

    The model (unwrapped from DDP when wrapped) must expose ``teacher`` and ``student``, two
    ``nn.Module`` s of identical structure. With DDP every rank applies the same update to the
    same (synchronised) student parameters. The student's buffers (BN running statistics) are
    per rank under plain BN (MMEngine's DDP does not broadcast buffers), so after each update the
    teacher's floating-point buffers are averaged over the ranks (one all-reduce of the BN
    statistics): the teacher is then identical on every rank. Under SyncBN they are already
    equal and the average leaves them so.

    The hook has priority ``NORMAL``, so it runs after the optimizer step (inside
    ``train_step``) and before ``CheckpointHook`` (``VERY_LOW``) saves the same iteration.

    Args:
        momentum (float): Minimal student weight ``w`` in (0, 0.5]. Defaults to 0.01 (a
            teacher weight of 0.99).
        interval (int): Update every ``interval`` train iterations. Defaults to 1.
        update_buffers (bool): Average the floating-point buffers (BN running statistics) like
            the parameters instead of copying the student's. Defaults to True: copied
            statistics belong to the current student, not to the averaged weights, which
            hurts the early teacher.

    Example::

        custom_hooks = [dict(type='MeanTeacherHook', momentum=0.01, interval=1)]
    """

    priority = 'NORMAL'

    def __init__(self,
                 momentum: float = 0.01,
                 interval: int = 1,
                 update_buffers: bool = True) -> None:
        if not 0.0 < momentum <= 0.5:
            raise ValueError(
                f'MeanTeacherHook: momentum={momentum} is outside (0, 0.5]. momentum is the '
                "student's weight, as in MMEngine's ExponentialMovingAverage and MMDetection's "
                'MeanTeacherHook: teacher = (1 - momentum) * teacher + momentum * student. '
                '0 never updates the teacher; a value above 0.5 makes it a near copy of the '
                'student. For a teacher weight of 0.99 use momentum=0.01.')
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise ValueError(f'MeanTeacherHook: interval must be an int >= 1, got {interval!r}')
        self.momentum = float(momentum)
        self.interval = interval
        self.update_buffers = bool(update_buffers)
        self._teacher: Optional[nn.Module] = None
        self._teacher_params: List[torch.Tensor] = []
        self._student_params: List[torch.Tensor] = []
        self._teacher_buffers: List[torch.Tensor] = []
        self._student_buffers: List[torch.Tensor] = []

    @staticmethod
    def _teacher_student(runner) -> Tuple[nn.Module, nn.Module]:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        for name in ('teacher', 'student'):
            if not isinstance(getattr(model, name, None), nn.Module):
                raise AttributeError(
                    f'MeanTeacherHook: the model {type(model).__name__} has no nn.Module '
                    f"attribute '{name}'. Use a segmentor exposing model.teacher and "
                    'model.student, or remove MeanTeacherHook from custom_hooks.')
        return model.teacher, model.student

    def before_train(self, runner) -> None:
        """Build the tensor lists once; check the structures and that the teacher is frozen."""
        teacher, student = self._teacher_student(runner)
        if teacher is student:
            raise ValueError('MeanTeacherHook: model.teacher and model.student are the same '
                             'module; the teacher must be a separate copy.')
        self._teacher_params, self._student_params = paired_tensors(teacher, student,
                                                                    'parameter')
        self._teacher_buffers, self._student_buffers = paired_tensors(teacher, student,
                                                                      'buffer')
        trainable = [n for n, p in teacher.named_parameters() if p.requires_grad]
        if trainable:
            raise RuntimeError(
                f'MeanTeacherHook: model.teacher has {len(trainable)} parameter(s) that require '
                f'grad, e.g. {trainable[0]!r}. The model owns the teacher: call '
                "self.teacher.requires_grad_(False) in the segmentor's __init__ (before DDP "
                'wraps it), as MeanTeacherSegDepth does.')
        self._teacher = teacher

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[Sequence[dict]] = None,
                         outputs: Optional[dict] = None) -> None:
        """EMA-update the teacher after every ``interval``-th iteration."""
        if self._teacher is None:
            raise RuntimeError('MeanTeacherHook.after_train_iter ran before before_train; the '
                               'hook must be registered on the runner before training starts.')
        done = runner.iter + 1  # iterations finished, including this one
        if done % self.interval != 0:
            return
        w = ema_momentum(done // self.interval - 1, self.momentum)
        with record_function('ccam:ema'):
            ema_update_(self._teacher_params, self._student_params, self._teacher_buffers,
                        self._student_buffers, w, self.update_buffers)
        self._average_float_buffers_over_ranks()
        runner.message_hub.update_scalar('train/ema_momentum', w)

    def _average_float_buffers_over_ranks(self) -> None:
        """Average the teacher's floating-point buffers over the ranks (no-op on one rank)."""
        world_size = get_world_size()
        buffers = [b for b in self._teacher_buffers if b.is_floating_point()]
        if world_size == 1 or not buffers:
            return
        flat = torch.cat([b.reshape(-1) for b in buffers])
        all_reduce(flat, op='mean')
        chunks = flat.split([b.numel() for b in buffers])
        torch._foreach_copy_(buffers, [c.view_as(b) for c, b in zip(chunks, buffers)])
