# Protocol v2, comparison "ColorAug > global colour jitter for depth on the colour-shifted
# split": ColorAug (per-class colour change guided by the labels) before PhotoMetricDistortion,
# as in the v1 arm sup_r18_coloraug.py.
_base_ = ['./v2_sup_lite0_ccam.py']
color_aug = dict(type='ColorAug', prob=0.5, brightness=0.4, contrast=0.4, saturation=0.4,
                 hue=0.1)
train_pipeline = [step for t in _base_.train_pipeline
                  for step in ([color_aug, t] if t['type'] == 'PhotoMetricDistortion' else [t])]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
