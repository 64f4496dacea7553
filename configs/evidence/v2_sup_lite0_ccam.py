# Protocol v2 (docs/evidence.md, "Protocol v2"), arm `ccam`, DRAFT: no regime has passed the
# regime gate yet, so this points at the best candidate within the budget so far (pilot round
# 5: ImageNet-pretrained Lite0, CCAM, ENet class weights on the labeled cross-entropy, AdamW
# 2e-3, 2400 iterations, poly power 0.9; G1 and G3 met, G2 not). When a regime passes, this
# line is re-pointed at it (and the schedule copied in v2_semi_lite0_1-8.py with it) before
# any v2 run. Every v2 supervised arm inherits this file and changes one thing.
_base_ = ['./sup_lite0_ccam_cw_lr2_2400it.py']
