# Protocol v2, comparison "depth order matters": each sample gets the AffineMix mask of another
# sample of the batch (same pasted fraction and blob shapes, no agreement with its geometry).
_base_ = ['./v2_semi_lite0_1-8.py']
model = dict(semi_train_cfg=dict(mix=dict(mask=dict(type='ShuffledDepthMask'))))
