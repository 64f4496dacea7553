# Comparison "depth order matters": each sample gets the AffineMix mask of another sample of the
# batch (same pasted fraction and blob shapes, no agreement with this image's geometry).
_base_ = ['./semi_r18_1-8.py']
# The margin is the base's (DepthOrderMask's 0.3).
model = dict(semi_train_cfg=dict(mix=dict(mask=dict(type='ShuffledDepthMask'))))
