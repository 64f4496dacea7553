# Regime pilot round 7, gate G3: sup_lite0_ccam_cw_lr2_4800it.py on the 50 labeled frames of the
# 1/8 split (labeled_ratio 0.125, split_seed 0), batch 4.
_base_ = ['./sup_lite0_ccam_cw_lr2_4800it.py']
train_dataloader = dict(dataset=dict(labeled_ratio=0.125, split_seed=0, subset='labeled'))
