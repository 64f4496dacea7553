# Protocol v2, comparison "AffineMix > DepthMix": the partner is pasted unmoved.
_base_ = ['./v2_semi_lite0_1-8.py']
model = dict(semi_train_cfg=dict(mix=dict(warp=None)))
