# ConvNeXt-T from MMPretrain (optional: `pip install mmpretrain`, which needs torchvision) through
# the `mmpretrain.` registry scope, as in MMSegmentation's convnext recipes -> CCAM neck ->
# DeepLabV3+ seg head and depth head. ConvNeXt outputs strides 4-32. A config using it must
# import `mmpretrain.models` (see configs/ccam/ccam_convnext-t_cityscapes.py).
_base_ = ['./ccam_r50.py']

convnext_channels = [96, 192, 384, 768]
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch='tiny',
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        gap_before_final_norm=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/convnext/downstream/'
            'convnext-tiny_3rdparty_32xb128-noema_in1k_20220301-795e9634.pth',
            prefix='backbone.')),
    # Stride-32 last level (N = HW/1024): attention there is cheap, so exchange at 0 and 3.
    neck=dict(in_channels=convnext_channels, levels=(0, 3)),
    decode_head=dict(in_channels=convnext_channels[3], channels=256, dilations=(1, 3, 6, 9),
                     c1_in_channels=convnext_channels[0]),
    depth_head=dict(in_channels=convnext_channels[3], channels=256, dilations=(1, 3, 6, 9),
                    c1_in_channels=convnext_channels[0]))
