# Protocol v2, comparison "AffineMix > no mix" (and, against v2_joint-1-8_lite0.py, pseudo-labels
# without mixing): the student's unlabeled view is not mixed.
_base_ = ['./v2_semi_lite0_1-8.py']
model = dict(semi_train_cfg=dict(mix=None))
