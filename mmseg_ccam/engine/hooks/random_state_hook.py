"""Exact resume: the random states of a run are saved in every checkpoint and restored where
the interrupted run would have continued."""
import random
from typing import Any, Callable, Dict, Iterator, List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import CheckpointHook, Hook
from mmseg.registry import HOOKS

__all__ = ['RandomStateHook', 'capture_random_state', 'restore_random_state']

STATE_KEY = 'random_state'


def capture_random_state() -> Dict[str, Any]:
    """This process's Python, NumPy, torch CPU (and CUDA) generator states."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: Dict[str, Any]) -> None:
    """Inverse of :func:`capture_random_state`."""
    random.setstate(_as_python_state(state['python']))
    np.random.set_state(state['numpy'])
    torch.set_rng_state(torch.as_tensor(state['torch'], dtype=torch.uint8))
    cuda = state.get('cuda')
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([torch.as_tensor(s, dtype=torch.uint8) for s in cuda])


def _as_python_state(state: Any) -> tuple:
    # A checkpoint round trip may turn the inner tuple into a list; random.setstate wants tuples.
    version, internal, gauss = state
    return version, tuple(internal), gauss


class _RestoreAfterSkip:
    """Iterator proxy: after ``skip`` batches, restore the random state, then stop proxying.

    ``IterBasedTrainLoop`` resumes by pulling ``runner.iter`` batches from a new data loader
    (replaying the data pipeline's draws), then trains. The random state must be the saved one
    exactly when the next batch is fetched: the pipeline of a ``num_workers=0`` loader draws
    from the main process's generators.
    """

    def __init__(self, loop: Any, skip: int, restore: Callable[[], None]) -> None:
        self._loop, self._inner = loop, loop.dataloader_iterator
        self._left, self._restore = skip, restore

    def __iter__(self) -> Iterator:
        return self

    def __next__(self) -> Any:
        if self._left == 0:
            self._restore()
            self._loop.dataloader_iterator = self._inner  # done: take ourselves out
            return next(self._inner)
        self._left -= 1
        return next(self._inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save the random states in checkpoints; restore them on resume; keep validation from
    consuming the training run's random numbers.

    Dropout, the data pipeline (with ``num_workers=0``), and model-side augmentation (the
    mean-teacher step draws its batch augmentation generator's seed from torch's global RNG)
    all consume the global generators. MMEngine restores the seed on resume but not the states,
    so a resumed run draws different numbers from the iteration it restarts at. This hook:

    - stores every rank's Python / NumPy / torch (CPU and CUDA) generator state under
      ``checkpoint['random_state']`` (a list, one entry per rank), captured at the end of the
      iteration whose checkpoint is saved;
    - on resume, restores them right before the first batch after the skipped ones is fetched
      (after ``IterBasedTrainLoop`` has replayed the data loader), so that batch, and every
      later random draw, is what the uninterrupted run drew;
    - saves the states before validation and restores them after it: validation (which runs
      after the checkpoint is written) would otherwise shift the training run's random stream,
      and a resumed run, which does not repeat that validation, would diverge.

    ``AtomicCheckpointRunner`` registers this hook by default. Data loader workers are seeded by
    MMEngine from ``randomness.seed``, so keep a fixed seed (the resumed run also reads the
    seed from the checkpoint when the config has none: ``tools/train.py``).

    Args:
        priority: Hook priority; above ``CheckpointHook`` (VERY_LOW) so the state is captured
            before the save. Defaults to 'NORMAL'.
    """

    priority = 'NORMAL'

    def __init__(self) -> None:
        self._captured: Optional[List[Dict[str, Any]]] = None
        self._pending: Optional[List[Dict[str, Any]]] = None
        self._val_state: Optional[Dict[str, Any]] = None

    # ------------------------------------------------------------------------------ saving
    @staticmethod
    def _checkpoint_due(runner) -> bool:
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook) and not hook.by_epoch and hook.interval > 0:
                if hook.every_n_train_iters(runner, hook.interval) or (
                        hook.save_last and hook.is_last_train_iter(runner)):
                    return True
        return False

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Capture (and, in a distributed run, gather) the states when a checkpoint is due."""
        _, world_size = get_dist_info()
        if world_size > 1:
            # Collective: every rank takes part on the same iterations.
            if self._checkpoint_due(runner):
                self._captured = all_gather_object(capture_random_state())
        else:
            self._captured = None  # captured at save time instead

    def after_train_epoch(self, runner) -> None:
        _, world_size = get_dist_info()
        if world_size > 1:
            self._captured = all_gather_object(capture_random_state())

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        states = self._captured
        _, world_size = get_dist_info()
        if states is None or len(states) != world_size:
            states = [capture_random_state()]
        checkpoint[STATE_KEY] = states

    # ----------------------------------------------------------------------------- loading
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the saved states; they are applied only if training resumes (iter > 0)."""
        self._pending = checkpoint.get(STATE_KEY)

    def before_train_epoch(self, runner) -> None:
        states, self._pending = self._pending, None
        if not states or runner.iter == 0:
            return
        rank, world_size = get_dist_info()
        if len(states) != world_size:
            runner.logger.warning(
                f'The checkpoint holds the random states of {len(states)} process(es), this run '
                f'has {world_size}: random states not restored, the resumed run is not exact.')
            return
        state = states[rank]
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator') and not runner.train_loop.__class__.__name__ \
                .startswith('EpochBased'):
            loop.dataloader_iterator = _RestoreAfterSkip(
                loop, runner.iter, lambda: restore_random_state(state))
        else:
            restore_random_state(state)

    # -------------------------------------------------------------------------- validation
    def before_val(self, runner) -> None:
        self._val_state = capture_random_state()

    def after_val(self, runner) -> None:
        if self._val_state is not None:
            restore_random_state(self._val_state)
            self._val_state = None
