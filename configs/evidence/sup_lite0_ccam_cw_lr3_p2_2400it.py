# Regime pilot round 6 (docs/evidence.md, "Pilot round 6"): the power-2.0 schedule of
# sup_lite0_ccam_cw_lr2_p2_2400it.py at a higher peak learning rate (AdamW 3e-3), to learn more
# before the decay.
_base_ = ['./sup_lite0_ccam_cw_lr2_p2_2400it.py']
optim_wrapper = dict(optimizer=dict(lr=3e-3))
