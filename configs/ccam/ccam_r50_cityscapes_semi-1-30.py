# Semi-supervised CCAM on Cityscapes with 100 labeled frames (1/30 of 2975); same draw as the
# 1/8 split, of which these are the first 100.
_base_ = ['./ccam_r50_cityscapes_semi-1-8.py']

split = dict(num_labeled=100, split_seed=0)
train_dataloader = dict(
    dataset=dict(datasets=[dict(_base_.labeled, **split), dict(_base_.unlabeled, **split)]))
