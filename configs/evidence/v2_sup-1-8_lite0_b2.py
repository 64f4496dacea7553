# Protocol v2: supervised-only at 1/8 labels (the 50 frames of labeled_ratio 0.125, split_seed
# 0) with 2 labeled images per step, the labeled throughput of the semi-supervised step.
_base_ = ['./v2_sup_lite0_ccam.py']
train_dataloader = dict(batch_size=2,
                        dataset=dict(labeled_ratio=0.125, split_seed=0, subset='labeled'))
