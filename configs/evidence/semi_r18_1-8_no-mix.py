# Comparison "AffineMix > no mix": the student's unlabeled view is not mixed.
_base_ = ['./semi_r18_1-8.py']
model = dict(semi_train_cfg=dict(mix=None))
