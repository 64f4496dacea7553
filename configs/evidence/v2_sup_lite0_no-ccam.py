# Protocol v2, comparison "CCAM >= no-CCAM": the gated model without cross-channel attention.
_base_ = ['./v2_sup_lite0_ccam.py']
model = dict(neck=dict(attention=None))
