# Protocol v2 (docs/evidence.md, "Protocol v2"), arm `ccam`: the fully-labeled supervised joint
# model of the regime that passed the regime gate (pilot round 6): ImageNet-pretrained Lite0,
# CCAM, ENet class weights on the labeled cross-entropy, AdamW, 2400 iterations, poly power 2.0.
# Every v2 supervised arm inherits this file and changes one thing.
_base_ = ['./sup_lite0_ccam_cw_lr2_p2_2400it.py']
