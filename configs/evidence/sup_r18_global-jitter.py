# Control of sup_r18_coloraug.py: the same colour change at the same strength and probability,
# applied to the whole image as one region (no semantics).
_base_ = ['./sup_r18_coloraug.py']
color_aug = dict(type='GlobalColorJitter', prob=0.5, brightness=0.4, contrast=0.4,
                 saturation=0.4, hue=0.1)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOptionalAnnotations'),
    dict(type='LoadCityscapesDepth', max_depth={{_base_.max_depth}}),
    dict(type='RandomResize', scale={{_base_.img_scale}}, ratio_range=(0.5, 1.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    color_aug,
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
