# MobileNetV2 (output stride 8; MMSegmentation deeplabv3plus_m-v2-d8 recipe) -> CCAM neck ->
# DeepLabV3+ seg head and depth head.
_base_ = ['./ccam_r50.py']

norm_cfg = dict(type='SyncBN', requires_grad=True)
mv2_channels = [24, 32, 96, 320]  # stages 1, 2, 4, 6 at strides 4, 8, 8, 8
model = dict(
    pretrained='mmcls://mobilenet_v2',
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        widen_factor=1.0,
        strides=(1, 2, 2, 1, 1, 1, 1),
        dilations=(1, 1, 1, 2, 2, 4, 4),
        out_indices=(1, 2, 4, 6),
        norm_cfg=norm_cfg),
    neck=dict(in_channels=mv2_channels),
    decode_head=dict(in_channels=mv2_channels[3], c1_in_channels=mv2_channels[0]),
    depth_head=dict(in_channels=mv2_channels[3], c1_in_channels=mv2_channels[0]))
