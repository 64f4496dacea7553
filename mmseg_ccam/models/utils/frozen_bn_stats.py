"""A context in which BatchNorm layers train without moving their running statistics."""
import contextlib

import torch.nn as nn

__all__ = ['frozen_bn_stats']


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
