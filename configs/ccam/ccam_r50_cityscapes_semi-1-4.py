# Semi-supervised CCAM on Cityscapes with 744 labeled frames (1/4 of 2975); same draw as the
# 1/8 split, whose 372 frames are among these.
_base_ = ['./ccam_r50_cityscapes_semi-1-8.py']

split = dict(num_labeled=744, split_seed=0)
train_dataloader = dict(
    dataset=dict(datasets=[dict(_base_.labeled, **split), dict(_base_.unlabeled, **split)]))
