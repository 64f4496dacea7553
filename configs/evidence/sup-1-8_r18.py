# Supervised-only at 1/8 labels (the frames the semi-supervised configs label: labeled_ratio
# 0.125, split_seed 0), batch 4.
_base_ = ['./sup_r18_ccam.py']
train_dataloader = dict(dataset=dict(labeled_ratio=0.125, split_seed=0, subset='labeled'))
