"""Shared start-up logic of ``tools/train.py`` and ``tools/test.py``."""
import os
import os.path as osp
import subprocess
from argparse import Namespace

import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def load_config(args: Namespace) -> Config:
    """Read ``args.config``, merge ``--cfg-options`` and resolve ``work_dir`` and ``launcher``.

    ``work_dir`` priority follows MMSegmentation: CLI > config > ``work_dirs/<config name>``.
    """
    if not osp.isfile(args.config):
        raise FileNotFoundError(
            f'Config file {args.config!r} does not exist. Configs live under configs/, '
            'e.g. configs/ccam/ccam_r18_synthcity.py.')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


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
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                                     find_unused_parameters=cfg.get('find_unused_parameters',
                                                                    False))
    return True
