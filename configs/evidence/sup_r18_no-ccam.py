# Comparison "CCAM >= no-CCAM": the same model without cross-channel attention (adapters kept).
_base_ = ['./sup_r18_ccam.py']
model = dict(neck=dict(attention=None))
