# Comparison "AffineMix > DepthMix": the partner is pasted unmoved (Hoyer et al.'s DepthMix).
_base_ = ['./semi_r18_1-8.py']
model = dict(semi_train_cfg=dict(mix=dict(warp=None)))
