# Ablation: + AffineMix + ColorAug.
_base_ = ['./ccam_r18_synthcity_affinemix.py']
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='AffineMix', prob=0.5, scale_range=(1.0, 1.5), max_translate_ratio=0.2,
         flip_prob=0.5),
    dict(type='ColorAug'),  # COLOR_AUG_DEFAULTS (mmseg_ccam/augmentation/color_aug.py)
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]))
