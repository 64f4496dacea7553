"""Mean-teacher EMA update of ``model.teacher`` from ``model.student`` (DESIGN §6)."""
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
    """Teacher weight of the EMA update number ``step`` (0-based).

    ``m = min(1 - 1 / (step + 1), momentum)``: the first update (``step=0``, ``m=0``) copies the
    student, and the warm-up makes the teacher the plain average of the first students until
    ``momentum`` caps it (Tarvainen & Valpola's mean teacher).

    Args:
        step (int): Number of EMA updates done before this one, >= 0.
        momentum (float): Upper bound of the teacher weight, in [0, 1].

    Returns:
        float: The teacher weight ``m`` in ``teacher = m * teacher + (1 - m) * student``.
    """
    if step < 0:
        raise ValueError(f'ema_momentum: step must be >= 0, got {step}')
    return min(1.0 - 1.0 / (step + 1), momentum)


@torch.no_grad()
def ema_update_(teacher_params: List[torch.Tensor], student_params: List[torch.Tensor],
                teacher_buffers: List[torch.Tensor], student_buffers: List[torch.Tensor],
                momentum: float) -> None:
    """In place: ``teacher = m * teacher + (1 - m) * student`` for parameters, copy for buffers.

    One fused ``torch._foreach_*`` call per list (torch groups the tensors by device and dtype),
    so the cost does not grow with a Python loop over tensors. Buffers (BN running statistics,
    ``num_batches_tracked``) are copied: they are statistics of the student's inputs, not weights.

    Args:
        teacher_params (list[Tensor]): Teacher parameters, updated in place.
        student_params (list[Tensor]): Student parameters, same order, shapes and dtypes.
        teacher_buffers (list[Tensor]): Teacher buffers, overwritten in place.
        student_buffers (list[Tensor]): Student buffers, same order.
        momentum (float): Teacher weight ``m`` in [0, 1].
    """
    if teacher_params:
        if momentum == 0.0:
            # Exact copy: a lerp with weight 1 is not bit-exact, and the first update must
            # make the teacher equal to the student.
            torch._foreach_copy_(teacher_params, student_params)
        elif momentum != 1.0:
            # lerp_(t, s, w) = t + w * (s - t) = m * t + (1 - m) * s with w = 1 - m.
            torch._foreach_lerp_(teacher_params, student_params, 1.0 - momentum)
    if teacher_buffers:
        torch._foreach_copy_(teacher_buffers, student_buffers)


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

    After every ``interval``-th train iteration (``(runner.iter + 1) % interval == 0``)::

        teacher_param = m * teacher_param + (1 - m) * student_param
        teacher_buffer = student_buffer
        m = min(1 - 1 / (t + 1), momentum)

    ``t`` is the number of EMA updates done before this one, derived from the global iteration
    as ``t = (runner.iter + 1) // interval - 1``. It is therefore restored by a resume (the
    runner restores ``runner.iter``) without extra state, and the teacher weights themselves are
    part of ``model.state_dict()`` (prefix ``teacher.``), so MMEngine's checkpoints carry them.
    The momentum used is logged as the scalar ``train/teacher_momentum``.

    The model (unwrapped from DDP when wrapped) must expose ``teacher`` and ``student``, two
    ``nn.Module`` s of identical structure. With DDP every rank applies the same update to the
    same (synchronised) student parameters. The student's buffers (BN running statistics) are
    per rank under plain BN (MMEngine's DDP does not broadcast buffers), so after each update the
    teacher's floating-point buffers are averaged over the ranks (one all-reduce of the BN
    statistics): the teacher is then identical on every rank. Under SyncBN they are already
    equal and the average leaves them so.
    The model should freeze the teacher in its ``__init__``: DDP registers the parameters that
    require grad when it wraps the model, which is before any hook runs.

    ``before_train``:

    - builds the tensor lists once and checks that the structures match;
    - ``teacher.requires_grad_(False)``;
    - if ``init_teacher_from_student`` and the run is not resumed (``runner.iter == 0``),
      copies the student into the teacher.

    ``before_train_iter`` puts the teacher in eval mode when ``teacher_eval`` (the runner calls
    ``model.train()`` each iteration): the teacher then predicts pseudo-labels on the weak view
    with its BN running statistics, as in the usual mean teacher, instead of batch statistics
    of the unlabeled batch, and its forward does not modify its buffers.

    The hook has priority ``NORMAL``, so it runs after the optimizer step (inside
    ``train_step``) and before ``CheckpointHook`` (``VERY_LOW``) saves the same iteration.

    Args:
        momentum (float): Maximal teacher weight ``m`` in [0, 1]. Defaults to 0.99.
        interval (int): Update every ``interval`` train iterations. Defaults to 1.
        init_teacher_from_student (bool): Copy the student into the teacher at the start of a
            non-resumed run. Defaults to True.
        teacher_eval (bool): Keep the teacher in eval mode during training. Defaults to True.

    Example::

        custom_hooks = [dict(type='MeanTeacherHook', momentum=0.99, interval=1)]
    """

    priority = 'NORMAL'

    def __init__(self,
                 momentum: float = 0.99,
                 interval: int = 1,
                 init_teacher_from_student: bool = True,
                 teacher_eval: bool = True) -> None:
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f'MeanTeacherHook: momentum must be in [0, 1], got {momentum}')
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise ValueError(f'MeanTeacherHook: interval must be an int >= 1, got {interval!r}')
        self.momentum = float(momentum)
        self.interval = interval
        self.init_teacher_from_student = init_teacher_from_student
        self.teacher_eval = teacher_eval
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
        """Build the tensor lists, freeze the teacher, initialise it on a fresh run."""
        teacher, student = self._teacher_student(runner)
        if teacher is student:
            raise ValueError('MeanTeacherHook: model.teacher and model.student are the same '
                             'module; the teacher must be a separate copy.')
        self._teacher_params, self._student_params = paired_tensors(teacher, student,
                                                                    'parameter')
        self._teacher_buffers, self._student_buffers = paired_tensors(teacher, student,
                                                                      'buffer')
        if is_model_wrapper(runner.model) and any(p.requires_grad for p in self._teacher_params):
            raise RuntimeError(
                'MeanTeacherHook: model.teacher has parameters that require grad while the '
                'model is wrapped (DDP registered them as trainable before this hook ran). '
                "Call self.teacher.requires_grad_(False) in the segmentor's __init__.")
        teacher.requires_grad_(False)
        for p in self._teacher_params:
            p.grad = None
        self._teacher = teacher
        if self.init_teacher_from_student and runner.iter == 0:
            ema_update_(self._teacher_params, self._student_params, self._teacher_buffers,
                        self._student_buffers, 0.0)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[Sequence[dict]] = None) -> None:
        """Keep the teacher in eval mode (undoing the loop's ``model.train()``)."""
        if self.teacher_eval and self._teacher is not None:
            self._teacher.eval()

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
        m = ema_momentum(done // self.interval - 1, self.momentum)
        with record_function('ccam:ema'):
            ema_update_(self._teacher_params, self._student_params, self._teacher_buffers,
                        self._student_buffers, m)
        self._average_float_buffers_over_ranks()
        runner.message_hub.update_scalar('train/teacher_momentum', m)

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
