"""Process groups for distributed runs on machines without CUDA (torchrun or Slurm, gloo)."""
import os
import subprocess

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

__all__ = ['init_cpu_distributed']


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
    # Runner.wrap_model passes device_ids=[LOCAL_RANK] as a default argument to every DDP
    # wrapper; an explicit None overrides it (CPU modules reject device_ids).
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True
