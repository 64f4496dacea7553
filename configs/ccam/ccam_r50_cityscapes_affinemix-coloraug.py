# Ablation: + AffineMix + ColorAug.
_base_ = ['./ccam_r50_cityscapes_affinemix.py']
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='AffineMix', prob=0.5, scale_range=(1.0, 1.5), max_translate_ratio=0.2,
         flip_prob=0.5),
    dict(type='ColorAug', prob=0.5, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]))
