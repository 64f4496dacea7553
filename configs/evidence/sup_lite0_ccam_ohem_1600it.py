# Regime pilot round 2 (docs/evidence.md, "Pilot round 2: the loss on rare classes"):
# sup_lite0_ccam_1600it.py with MMSeg's online hard example mining on the segmentation loss:
# pixels whose true-class probability is below 0.7, at least a quarter of a batch's
# 4 x 128 x 256 pixels.
_base_ = ['./sup_lite0_ccam_1600it.py']
model = dict(decode_head=dict(sampler=dict(type='OHEMPixelSampler', thresh=0.7, min_kept=32768)))
