"""What a mixing mask does to the classes of the unlabeled targets.

The semi-supervised step trains the student on a mixed view: the teacher's pseudo-label of a
frame A with pixels of a partner B pasted over it, where a registered mixing mask says
(``MIX_MASKS``: the depth order of AffineMix / DepthMix, ClassMix's classes, another frame's
depth order), B moved by the warp or not. Which classes of A the paste covers, and which classes
of B it brings in, changes what the student is taught on the unlabeled frames, whatever the
quality of the pseudo-labels. A depth-ordered mask pastes near surfaces over far ones, so far
classes (sky, building facades) lose target pixels and near ones (cars, road in front) gain
them.

:func:`mix_class_counts` counts one mixed batch per class; :func:`mix_statistics` applies
several masks to the same teacher predictions of one batch, with the same pairs and warps, so
the masks are compared on identical input.
"""
import inspect
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ..augmentation.affine_mix import WARP_DEFAULTS, affine_mix_batch
from ..augmentation.mix_masks import MIX_MASKS, build_mix_mask
from ..models.segmentors.mean_teacher_seg_depth import IGNORE_INDEX, split_labeled

__all__ = ['UNMOVED', 'mix_arms', 'mix_class_counts', 'mix_statistics']

UNMOVED = '-unmoved'  # suffix of the arms whose partner is not warped (DepthMix, ClassMix)


def mix_arms() -> List[str]:
    """Every registered mixing mask, with the model's warp (``NAME``) and with the partner
    unmoved (``NAME-unmoved``): ``DepthOrderMask`` is AffineMix, ``DepthOrderMask-unmoved``
    DepthMix, ``ClassMask-unmoved`` ClassMix, ``ShuffledDepthMask`` the depth-order control."""
    return [name + suffix for name in sorted(MIX_MASKS.module_dict) for suffix in ('', UNMOVED)]


def _arm_mask(name: str, model_mask):
    """The mask ``name`` with the options of the model's mask that it accepts (e.g. its
    ``margin``), so every arm mixes with the model's settings."""
    cls = MIX_MASKS.get(name)
    accepted = inspect.signature(cls.__init__).parameters
    options = {k: v for k, v in vars(model_mask).items() if k in accepted} \
        if model_mask is not None else {}
    return build_mix_mask(dict(type=name, **options))


def _bincount(labels: torch.Tensor, num_classes: int) -> np.ndarray:
    labels = labels.flatten().long()
    labels = labels[(labels >= 0) & (labels < num_classes)]  # drops ignore_index as well
    return torch.bincount(labels, minlength=num_classes).cpu().numpy().astype(np.int64)


def mix_class_counts(pseudo: torch.Tensor, mixed: torch.Tensor, mask: torch.Tensor,
                     num_classes: int) -> Dict[str, np.ndarray]:
    """Per-class pixel counts of one mixed batch.

    Args:
        pseudo (Tensor): ``B x H x W`` labels of the frames before mixing (pseudo-labels).
        mixed (Tensor): ``B x H x W`` labels after mixing.
        mask (Tensor): ``B x H x W`` bool, True where the partner was pasted.
        num_classes (int): Number of classes; labels outside ``[0, num_classes)`` (the
            ignore index) are not counted.

    Returns:
        dict[str, np.ndarray]: ``(num_classes,)`` int64 counts: ``'before'`` (``pseudo``),
        ``'after'`` (``mixed``), ``'covered'`` (``pseudo`` where pasted over) and
        ``'pasted'`` (``mixed`` where pasted). Without ignored pixels,
        ``after = before - covered + pasted``.
    """
    if not (pseudo.shape == mixed.shape == mask.shape):
        raise ValueError(f'mix_class_counts: pseudo {tuple(pseudo.shape)}, mixed '
                         f'{tuple(mixed.shape)} and mask {tuple(mask.shape)} must have one shape.')
    mask = mask.bool()
    return dict(before=_bincount(pseudo, num_classes), after=_bincount(mixed, num_classes),
                covered=_bincount(pseudo[mask], num_classes),
                pasted=_bincount(mixed[mask], num_classes))


@torch.no_grad()
def mix_statistics(model: torch.nn.Module, inputs: torch.Tensor, data_samples: list,
                   arms: Optional[Sequence[str]] = None,
                   seed: int = 0) -> Dict[str, Dict[str, np.ndarray]]:
    """Class counts of several masks on the unlabeled samples of one training batch.

    The teacher of ``model`` (a :class:`MeanTeacherSegDepth`) predicts once, as in the
    semi-supervised step; each arm of :func:`mix_arms` then mixes these predictions with the
    model's ``semi_train_cfg.mix`` options (its ``prob``, its warp or, for the ``-unmoved``
    arms, none, and the options of its mask that the arm's mask accepts, e.g. ``margin``).
    Every arm draws from a generator seeded with ``seed``, so all of them see the same
    partner pairs.

    Args:
        model (MeanTeacherSegDepth): The semi-supervised model (its teacher is used).
        inputs (Tensor): ``B x 3 x H x W`` preprocessed images (``data_preprocessor`` output).
        data_samples (list[SegDataSample]): The batch's samples; the unlabeled ones are mixed.
        arms (Sequence[str] | None): Names from :func:`mix_arms`; None: all of them.
        seed (int): Seed of the mixing draws.

    Returns:
        dict[str, dict[str, np.ndarray]]: Per arm, the counts of :func:`mix_class_counts`
        plus ``'pixels'`` (the number of target pixels); empty when the batch has no
        unlabeled sample.
    """
    known = mix_arms()
    arms = known if arms is None else list(arms)
    unknown = [a for a in arms if a not in known]
    if unknown:
        raise ValueError(f'mix_statistics: unknown arm(s) {unknown}; choose from {known}.')
    cfg = getattr(model, 'semi_train_cfg', None)
    if cfg is None or not hasattr(model, 'teacher_predict'):
        raise ValueError('mix_statistics: the model must be a MeanTeacherSegDepth (got '
                         f'{type(model).__name__}); pass a semi-supervised config.')
    _, unlabeled = split_labeled(data_samples)
    if not unlabeled:
        return {}
    x = inputs[torch.tensor(unlabeled, device=inputs.device)]
    pseudo, _, depth = model.teacher_predict(x)
    mix = cfg['mix'] or {}
    warp = mix.get('warp') or WARP_DEFAULTS
    num_classes = model.student.decode_head.num_classes
    out = {}
    for arm in arms:
        name = arm[:-len(UNMOVED)] if arm.endswith(UNMOVED) else arm
        generator = torch.Generator().manual_seed(seed)
        mixed = affine_mix_batch(x, pseudo, depth, generator=generator, seg_pad_val=IGNORE_INDEX,
                                 prob=mix.get('prob', 1.0), warp=not arm.endswith(UNMOVED),
                                 **warp, mask=_arm_mask(name, mix.get('mask')))
        counts = mix_class_counts(pseudo, mixed.seg, mixed.mask, num_classes)
        counts['pixels'] = np.int64(pseudo.numel())
        out[arm] = counts
    return out
