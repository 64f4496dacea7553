"""The registry of mixing masks, their interface and their builder."""
from typing import Optional, Union

import torch
from mmengine.registry import Registry

__all__ = ['MIX_MASKS', 'BaseMixMask', 'build_mix_mask']

# A registry of its own, not MMSeg's MODELS: the masks are plain callables (no weights, no
# nn.Module) built by the mixing step itself, and a registry holding only them lets the analysis
# tools iterate every mask (``MIX_MASKS.module_dict``). It has no parent, so MMEngine's
# default-scope switch (which would redirect a child of MMSeg's registry to MMSeg's MODELS,
# where the masks are not) does not apply; :func:`build_mix_mask` looks the type up directly.
MIX_MASKS = Registry('mix mask', scope='mmseg_ccam',
                     locations=['mmseg_ccam.augmentation.mix_masks'])


class BaseMixMask:
    """Where a (moved) partner sample is pasted onto each sample of a batch.

    Subclasses validate their options in ``__init__`` and implement :meth:`__call__`; random
    draws use the ``generator`` they are given (on its device), so a mixing step stays
    reproducible.
    """

    def __call__(self, depth_a: torch.Tensor, depth_b: torch.Tensor,
                 seg_b: Optional[torch.Tensor], *, generator: Optional[torch.Generator],
                 ignore_index: int) -> torch.Tensor:
        """The mask, ``B x 1 x H x W`` bool (True: take the partner's pixel).

        Args:
            depth_a (Tensor): ``B x 1 x H x W`` depth of the samples, 0 = invalid.
            depth_b (Tensor): ``B x 1 x H x W`` depth of their (moved) partners; 0 where the
                partner has no pixel (outside its image after the warp) or no valid depth.
            seg_b (Tensor | None): ``B x 1 x H x W`` labels of the (moved) partners
                (``ignore_index`` outside their image).
            generator (torch.Generator | None): Source of the mask's random draws.
            ignore_index (int): Label that is never a class.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items())
        return f'{type(self).__name__}({args})'


def build_mix_mask(cfg: Union[dict, BaseMixMask], where: str = 'mask') -> BaseMixMask:
    """A mask from ``dict(type=NAME, **options)`` (or an already built mask).

    Args:
        cfg (dict | BaseMixMask): Config; ``type`` names a class of :data:`MIX_MASKS`.
        where (str): The config key, for the error messages.
    """
    if isinstance(cfg, BaseMixMask):
        return cfg
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f"{where} must be a dict with a 'type' naming a mixing mask "
                        f'({sorted(MIX_MASKS.module_dict)}), got {cfg!r}.')
    cfg = dict(cfg)
    name = cfg.pop('type')
    cls = MIX_MASKS.get(name) if isinstance(name, str) else name
    if not (isinstance(cls, type) and issubclass(cls, BaseMixMask)):
        raise KeyError(f'{where}.type={name!r} is not a registered mixing mask; choose from '
                       f'{sorted(MIX_MASKS.module_dict)} (or register a BaseMixMask subclass '
                       'in mmseg_ccam/augmentation/mix_masks/).')
    try:
        return cls(**cfg)
    except TypeError as err:
        raise TypeError(f'{where}: {name} does not take {sorted(cfg)} ({err}).') from None
