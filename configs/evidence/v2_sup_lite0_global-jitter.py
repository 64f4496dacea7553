# Protocol v2, control of v2_sup_lite0_coloraug.py: the same colour change at the same strength
# and probability on the whole image as one region. Only the ColorAug step is replaced.
_base_ = ['./v2_sup_lite0_coloraug.py']
color_aug = dict(type='GlobalColorJitter', prob=0.5, brightness=0.4, contrast=0.4,
                 saturation=0.4, hue=0.1)
train_pipeline = [color_aug if t['type'] == 'ColorAug' else t for t in _base_.train_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
