# Regime pilot round 2 (docs/evidence.md, "Pilot round 2: the loss on rare classes"):
# sup_lite0_ccam_1600it.py with ENet class weights 1 / ln(1.02 + p_k) on the cross-entropy,
# p_k the pixel share of class k in data/synthcity_evidence train, scaled to a pixel mean of 1
# (printed by: python tools/analysis_tools/class_weights.py data/synthcity_evidence). The loss is
# WeightedCrossEntropyLoss: MMSeg's CrossEntropyLoss crashes on class weights with ignored pixels.
_base_ = ['./sup_lite0_ccam_1600it.py']
model = dict(decode_head=dict(loss_decode=dict(type='WeightedCrossEntropyLoss', class_weight=[
    0.4150, 2.3705, 0.4855, 5.4598, 5.3836, 4.2815, 6.2331, 6.0106, 1.2006, 4.8893, 1.7219,
    5.5604, 6.3674, 1.1241, 2.8307, 3.5314, 6.5428, 6.5428, 6.4754])))
