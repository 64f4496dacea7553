# Regime pilot, iterations: sup_lite0_ccam.py trained for 1600 iterations (the same poly
# schedule stretched), validated every 200 (what fits the pilot's wall time on shared cores).
_base_ = ['./sup_lite0_ccam.py']
max_iters = 1600
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=50, by_epoch=False),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=200)
default_hooks = dict(checkpoint=dict(interval=200))
