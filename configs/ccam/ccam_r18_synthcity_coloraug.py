# Ablation: + ColorAug (docs/method.md, "ColorAug") driven by the ground-truth labels.
_base_ = ['./ccam_r18_synthcity.py']
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOptionalAnnotations'),
    dict(type='LoadCityscapesDepth', max_depth={{_base_.max_depth}}),
    dict(type='RandomResize', scale={{_base_.img_scale}}, ratio_range=(0.5, 1.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='ColorAug'),  # COLOR_AUG_DEFAULTS (mmseg_ccam/augmentation/color_aug.py)
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
