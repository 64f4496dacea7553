# Comparison: DepthMix (Hoyer et al.): the AffineMix occlusion rule without the affine warp.
_base_ = ['./ccam_r50_cityscapes_affinemix.py']
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='AffineMix', prob=0.5, warp=False),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]))
