# Ablation: + ColorAug (docs/method.md, "ColorAug") driven by the ground-truth labels: the
# supervised pipeline with ColorAug before the photometric jitter.
_base_ = ['./ccam_r18_synthcity.py']
train_pipeline = [
    s for t in _base_.train_pipeline for s in (
        # COLOR_AUG_DEFAULTS (mmseg_ccam/augmentation/color_aug.py), before the jitter.
        [dict(type='ColorAug'), t] if t['type'] == 'PhotoMetricDistortion' else [t])
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
