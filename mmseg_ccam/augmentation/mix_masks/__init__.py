"""Mixing masks of the batch mixing (:func:`~mmseg_ccam.augmentation.affine_mix_batch`) as
registered components: ``mix=dict(mask=dict(type='DepthOrderMask', margin=0.3))``.

Every module of this package is imported below, so a new mask is one new file (a
:class:`BaseMixMask` subclass registered in :data:`MIX_MASKS`) plus the config line that names
it; :func:`build_mix_mask` and the analysis tools find it through the registry.
"""
import importlib
import pkgutil

from .base import MIX_MASKS, BaseMixMask, build_mix_mask

# Import every mask module (registration happens at import); base.py is already loaded.
for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f'{__name__}.{_info.name}')

__all__ = ['MIX_MASKS', 'BaseMixMask', 'build_mix_mask']
