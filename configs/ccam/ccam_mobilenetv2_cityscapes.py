# ccam_r50_cityscapes.py with the model of configs/_base_/models/ccam_mobilenetv2.py.
_base_ = [
    '../_base_/models/ccam_mobilenetv2.py', '../_base_/datasets/cityscapes_depth.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_40k.py'
]
crop_size = (512, 512)
model = dict(data_preprocessor=dict(size=crop_size))
