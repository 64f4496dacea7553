# ccam_lite0.py at output stride 16 with plain BN and light heads, for 128x256 crops on CPU
# (SynthCity): the model of ccam_lite0_synthcity.py and ccam_lite0_synthcity_semi.py.
_base_ = ['./ccam_lite0.py']

# Plain BN on CPU (SyncBN needs DDP on CUDA). The backbone keeps the eps / momentum of its
# TensorFlow weights.
norm_cfg = dict(type='BN', requires_grad=True)
# Output stride 16 (the last two stages dilated, not strided): on one CPU core the d8 layout of
# the base config costs 3x the time per iteration (measured: docs/harness_checks.md,
# "Measurements behind config values"); the stride-4 skip of the heads keeps the boundaries.
model = dict(
    data_preprocessor=dict(size=(128, 256)),
    backbone=dict(strides=(1, 2, 2, 2, 1, 1, 1), dilations=(1, 1, 1, 1, 1, 2, 2),
                  norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01, requires_grad=True)),
    neck=dict(norm_cfg=norm_cfg),
    # ASPP dilations for an 8x16 feature map (128x256 crops at output stride 16).
    decode_head=dict(channels=64, dilations=(1, 2, 4, 6), c1_channels=24, norm_cfg=norm_cfg,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                      loss_weight=1.0, avg_non_ignore=True)),
    depth_head=dict(channels=64, dilations=(1, 2, 4, 6), c1_channels=24, norm_cfg=norm_cfg))
