# Regime pilot round 2, gate G3: sup_lite0_ccam_cw_1600it.py on the 50 labeled frames of the
# 1/8 split (labeled_ratio 0.125, split_seed 0), batch 4; the class weights of the whole train
# split (what a user with the full split's statistics would use).
_base_ = ['./sup_lite0_ccam_cw_1600it.py']
train_dataloader = dict(dataset=dict(labeled_ratio=0.125, split_seed=0, subset='labeled'))
