# Supervised-only counterpart of ccam_r50_cityscapes_semi-1-30.py: the same 100 labeled frames.
_base_ = ['./ccam_r50_cityscapes.py']
train_dataloader = dict(dataset=dict(num_labeled=100, split_seed=0, subset='labeled'))
