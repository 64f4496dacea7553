# Regime pilot round 3 (docs/evidence.md, "Pilot round 3"): the class weights of
# sup_lite0_ccam_cw_1600it.py and the OHEM sampler of sup_lite0_ccam_ohem_1600it.py together.
_base_ = ['./sup_lite0_ccam_cw_1600it.py']
model = dict(decode_head=dict(sampler=dict(type='OHEMPixelSampler', thresh=0.7, min_kept=32768)))
