"""Crash-safe checkpoint writing and exact resume: :class:`AtomicCheckpointRunner`.

1. **A kill while saving can corrupt the checkpoint being written.** MMEngine writes
   checkpoints in place (``LocalBackend.put`` opens the final path with ``'wb'``).
   :class:`AtomicCheckpointRunner` writes every local checkpoint to a hidden temporary file in
   the same directory, fsyncs it, and ``os.replace``-s it onto the final name, so the final path
   holds either the previous complete file or the new complete file, never a truncated one.
   A registered ``Runner`` subclass was chosen over patching ``mmengine`` at import time
   because it is opt-in and visible in the config (``runner_type``), changes no third-party
   global, and reuses ``Runner.save_checkpoint`` unchanged by only choosing the filename it
   writes to. A ``CheckpointHook`` subclass cannot do it: ``Runner.save_checkpoint`` does the
   writing.

   ``CheckpointHook`` deletes the oldest kept checkpoint *before* saving the new one, so with
   ``max_keep_ckpts=1`` a kill during the save would leave none: configs name
   :class:`~mmseg_ccam.engine.hooks.AtomicCheckpointHook` (deletes after the save) in
   ``default_hooks``; a config still naming MMEngine's ``CheckpointHook`` gets the atomic one
   with a warning.

2. **Resume is exact** (:class:`~mmseg_ccam.engine.hooks.RandomStateHook`, registered by the
   runner): the random states go into every checkpoint and come back where the run stopped.

3. **A checkpoint of another architecture is refused**:
   :meth:`AtomicCheckpointRunner.load_checkpoint` loads through
   :func:`~mmseg_ccam.engine.checkpoint_loading.load_checkpoint_strict` and puts the file name
   into :class:`IncompatibleCheckpointError`, which the models raise (from
   ``_load_from_state_dict``, where the name is unknown) when a checkpoint of the other model
   kind would load nothing.

Usage in a config::

    custom_imports = dict(imports=['mmseg_ccam'], allow_failed_imports=False)
    runner_type = 'AtomicCheckpointRunner'   # mmseg's tools/train.py builds it via RUNNERS
    randomness = dict(seed=0)                # fixed seed: same data order after resume
"""
import os
import os.path as osp
from typing import Callable, Dict, Optional, Union

from mmengine.dist import master_only
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

from .checkpoint_loading import load_checkpoint_strict

__all__ = ['AtomicCheckpointRunner', 'PLAIN_CHECKPOINT_HOOK_TYPES', 'temporary_checkpoint_name']

# The config spellings of MMEngine's own checkpoint hook, swapped (with a warning) by the runner.
PLAIN_CHECKPOINT_HOOK_TYPES = ('CheckpointHook', 'mmengine.CheckpointHook')


def _fsync_path(path: str) -> None:
    """Flush a file or directory to stable storage (power-loss safety, not only kill safety)."""
    flags = (os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0)) if osp.isdir(path) else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # e.g. directories cannot be opened on Windows; nothing to flush then
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems (tmpfs variants, network mounts) refuse fsync
        pass
    finally:
        os.close(fd)


def temporary_checkpoint_name(filename: str) -> str:
    """Hidden sibling of ``filename`` used while writing it (same directory → atomic rename)."""
    head, tail = osp.split(filename)
    return osp.join(head, f'.{tail}.tmp')


@RUNNERS.register_module()
class AtomicCheckpointRunner(Runner):
    """``Runner`` whose local checkpoints are written atomically.

    ``save_checkpoint`` lets ``Runner.save_checkpoint`` write to ``.<filename>.tmp`` in the
    target directory, fsyncs it and renames it onto ``<filename>`` with ``os.replace`` (atomic
    on POSIX and Windows within one filesystem). A process killed while saving therefore leaves
    either the complete previous file under the final name, or no file of that name, plus a
    stale ``.tmp`` that the next save of the same name overwrites. Non-local backends (e.g.
    ``s3://``) and the deprecated ``file_client_args`` path are delegated unchanged.

    ``load_checkpoint`` (used by ``load_from``, ``--resume`` and ``tools/test.py``) adds the file
    name to :class:`IncompatibleCheckpointError`.

    Enable it with ``runner_type = 'AtomicCheckpointRunner'`` in the config.
    """

    def register_hook(self, hook: Union[Hook, Dict], priority=None) -> None:
        """``Runner.register_hook``; a config's plain ``CheckpointHook`` becomes
        ``AtomicCheckpointHook`` (same arguments; the old checkpoint is removed only after the
        new one is saved), with a warning saying how to configure it explicitly.

        Only a dict naming MMEngine's class by string is swapped: a config cannot tell an
        inherited ``CheckpointHook`` from one written on purpose, and with ``max_keep_ckpts``
        the plain hook can leave no checkpoint after a kill. A hook object is kept as given.
        """
        if isinstance(hook, dict) and hook.get('type') in PLAIN_CHECKPOINT_HOOK_TYPES:
            self.logger.warning(
                f"default_hooks.checkpoint is MMEngine's {hook['type']}, which deletes the "
                'oldest kept checkpoint before saving the new one; AtomicCheckpointRunner '
                'uses AtomicCheckpointHook (same arguments) instead. Configure it explicitly: '
                "default_hooks.checkpoint.type='AtomicCheckpointHook'.")
            hook = dict(hook, type='AtomicCheckpointHook')
        super().register_hook(hook, priority)

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        """``Runner.register_hooks`` plus a :class:`RandomStateHook` (exact resume) unless the
        config already has one."""
        super().register_hooks(default_hooks, custom_hooks)
        from mmseg_ccam.engine.hooks.random_state_hook import RandomStateHook
        if not any(isinstance(h, RandomStateHook) for h in self.hooks):
            self.register_hook(RandomStateHook())

    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]) -> dict:  # noqa: B006
        """``Runner.load_checkpoint``, refusing a checkpoint that does not fit the model.

        After the model's own checks (e.g. a mean teacher without ``teacher.*`` weights),
        missing, unexpected or mis-shaped keys raise :class:`IncompatibleCheckpointError`
        listing a few of each and their counts. ``checkpoint_mismatch = 'warn'`` in the config
        (or ``--cfg-options checkpoint_mismatch=warn``) loads what fits and warns instead, e.g.
        to fine-tune with a new head. A checkpoint lacking only keys the model's modules
        declare zero-initialised (e.g. a no-CCAM checkpoint into a CCAM model) loads with a
        warning: it is the same function. :class:`IncompatibleCheckpointError` gets the file name.
        """
        policy = (self.cfg.get('checkpoint_mismatch', 'error') if self.cfg is not None
                  else 'error')
        checkpoint = load_checkpoint_strict(
            self.model, filename, policy=policy, map_location=map_location, strict=strict,
            revise_keys=revise_keys, logger=self.logger,
            before_load=lambda ckpt: self.call_hook('after_load_checkpoint', checkpoint=ckpt))
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    @master_only
    def save_checkpoint(self,
                        out_dir: str,
                        filename: str,
                        file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        meta: Optional[dict] = None,
                        by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """Save a checkpoint to ``out_dir/filename`` atomically. Arguments as ``Runner``'s."""
        kwargs = dict(
            file_client_args=file_client_args,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler,
            meta=meta,
            by_epoch=by_epoch,
            backend_args=backend_args)
        local = file_client_args is None and isinstance(
            get_file_backend(out_dir, backend_args=backend_args), LocalBackend)
        if not local:
            super().save_checkpoint(out_dir, filename, **kwargs)
            return

        tmp_filename = temporary_checkpoint_name(filename)
        final_path = osp.join(out_dir, filename)
        tmp_path = osp.join(out_dir, tmp_filename)
        try:
            super().save_checkpoint(out_dir, tmp_filename, **kwargs)
            _fsync_path(tmp_path)
            os.replace(tmp_path, final_path)
        except BaseException:
            # Leave the previous checkpoint untouched and no half-written temporary behind.
            if osp.exists(tmp_path):
                os.remove(tmp_path)
            raise
        _fsync_path(osp.dirname(final_path) or '.')
