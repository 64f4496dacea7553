# Control of sup_r18_coloraug.py: the same colour change at the same strength and probability,
# applied to the whole image as one region (no semantics). Only the ColorAug step of the
# pipeline is replaced.
_base_ = ['./sup_r18_coloraug.py']
color_aug = dict(type='GlobalColorJitter', prob=0.5, brightness=0.4, contrast=0.4,
                 saturation=0.4, hue=0.1)
train_pipeline = [color_aug if t['type'] == 'ColorAug' else t for t in _base_.train_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
