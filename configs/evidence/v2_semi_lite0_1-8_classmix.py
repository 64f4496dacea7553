# Protocol v2, comparison "AffineMix > ClassMix": half of the partner's pseudo-label classes
# pasted whole, unmoved, with no depth test.
_base_ = ['./v2_semi_lite0_1-8.py']
model = dict(semi_train_cfg=dict(mix=dict(warp=None, mask=dict(_delete_=True, type='ClassMask'))))
