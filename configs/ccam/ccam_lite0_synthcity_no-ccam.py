# Ablation: the same model without cross-channel attention (adapters kept).
_base_ = ['./ccam_lite0_synthcity.py']
model = dict(neck=dict(attention=None))
