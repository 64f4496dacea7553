"""Shared set-up of the analysis tools that run a trained model on training batches
(``tools/analysis_tools/task_gradients.py``, ``mix_statistics.py``)."""
import logging
from argparse import Namespace
from typing import Optional, Tuple

import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from torch.utils.data import DataLoader

__all__ = ['build_model_quietly', 'build_train_loader', 'setup_batch_run']


def build_model_quietly(cfg: Config, checkpoint: Optional[str] = None) -> nn.Module:
    """``cfg.model`` built and initialised, then ``checkpoint`` loaded strictly if given.

    ``init_weights`` logs every parameter at INFO; the logger is raised to WARNING meanwhile.
    """
    from mmseg.registry import MODELS
    model = MODELS.build(cfg.model)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    if checkpoint:
        from mmseg_ccam.engine import load_checkpoint_strict
        load_checkpoint_strict(model, checkpoint, map_location='cpu',
                               policy=cfg.get('checkpoint_mismatch', 'error'))
    return model


def build_train_loader(cfg: Config, seed: int) -> DataLoader:
    """The config's train dataloader in-process (no workers), its data order and random
    augmentation fixed by ``seed`` (also passed to a sampler that takes one)."""
    loader_cfg = dict(cfg.train_dataloader, num_workers=0, persistent_workers=False)
    if isinstance(loader_cfg.get('sampler'), dict):
        loader_cfg['sampler'] = dict(loader_cfg['sampler'], seed=seed)
    return Runner.build_dataloader(loader_cfg, seed=seed)


def setup_batch_run(args: Namespace, semi: bool,
                    reason: str) -> Tuple[Config, nn.Module, DataLoader]:
    """The start of a tool that runs a model on ``args.batches`` training batches: the config read
    with the key checks, its kind of model checked, then the model (:func:`build_model_quietly`)
    and the train loader (:func:`build_train_loader`), weights and data order fixed by
    ``args.seed``.

    Args:
        args (Namespace): The tool's arguments: ``config``, ``checkpoint`` (None keeps the
            config's initialisation), ``cfg_options``, ``batches`` (below 1 is refused) and
            ``seed`` (of the weights' initialisation, the data order and augmentation).
        semi (bool): Whether the tool needs a ``MeanTeacherSegDepth`` config (True) or refuses
            one (False).
        reason (str): The second half of the refusal, saying why and what to pass.

    Returns:
        tuple[Config, nn.Module, DataLoader]: The config, the model and the train loader.
    """
    from mmengine.registry import init_default_scope
    from mmengine.runner import set_random_seed

    from mmseg_ccam.utils.config_check import load_checked_config
    config, seed = args.config, args.seed
    if args.batches < 1:
        raise SystemExit(f'--batches must be >= 1, got {args.batches}.')
    cfg = load_checked_config(config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model_type = cfg.model.get('type')
    if semi and model_type != 'MeanTeacherSegDepth':
        raise SystemExit(f'{config} is not a semi-supervised config (model type '
                         f'{model_type!r}); {reason}')
    if not semi and model_type == 'MeanTeacherSegDepth':
        raise SystemExit(f'{config} is a mean-teacher config; {reason}')
    set_random_seed(seed)
    model = build_model_quietly(cfg, args.checkpoint)
    return cfg, model, build_train_loader(cfg, seed)
