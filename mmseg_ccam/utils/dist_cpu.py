"""Process groups for distributed runs on machines without CUDA (torchrun or Slurm, gloo)."""
import logging
import os
import subprocess
from typing import Any, List

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log

__all__ = ['init_cpu_distributed', 'sync_bn_to_bn']

# SyncBatchNorm types of MMCV's norm registry ('SyncBN': torch's, 'MMSyncBN': MMCV's op).
SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN')


def sync_bn_to_bn(node: Any, path: str = 'model') -> List[str]:
    """Turn every ``dict(type='SyncBN' | 'MMSyncBN', ...)`` under ``node`` into ``type='BN'``,
    in place (other keys kept); return the paths changed (e.g. ``model.backbone.norm_cfg``)."""
    changed = []
    if isinstance(node, dict):
        if node.get('type') in SYNC_BN_TYPES:
            node['type'] = 'BN'
            changed.append(path)
        for key, value in node.items():
            changed += sync_bn_to_bn(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            changed += sync_bn_to_bn(value, f'{path}[{i}]')
    return changed


def _cpu_batch_norm(cfg: Config) -> None:
    """SyncBN cannot run on the CPU (torch's ``SyncBatchNorm`` raises "expected input tensor to
    be on GPU" at the first training forward under DDP): use plain BN, per-rank batch
    statistics, and average the running statistics over the ranks after every iteration
    (``IterSyncBuffersHook``, as the SynthCity configs do), so that every rank validates, and
    rank 0 saves, the same model."""
    changed = sync_bn_to_bn(cfg.get('model'))
    if not changed:
        return
    hooks = cfg.get('default_hooks') or {}
    sync = hooks.get('sync_buffers')
    added = sync is None
    if added:
        cfg.default_hooks = dict(hooks, sync_buffers=dict(type='IterSyncBuffersHook'))
    if int(os.environ.get('RANK', '0')) == 0:
        shown = ', '.join(changed[:3]) + (f' (+{len(changed) - 3} more)' if len(changed) > 3
                                          else '')
        print_log(f'No CUDA: SyncBN needs GPUs, so this CPU (gloo) run uses BN for the '
                  f'{len(changed)} SyncBN norm config(s) of the model ({shown}): batch '
                  'statistics per process' + (
                      '; IterSyncBuffersHook averages the running statistics over the ranks '
                      'after every iteration' if added else '') + '. On CUDA machines the '
                  'config runs unchanged with SyncBN.', logger='current', level=logging.WARNING)


def _export_slurm_env(port: str) -> None:
    """Translate Slurm's variables into the ``env://`` ones ``init_process_group`` reads."""
    node_list = os.environ['SLURM_NODELIST']
    addr = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1')
    os.environ.setdefault('MASTER_ADDR', addr)
    os.environ.setdefault('MASTER_PORT', port)
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')


def init_cpu_distributed(cfg: Config) -> bool:
    """Create a gloo process group for a distributed run on a machine without CUDA.

    MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` and so fails on CPU-only PyTorch
    (see docs/distributed.md). The runner skips ``init_dist`` when a process group already
    exists, so on CPU we create it here and let everything else follow MMEngine's normal path.
    DDP must then be built without ``device_ids`` (CPU modules reject them).

    SyncBN norm configs of the model (the Cityscapes configs use them) become BN, see
    :func:`_cpu_batch_norm`.

    Returns:
        bool: True if a CPU process group was created.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available() or torch_dist.is_initialized():
        return False
    if cfg.launcher == 'slurm':
        _export_slurm_env(str(cfg.env_cfg.get('dist_cfg', {}).get('port', 29500)))
    elif cfg.launcher != 'pytorch':
        raise ValueError(
            f'launcher={cfg.launcher!r} is not supported without CUDA; use pytorch (torchrun) '
            'or slurm.')
    backend = cfg.env_cfg.get('dist_cfg', {}).get('backend', 'gloo')
    if backend != 'gloo':
        # nccl needs GPUs: on a CPU machine gloo is the only working backend.
        backend = 'gloo'
        cfg.env_cfg.dist_cfg = dict(backend='gloo')
    torch_dist.init_process_group(backend=backend)
    _cpu_batch_norm(cfg)
    # Runner.wrap_model passes device_ids=[LOCAL_RANK] as a default argument to every DDP
    # wrapper; an explicit None overrides it (CPU modules reject device_ids).
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True
