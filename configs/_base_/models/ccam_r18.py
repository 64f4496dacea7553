# A small CPU-friendly variant of ccam_r50.py for SynthCity: ResNet-18-V1c at 1/4 width,
# no pretrained weights, BN instead of SyncBN, lighter heads.
_base_ = ['./ccam_r50.py']

norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(128, 256)),
    backbone=dict(depth=18, base_channels=16, stem_channels=16, norm_cfg=norm_cfg),
    # Tiny channels: full 3x3 adapters and exchange at the first and the last level are cheap
    # here (the SynthCity results in the README use this neck).
    # attention keeps the DANet energy ('dot'): peaked, not saturated, on this model (measured:
    # docs/harness_checks.md, "Measurements behind config values").
    neck=dict(in_channels=[16, 32, 64, 128], levels=(0, 3), depthwise=False, norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=128, channels=48, dilations=(1, 3, 6, 9), c1_in_channels=16, c1_channels=16,
        norm_cfg=norm_cfg,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
                         avg_non_ignore=True)),
    depth_head=dict(
        in_channels=128, channels=48, dilations=(1, 3, 6, 9), c1_in_channels=16, c1_channels=16,
        norm_cfg=norm_cfg))
