# Ablation: the same model without cross-channel attention (adapters kept).
_base_ = ['./ccam_r50_cityscapes.py']
model = dict(neck=dict(attention=None))
