# Ablation: + AffineMix + ColorAug: the AffineMix ablation with ColorAug after the mix.
_base_ = ['./ccam_r18_synthcity_affinemix.py']
train_dataloader = dict(dataset=dict(pipeline=[
    s for t in _base_.mix_pipeline for s in (
        # COLOR_AUG_DEFAULTS (mmseg_ccam/augmentation/color_aug.py), before the jitter.
        [dict(type='ColorAug'), t] if t['type'] == 'PhotoMetricDistortion' else [t])
]))
