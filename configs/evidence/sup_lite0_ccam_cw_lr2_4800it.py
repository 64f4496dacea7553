# Regime pilot round 7 (docs/evidence.md, "Pilot round 7"): sup_lite0_ccam_cw_lr2_2400it.py
# trained twice as long (4800 iterations, the same warm-up, the poly decay stretched), validated
# every 600: where the class-weighted model converges, whatever the 30-min budget says.
_base_ = ['./sup_lite0_ccam_cw_lr2_1600it.py']
max_iters = 4800
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=50, by_epoch=False),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=50, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=600)
default_hooks = dict(checkpoint=dict(interval=600))
