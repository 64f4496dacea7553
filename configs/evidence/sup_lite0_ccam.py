# Regime pilot (docs/evidence.md, "Regime gate"): the ImageNet-pretrained EfficientNet-Lite0
# CCAM model of ccam_lite0_synthcity.py, all train labels, batch 4, on the evidence test bed
# (_base_/datasets/synthcity_evidence.py); everything else as the R18 protocol model
# sup_r18_ccam.py (1000 iterations, 128x256 crops, AdamW).
_base_ = [
    '../_base_/models/ccam_lite0_os16.py', '../_base_/datasets/synthcity_evidence.py',
    '../_base_/default_runtime_cpu.py', '../_base_/schedules/schedule_synthcity.py'
]
# As ccam_lite0_synthcity.py: the pretrained backbone at a tenth of the heads' rate.
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
