# Regime pilot round 3 (docs/evidence.md, "Pilot round 3"): sup_lite0_ccam_cw_1600it.py at
# twice the learning rate (AdamW 2e-3; the backbone's 0.1x and the gammas' 10x multipliers
# kept), to converge within the same 1600 iterations.
_base_ = ['./sup_lite0_ccam_cw_1600it.py']
optim_wrapper = dict(optimizer=dict(lr=2e-3))
