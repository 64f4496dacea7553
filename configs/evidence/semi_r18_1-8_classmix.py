# Comparison "AffineMix > ClassMix": half of the partner's (pseudo-)label classes pasted whole,
# unmoved, with no depth test (Olsson et al.'s ClassMix), as the mixing control without depth.
_base_ = ['./semi_r18_1-8.py']
model = dict(semi_train_cfg=dict(mix=dict(warp=None, mask=dict(_delete_=True, type='ClassMask'))))
