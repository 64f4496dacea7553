# ResNet-50-V1c + CCAM neck + DeepLabV3+ seg head + depth head, Cityscapes, 40k
# (docs/method.md, "Cityscapes defaults").
_base_ = [
    '../_base_/models/ccam_r50.py', '../_base_/datasets/cityscapes_depth.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_40k.py'
]
crop_size = (512, 512)
model = dict(data_preprocessor=dict(size=crop_size))
