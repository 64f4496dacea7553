"""The configuration of the semi-supervised segmentors, parsed in one place.

Every default of ``semi_train_cfg`` lives here (or, for the image augmentations, in the function
that applies it); configs only override. See :class:`MeanTeacherSegDepth` for the meaning of
each key and docs/method.md, "Semi-supervised step".
"""
from typing import Optional, Tuple

from mmseg_ccam.utils.config_check import check_cfg_keys

__all__ = ['parse_semi_train_cfg', 'parse_semi_test_cfg', 'check_semi_init_cfg',
           'TRAIN_DEFAULTS']

_OWNER = 'MeanTeacherSegDepth'
AFFINE_MIX_DEFAULTS = dict(scale_range=(1.0, 1.5), max_translate_ratio=0.2, flip_prob=0.5,
                           warp=True, prob=1.0, margin=0.3)
COLOR_AUG_DEFAULTS = dict(prob=0.5, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
STRONG_AUG_DEFAULTS = dict(color_prob=0.8, brightness=0.2, contrast=0.2, saturation=0.2,
                           hue=0.05, blur_prob=0.5, blur_sigma=(0.15, 1.15),
                           blur_kernel_ratio=0.1)
_IMAGE_AUG_OPTIONAL = ('channel_order', 'value_range')
TRAIN_DEFAULTS = dict(tau=0.968, sup_weight=1.0, unsup_seg_weight=1.0, unsup_depth_weight=1.0,
                      color_depth_weight=1.0, unsup_start_iter=0, unsup_rampup_iters=0,
                      pseudo_weight='batch', student_forward='concat', color_view_bn='frozen',
                      affine_mix=AFFINE_MIX_DEFAULTS, strong_aug=STRONG_AUG_DEFAULTS,
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
            - ``affine_mix``: dict of :func:`affine_mix_batch` options ``scale_range``,
              ``max_translate_ratio``, ``flip_prob``, ``warp``, ``prob``, ``margin``;
              None: no mixing.
            - ``strong_aug``: dict of :func:`strong_aug_batch` options ``color_prob``,
              ``brightness``, ``contrast``, ``saturation``, ``hue``, ``blur_prob``,
              ``blur_sigma``, ``blur_kernel_ratio`` (optionally ``channel_order``,
              ``value_range``); None: the student sees the weak (mixed) view.
            - ``color_aug``: dict of :func:`color_aug_batch` options ``prob``,
              ``brightness``, ``contrast``, ``saturation``, ``hue`` (optionally
              ``channel_order``, ``value_range``); None: no ColorAug loss.

    Returns:
        dict: All keys of the defaults; ``affine_mix`` / ``color_aug`` are dicts or None.
    """
    cfg = dict(cfg or {})
    check_cfg_keys(cfg, TRAIN_DEFAULTS, f'{_OWNER} semi_train_cfg')
    out = {k: cfg.get(k, v) for k, v in TRAIN_DEFAULTS.items()}
    # mode / depth_order: the ClassMix and shuffled-depth controls of affine_mix_batch
    out['affine_mix'] = _merge_sub_cfg('affine_mix', out['affine_mix'], AFFINE_MIX_DEFAULTS,
                                       ('mode', 'depth_order'))
    mix = out['affine_mix'] or {}
    for key, allowed in (('mode', ('affinemix', 'depthmix', 'classmix')),
                         ('depth_order', ('true', 'shuffled'))):
        if key in mix and mix[key] not in allowed:
            raise ValueError(f'{_OWNER}: semi_train_cfg.affine_mix.{key} must be one '
                             f'of {allowed}, got {mix[key]!r}.')
    out['strong_aug'] = _merge_sub_cfg('strong_aug', out['strong_aug'], STRONG_AUG_DEFAULTS,
                                       _IMAGE_AUG_OPTIONAL)
    out['color_aug'] = _merge_sub_cfg('color_aug', out['color_aug'], COLOR_AUG_DEFAULTS,
                                      _IMAGE_AUG_OPTIONAL)
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
