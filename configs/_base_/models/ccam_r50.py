# Joint model (docs/method.md, "Model"): ResNet-50-V1c (output stride 8) -> CCAM neck -> DeepLabV3+
# segmentation head + DeepLabV3+-style depth head.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDepthDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    depth_pad_val=0)
model = dict(
    type='SegDepthEncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet50_v1c',
    backbone=dict(
        type='ResNetV1c',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True),
    # Exchange at the stride-4 level (C=256). The attention costs 4*C^2*N multiply-adds: at the
    # 2048-channel stride-8 level of this dilated ResNet that would be 34 GMACs at 256x512
    # (2/3 of the backbone), at level 0 it is 2.1. Depthwise 3x3 adapters keep the neck at a
    # few thousand parameters, so the joint model costs backbone + 2 heads (docs/benchmarks.md).
    neck=dict(
        type='CCAMNeck',
        in_channels=[256, 512, 1024, 2048],
        levels=(0, ),
        adapter_channels=None,
        depthwise=True,
        norm_cfg=norm_cfg,
        attention=dict(type='CrossChannelAttention')),
    decode_head=dict(
        type='DepthwiseSeparableASPPHead',
        in_channels=2048,
        in_index=3,
        channels=512,
        dilations=(1, 12, 24, 36),
        c1_in_channels=256,
        c1_channels=48,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
# The depth head is a DeepLabV3+ decoder of the segmentation head's geometry (input level, ASPP
# width and dilations, stride-4 skip, norm) that regresses metric depth in [min_depth,
# max_depth]. The geometry is copied when this file is read: a derived config that changes the
# decode head's geometry sets the depth head's too.
model['depth_head'] = dict(
    {key: model['decode_head'][key] for key in (
        'in_channels', 'in_index', 'channels', 'dilations', 'c1_in_channels', 'c1_channels',
        'norm_cfg', 'align_corners')},
    type='DepthHead',
    min_depth=0.1,
    max_depth=80.0,
    loss_decode=dict(type='SiLogLoss', loss_weight=1.0))
