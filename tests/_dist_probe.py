"""Probe hook for ``tests/test_distributed.py``: what each DDP rank trained on and ended with.

Loaded by the training processes through ``custom_imports`` (the test puts ``tests/`` on
``PYTHONPATH``); it is not part of the package. MMEngine writes checkpoints on rank 0 only, so
this hook saves every rank's own record to ``{work_dir}/rank{rank}.pth`` at the end of training.
"""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


def _state(model: nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _frames(dataset) -> List[List[str]]:
    """``img_path`` of every index, per source of a ConcatDataset (one list otherwise)."""
    sources = getattr(dataset, 'datasets', [dataset])
    return [[ds.get_data_info(i)['img_path'] for i in range(len(ds))] for ds in sources]


@HOOKS.register_module()
class RankProbeHook(Hook):
    """Record one rank's data and model states; save them at ``after_train``.

    Priority ``LOWEST``: every other hook (the EMA update of ``MeanTeacherHook``, a buffer
    synchronisation, ``CheckpointHook``) has run when this one reads the model.

    Saved dict: ``rank``, ``world_size``, ``sampler`` (type name, seed), ``frames``
    (``img_path`` per dataset index, per source), ``batches`` (per iteration, the
    ``(img_path, has_seg_label)`` of each sample of this rank's batch), ``params`` (parameter
    names), ``init`` / ``val`` / ``final`` (state dicts before the first iteration, at the start
    of validation, after training), ``students`` (student parameters after each iteration, for
    a mean-teacher model), ``val_frames`` (``img_path`` of the val samples this rank evaluated)
    and ``metrics`` (validation results).
    """

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.record: dict = {}

    @staticmethod
    def _model(runner) -> nn.Module:
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train(self, runner) -> None:
        rank, world_size = get_dist_info()
        model = self._model(runner)
        sampler = runner.train_dataloader.sampler
        self.record = dict(
            rank=rank, world_size=world_size, wrapped=type(runner.model).__name__,
            sampler=(type(sampler).__name__, getattr(sampler, 'seed', None)),
            frames=_frames(runner.train_dataloader.dataset),
            params=[name for name, _ in model.named_parameters()],
            init=_state(model), batches=[], students=[], val_frames=[], metrics=None,
            val=None)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self.record['batches'].append(
            [(s.img_path, bool(s.metainfo.get('has_seg_label', True)))
             for s in data_batch['data_samples']])

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        student = getattr(self._model(runner), 'student', None)
        if student is not None:
            self.record['students'].append(
                {k: p.detach().clone() for k, p in student.named_parameters()})

    def before_val_epoch(self, runner) -> None:
        self.record['val'] = _state(self._model(runner))

    def before_val_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self.record['val_frames'] += [s.img_path for s in data_batch['data_samples']]

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        self.record['metrics'] = dict(metrics or {})

    def after_train(self, runner) -> None:
        self.record['final'] = _state(self._model(runner))
        torch.save(self.record, f'{runner.work_dir}/rank{self.record["rank"]}.pth')
