"""The configuration of the semi-supervised segmentors, parsed in one place.

Every default of ``semi_train_cfg`` lives here or, for the mixing and the image augmentations,
in the module that applies it (``WARP_DEFAULTS`` / ``DEFAULT_MARGIN`` in
:mod:`mmseg_ccam.augmentation.affine_mix`, ``COLOR_AUG_DEFAULTS`` in
:mod:`mmseg_ccam.augmentation.color_aug`, ``STRONG_AUG_DEFAULTS`` in
:mod:`mmseg_ccam.augmentation.strong_aug`, the mask classes' own arguments); configs only
override. See :func:`parse_semi_train_cfg` for the meaning of each key and docs/method.md,
"Semi-supervised step".
"""
from typing import Optional, Tuple

from mmseg_ccam.augmentation.affine_mix import WARP_DEFAULTS, check_warp
from mmseg_ccam.augmentation.color_aug import COLOR_AUG_DEFAULTS, ColorJitter
from mmseg_ccam.augmentation.mix_masks import build_mix_mask
from mmseg_ccam.augmentation.strong_aug import STRONG_AUG_DEFAULTS
from mmseg_ccam.utils.config_check import ConfigKeyError, check_cfg_keys

__all__ = ['parse_semi_train_cfg', 'parse_semi_test_cfg', 'check_semi_init_cfg',
           'TRAIN_DEFAULTS']

_OWNER = 'MeanTeacherSegDepth'
# mix.warp: None pastes the partner unmoved (DepthMix; ClassMix with mask ClassMask).
MIX_DEFAULTS = dict(prob=1.0, warp=WARP_DEFAULTS, mask=dict(type='DepthOrderMask'))
_IMAGE_AUG_OPTIONAL = ('channel_order', 'value_range')
TRAIN_DEFAULTS = dict(tau=0.968, sup_weight=1.0, unsup_seg_weight=1.0, unsup_depth_weight=1.0,
                      color_depth_weight=1.0, unsup_start_iter=0, unsup_rampup_iters=0,
                      pseudo_weight='batch', student_forward='concat', color_view_bn='frozen',
                      mix=MIX_DEFAULTS, strong_aug=STRONG_AUG_DEFAULTS,
                      color_aug=COLOR_AUG_DEFAULTS)
_CHOICES = dict(pseudo_weight=('batch', 'image', 'mask'), student_forward=('concat', 'separate'),
                color_view_bn=('frozen', 'update'))
_TEST_KEYS = ('eval_model', )
_INIT_CFG_KEYS = ('type', 'checkpoint', 'map_location')


def _merge_sub_cfg(name: str, given: Optional[dict], defaults: dict,
                   optional: Tuple[str, ...] = ()) -> Optional[dict]:
    """Defaults updated with ``given``; None switches the step off; unknown keys raise."""
    if given is None:
        return None
    if not isinstance(given, dict):
        raise TypeError(f'{_OWNER}: semi_train_cfg.{name} must be a dict or None, '
                        f'got {type(given).__name__}.')
    check_cfg_keys(given, list(defaults) + list(optional), f'{_OWNER} semi_train_cfg.{name}')
    return {**defaults, **dict(given)}


_OLD_AFFINE_MIX = (
    f'{_OWNER}: semi_train_cfg.affine_mix (got {{given!r}}) is replaced by semi_train_cfg.mix = '
    "dict(prob=..., warp=dict(scale_range=..., max_translate_ratio=..., flip_prob=...) or None, "
    "mask=dict(type='DepthOrderMask', margin=...)): affine_mix=None -> mix=None; warp=False or "
    "mode='depthmix' -> mix.warp=None; mode='classmix' -> mix=dict(warp=None, "
    "mask=dict(type='ClassMask')); depth_order='shuffled' -> mask=dict(type='ShuffledDepthMask', "
    'margin=...); margin -> mask.margin.')


def _parse_mix(mix: Optional[dict]) -> Optional[dict]:
    """``semi_train_cfg.mix`` completed with the defaults, its mask built."""
    if mix is None:
        return None
    where = f'{_OWNER} semi_train_cfg.mix'
    if not isinstance(mix, dict):
        raise TypeError(f'{where} must be a dict or None, got {type(mix).__name__}.')
    check_cfg_keys(mix, MIX_DEFAULTS, where)
    out = {**MIX_DEFAULTS, **dict(mix)}
    prob = out['prob']
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
        raise ValueError(f'{where}.prob must be a number in [0, 1], got {prob!r}.')
    out['prob'] = float(prob)
    warp = out['warp']
    if warp is not None:
        if not isinstance(warp, dict):
            raise TypeError(f'{where}.warp must be a dict of {sorted(WARP_DEFAULTS)} (values '
                            'not given take the defaults) or None (the partner is not moved), '
                            f'got {warp!r}.')
        check_cfg_keys(warp, WARP_DEFAULTS, f'{where}.warp')
        warp = {**WARP_DEFAULTS, **dict(warp)}
        try:
            check_warp(**warp)
        except ValueError as err:
            raise ValueError(f'{where}.warp: {err}') from None
        out['warp'] = warp
    out['mask'] = build_mix_mask(out['mask'], f'{_OWNER} semi_train_cfg.mix.mask')
    return out


def parse_semi_train_cfg(cfg: Optional[dict]) -> dict:
    """Complete ``semi_train_cfg`` with the defaults and check its keys.

    Args:
        cfg (dict | None): User settings of :class:`MeanTeacherSegDepth`; keys (defaults
            in brackets):

            - ``tau`` (0.968): confidence threshold of the pseudo-labels.
            - ``sup_weight``, ``unsup_seg_weight``, ``unsup_depth_weight``,
              ``color_depth_weight`` (1.0 each): loss weights.
            - ``unsup_start_iter`` (0), ``unsup_rampup_iters`` (0): the pseudo-label loss is 0
              before ``unsup_start_iter``, then ramps up as ``exp(-5 (1 - x)^2)`` over
              ``unsup_rampup_iters`` (see :meth:`MeanTeacherSegDepth.pseudo_label_schedule`).
            - ``pseudo_weight`` ('batch'): 'batch' (the batch's share above ``tau`` times the
              batch's mean CE, as DACS), 'image' (per-image shares and means) or 'mask'
              (CE on the pixels >= ``tau`` only, over the valid pixels: no gradient from
              pixels below ``tau``).
            - ``student_forward`` ('concat'): 'concat' (labeled and unlabeled views in one
              student forward) or 'separate' (two forwards; BN statistics updated twice).
            - ``color_view_bn`` ('frozen'): 'frozen' (the ColorAug view does not move BN
              running statistics) or 'update' (it does; the behaviour before this option).
            - ``mix``: the mixing of the unlabeled view (:func:`affine_mix_batch`), a dict of
              ``prob`` (1.0, per-sample probability of mixing), ``warp`` (a dict of
              ``scale_range``, ``max_translate_ratio``, ``flip_prob``, defaults
              ``WARP_DEFAULTS``; None: the partner is not moved) and ``mask`` (a registered
              mixing mask, ``dict(type='DepthOrderMask', margin=...)`` (default),
              ``'ShuffledDepthMask'``, ``'ClassMask'``; see ``MIX_MASKS``); None: no mixing.
            - ``strong_aug``: dict of :func:`strong_aug_batch` options ``color_prob``,
              ``brightness``, ``contrast``, ``saturation``, ``hue``, ``blur_prob``,
              ``blur_sigma``, ``blur_kernel_ratio`` (optionally ``channel_order``,
              ``value_range``); None: the student sees the weak (mixed) view.
            - ``color_aug``: dict of the :class:`ColorJitter` fields ``prob``,
              ``brightness``, ``contrast``, ``saturation``, ``hue`` (optionally the
              :func:`color_aug_batch` options ``channel_order``, ``value_range``); None: no
              ColorAug loss.

    Returns:
        dict: All keys of the defaults; ``mix`` / ``strong_aug`` / ``color_aug`` are dicts or
        None, ``mix['mask']`` a built mask, ``color_aug`` the keyword arguments of
        :func:`color_aug_batch` (its ColorJitter fields gathered, validated, as ``jitter``).
    """
    cfg = dict(cfg or {})
    if 'affine_mix' in cfg:
        raise ConfigKeyError(_OLD_AFFINE_MIX.format(given=cfg['affine_mix']))
    check_cfg_keys(cfg, TRAIN_DEFAULTS, f'{_OWNER} semi_train_cfg')
    out = {k: cfg.get(k, v) for k, v in TRAIN_DEFAULTS.items()}
    out['mix'] = _parse_mix(out['mix'])
    out['strong_aug'] = _merge_sub_cfg('strong_aug', out['strong_aug'], STRONG_AUG_DEFAULTS,
                                       _IMAGE_AUG_OPTIONAL)
    out['color_aug'] = _merge_sub_cfg('color_aug', out['color_aug'], COLOR_AUG_DEFAULTS,
                                      _IMAGE_AUG_OPTIONAL)
    if out['color_aug'] is not None:
        color_aug = out['color_aug']
        jitter = ColorJitter(**{key: color_aug.pop(key) for key in COLOR_AUG_DEFAULTS})
        out['color_aug'] = dict(color_aug, jitter=jitter)
    for key in ('tau', 'sup_weight', 'unsup_seg_weight', 'unsup_depth_weight',
                'color_depth_weight'):
        out[key] = float(out[key])
    for key in ('unsup_start_iter', 'unsup_rampup_iters'):
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f'{_OWNER}: semi_train_cfg.{key} must be an int >= 0 '
                             f'(iterations), got {value!r}.')
    for key, choices in _CHOICES.items():
        if out[key] not in choices:
            raise ValueError(f'{_OWNER}: semi_train_cfg.{key} must be one of '
                             f'{choices}, got {out[key]!r}.')
    return out


def parse_semi_test_cfg(cfg: Optional[dict]) -> dict:
    """``dict(eval_model='teacher' | 'student')`` (default 'teacher'); other keys raise."""
    cfg = dict(cfg or {})
    check_cfg_keys(cfg, _TEST_KEYS, f'{_OWNER} semi_test_cfg')
    eval_model = cfg.get('eval_model', 'teacher')
    if eval_model not in ('teacher', 'student'):
        raise ValueError(f"{_OWNER}: semi_test_cfg.eval_model must be 'teacher' or "
                         f"'student', got {eval_model!r}.")
    return dict(eval_model=eval_model)


def check_semi_init_cfg(init_cfg: Optional[dict]) -> None:
    """``init_cfg`` of the semi model must be None or ``dict(type='Pretrained',
    checkpoint=PATH[, map_location=...])`` (loaded into the student, copied to the teacher)."""
    if init_cfg is None:
        return
    if not (isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'
            and init_cfg.get('checkpoint')):
        raise ValueError(
            f"{_OWNER}: init_cfg must be None or dict(type='Pretrained', "
            f'checkpoint=PATH), got {init_cfg!r}. Initialise parts of the network with '
            'init_cfg inside model.segmentor instead.')
    check_cfg_keys(init_cfg, _INIT_CFG_KEYS, f'{_OWNER} init_cfg')
