# Comparison "AffineMix > ClassMix": half of the partner's (pseudo-)label classes pasted whole,
# unmoved, with no depth test (Olsson et al.'s ClassMix), as the mixing control without depth.
_base_ = ['./semi_r18_1-8.py']
model = dict(semi_train_cfg=dict(affine_mix=dict(mode='classmix')))
