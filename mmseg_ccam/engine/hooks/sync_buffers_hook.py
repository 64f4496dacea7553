"""Average the model buffers (BN running statistics) over the ranks after every iteration."""
from typing import Optional, Sequence

from mmengine.dist import all_reduce_params
from mmengine.hooks import SyncBuffersHook
from mmseg.registry import HOOKS

__all__ = ['IterSyncBuffersHook']


@HOOKS.register_module()
class IterSyncBuffersHook(SyncBuffersHook):
    """MMEngine's ``SyncBuffersHook`` that also averages the buffers after every train iteration.

    With plain BN under DDP (CPU runs: ``SyncBatchNorm`` needs CUDA) each rank updates its BN
    running statistics with its own batch, and MMEngine's DDP does not broadcast buffers. The
    stock hook averages them only at the end of a train epoch and before validation, i.e. after
    ``CheckpointHook`` has saved rank 0's statistics at the last iteration. Averaging after every
    iteration keeps every rank's model identical at every step, so checkpoints, validation and
    the EMA teacher (``MeanTeacherHook`` copies the student's buffers after this hook, priority
    ``ABOVE_NORMAL`` < ``NORMAL``) all see the same statistics. The average of the per-rank
    running means equals the running mean SyncBN would keep (equal per-rank batch sizes); the
    running variance omits the spread of the per-rank means. One all-reduce of the buffers per
    iteration; no-op without DDP, and under SyncBN (buffers already equal) it changes nothing.
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[Sequence[dict]] = None,
                         outputs: Optional[dict] = None) -> None:
        """All-reduce (mean) the model buffers."""
        if self.distributed:
            all_reduce_params(runner.model.buffers(), op='mean')
