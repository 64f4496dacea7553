# Mean-teacher wrapper (DESIGN.md §6) around the segmentor defined by `model` in the config
# that inherits this file: see ccam_r18_synthcity_semi.py for how the two are combined.
semi_train_cfg = dict(
    tau=0.968,
    sup_weight=1.0,
    unsup_seg_weight=1.0,
    unsup_depth_weight=1.0,
    color_depth_weight=1.0,
    affine_mix=dict(scale_range=(1.0, 1.5), max_translate_ratio=0.2, flip_prob=0.5, warp=True),
    color_aug=dict(prob=0.5, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1))
semi_test_cfg = dict(eval_model='teacher')
custom_hooks = [dict(type='MeanTeacherHook', momentum=0.99, interval=1)]
# Labeled frames carry `has_seg_label=True`; the model splits each batch with it.
pack_inputs = dict(
    type='PackSegInputs',
    meta_keys=('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
               'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label', 'has_seg_label'))
