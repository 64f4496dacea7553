# ccam_r50.py with ResNet-101-V1c (output stride 8); channels are those of ResNet-50.
_base_ = ['./ccam_r50.py']

model = dict(pretrained='open-mmlab://resnet101_v1c', backbone=dict(depth=101))
