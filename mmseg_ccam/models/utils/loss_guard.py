"""Stop training at the first non-finite loss, before anything is updated or saved.

Where the check sits, and why there:

``parse_losses`` is the one method of the model that every MMEngine training path calls between
the forward pass and ``optim_wrapper.update_params`` (backward + optimizer step):
``BaseModel.train_step`` for single-process runs, and ``MMDistributedDataParallel.train_step``
(and the FSDP / DeepSpeed / ColossalAI strategies) for distributed runs, which call
``self.module.parse_losses`` but never ``self.module.train_step``. Overriding ``train_step``
would therefore silently lose the check under DDP. Raising there means that for the bad
iteration there is no backward pass, no optimizer step, and - because the exception leaves
``IterBasedTrainLoop.run_iter`` - no ``after_train_iter`` hooks: ``MeanTeacherHook`` does not
update the teacher and ``CheckpointHook`` does not save. The last checkpoint on disk is the last
good one, and the in-memory parameters are those of the previous iteration.

Cost: one device-to-host sync per iteration (``bool`` of a stacked ``isfinite``). MMEngine's
logging already syncs every logged value every iteration (``RuntimeInfoHook`` turns each entry of
``log_vars`` into a Python float with ``.item()``), so this adds one small sync next to several
existing ones. In a distributed run the flag is all-reduced (one scalar, MAX) so that every rank
stops at the same iteration instead of the healthy ranks hanging in the next all-reduce.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.logging import MessageHub
from torch import Tensor

__all__ = ['FiniteLossGuardMixin', 'NonFiniteLossError', 'check_finite_losses']

_MAX_PATHS = 16  # a huge batch should not drown the message


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite during training."""


def _batch_description(paths: Optional[Sequence[str]]) -> str:
    if paths is None:
        return 'unknown (the model did not record the batch)'
    shown = list(paths[:_MAX_PATHS])
    more = len(paths) - len(shown)
    return ', '.join(shown) + (f' ... (+{more} more)' if more > 0 else '')


def check_finite_losses(log_vars: Dict[str, Tensor],
                        batch_paths: Optional[Sequence[str]] = None,
                        owner: str = 'model') -> None:
    """Raise :class:`NonFiniteLossError` if a loss entry of ``log_vars`` is NaN or infinite.

    Every entry whose name contains ``'loss'`` (the ones MMEngine back-propagates, and the total
    ``'loss'``, which also catches an overflowing sum of finite terms) is stacked into one tensor
    and checked with one ``isfinite``; only on failure are the individual values read.

    Args:
        log_vars (dict[str, Tensor]): Output of ``BaseModel.parse_losses`` (0-dim tensors).
        batch_paths (Sequence[str], optional): ``img_path`` of the samples of the batch.
        owner (str): Model name for the message.

    Raises:
        NonFiniteLossError: naming the iteration (from MMEngine's ``MessageHub`` runtime info
            ``'iter'``), the non-finite terms with their values, and the batch's image paths.
    """
    names = [k for k, v in log_vars.items() if 'loss' in k and isinstance(v, Tensor)]
    if not names:
        return
    values = torch.stack([log_vars[k].detach().float().reshape(()) for k in names])
    bad = ~torch.isfinite(values)
    flag = bad.any().to(torch.float32)
    if get_world_size() > 1:
        all_reduce(flag, op='max')  # every rank stops at the same iteration
    if not bool(flag):  # the one host sync
        return

    it = MessageHub.get_current_instance().get_info('iter')
    where = ('at an unknown iteration (no MMEngine runner is training)' if it is None else
             f'at training iteration {int(it) + 1} (runner.iter={int(it)}; the log counts '
             f'from 1)')
    bad_values = {k: v for k, v, b in zip(names, values.tolist(), bad.tolist()) if b}
    terms = ', '.join(f'{k}={v}' for k, v in bad_values.items() if k != 'loss')
    if not terms and 'loss' in bad_values:
        terms = f"loss={bad_values['loss']} (every term is finite: their sum overflowed)"
    elif not terms:
        terms = 'none on this rank: another rank of the distributed run has a non-finite loss'
    raise NonFiniteLossError(
        f'{owner}: non-finite loss {where}: {terms}. Batch: {_batch_description(batch_paths)}. '
        'Training stopped before the backward pass: this iteration made no optimizer step, no '
        'EMA teacher update and no checkpoint, so the checkpoints in the work dir hold '
        'weights from before it. What to do: check the labels and depth maps of these '
        'images; lower the learning rate or enable gradient clipping '
        '(optim_wrapper.clip_grad=dict(max_norm=10.0)); then continue from the last checkpoint '
        'with tools/train.py CONFIG --resume. model.check_finite_loss=False turns this check '
        'off.')


class FiniteLossGuardMixin:
    """Mixin for MMEngine models: ``parse_losses`` raises at the first non-finite loss.

    Put it before the MMEngine base class (``class M(FiniteLossGuardMixin, BaseModel)``).
    The model calls :meth:`remember_batch` in its ``loss`` so that the error can name the
    images; ``check_finite_loss`` (instance attribute, default True) switches the check off.
    See the module docstring for where the check runs and what it costs.
    """

    check_finite_loss: bool = True
    _guard_batch_paths: Optional[List[str]] = None

    def remember_batch(self, data_samples: Optional[Sequence]) -> None:
        """Keep the ``img_path`` of every sample for the error message (no tensor work)."""
        if data_samples is None:
            self._guard_batch_paths = None
            return
        self._guard_batch_paths = [
            str(getattr(ds, 'metainfo', {}).get('img_path', '<no img_path in metainfo>'))
            for ds in data_samples
        ]

    def parse_losses(self, losses: Dict[str, Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        """``BaseModel.parse_losses`` followed by :func:`check_finite_losses`."""
        loss, log_vars = super().parse_losses(losses)
        if self.check_finite_loss:
            check_finite_losses(log_vars, self._guard_batch_paths, type(self).__name__)
        return loss, log_vars
