"""``CheckpointHook`` that removes an old checkpoint only after the new one is on disk."""
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

__all__ = ['AtomicCheckpointHook']


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose ``max_keep_ckpts`` clean-up runs after the save.

    MMEngine's hook deletes the oldest kept checkpoint *before* writing the new one, so with
    ``max_keep_ckpts=1`` a kill during the save leaves no checkpoint at all, even though
    ``AtomicCheckpointRunner`` writes each file atomically. Here the new checkpoint is written
    (atomically, by the runner) and only then is the oldest one removed. Arguments are
    ``CheckpointHook``'s. Configure it as ``default_hooks.checkpoint.type='AtomicCheckpointHook'``;
    ``AtomicCheckpointRunner`` builds it, with a warning, where a config names MMEngine's
    ``CheckpointHook``.
    """

    def _save_checkpoint_with_step(self, runner, step, meta):
        to_remove = None
        if self.max_keep_ckpts > 0:
            # _save_checkpoint and _save_best_checkpoint may both call this in one step.
            if not (len(self.keep_ckpt_ids) > 0 and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    to_remove = self.keep_ckpt_ids.popleft()
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        with open(osp.join(runner.work_dir, 'last_checkpoint'), 'w') as f:
            f.write(self.last_ckpt)
        # The new checkpoint and the pointer to it are durable: now the old one may go.
        if to_remove is not None and to_remove != step:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(to_remove))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)
