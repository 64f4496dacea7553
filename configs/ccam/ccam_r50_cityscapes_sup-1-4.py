# Supervised-only counterpart of ccam_r50_cityscapes_semi-1-4.py: the same 744 labeled frames.
_base_ = ['./ccam_r50_cityscapes.py']
train_dataloader = dict(dataset=dict(num_labeled=744, split_seed=0, subset='labeled'))
