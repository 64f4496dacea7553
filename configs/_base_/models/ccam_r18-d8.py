# ccam_r50.py with a full-width ResNet-18-V1c (output stride 8) and the lighter DeepLabV3+
# heads of MMSegmentation's deeplabv3plus_r18-d8 recipe.
_base_ = ['./ccam_r50.py']

model = dict(
    pretrained='open-mmlab://resnet18_v1c',
    backbone=dict(depth=18),
    neck=dict(in_channels=[64, 128, 256, 512]),
    decode_head=dict(in_channels=512, channels=128, c1_in_channels=64, c1_channels=12),
    depth_head=dict(in_channels=512, channels=128, c1_in_channels=64, c1_channels=12))
