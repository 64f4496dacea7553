# Regime pilot, gate G3 at 1600 iterations: sup_lite0_ccam_1600it.py on the 50 labeled frames
# of the 1/8 split (labeled_ratio 0.125, split_seed 0), batch 4.
_base_ = ['./sup_lite0_ccam_1600it.py']
train_dataloader = dict(dataset=dict(labeled_ratio=0.125, split_seed=0, subset='labeled'))
