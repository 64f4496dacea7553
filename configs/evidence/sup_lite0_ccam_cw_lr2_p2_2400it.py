# Regime pilot round 6 (docs/evidence.md, "Pilot round 6"): sup_lite0_ccam_cw_lr2_2400it.py with
# a faster decay (poly power 2.0 instead of 0.9), so that the last quarter of the schedule runs
# at <= 6 % of the peak learning rate and the model settles within the 30-min budget.
_base_ = ['./sup_lite0_ccam_cw_lr2_2400it.py']
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=50, by_epoch=False),
    dict(type='PolyLR', eta_min=1e-5, power=2.0, begin=50, end={{_base_.max_iters}},
         by_epoch=False),
]
