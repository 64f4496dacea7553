# Supervised-only counterpart of ccam_r50_cityscapes_semi-1-8.py: the same 372 labeled frames.
_base_ = ['./ccam_r50_cityscapes.py']
train_dataloader = dict(dataset=dict(num_labeled=372, split_seed=0, subset='labeled'))
