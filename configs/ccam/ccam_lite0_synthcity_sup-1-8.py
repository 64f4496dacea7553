# Supervised-only counterpart of ccam_lite0_synthcity_semi.py: the same 1/8 labeled frames.
_base_ = ['./ccam_lite0_synthcity.py']
train_dataloader = dict(dataset=dict(labeled_ratio=0.125, split_seed=0, subset='labeled'))
