"""Shared set-up of the analysis tools that run a trained model on training batches
(``tools/analysis_tools/task_gradients.py``, ``mix_statistics.py``)."""
import logging
from typing import Optional

import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from torch.utils.data import DataLoader

__all__ = ['build_model_quietly', 'build_train_loader']


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
