# Regime pilot, gate G3: sup_lite0_ccam.py at 1/8 labels (the frames the semi-supervised configs
# label: labeled_ratio 0.125, split_seed 0), batch 4: the same labeled images per step.
_base_ = ['./sup_lite0_ccam.py']
train_dataloader = dict(dataset=dict(labeled_ratio=0.125, split_seed=0, subset='labeled'))
