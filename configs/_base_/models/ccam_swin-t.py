# Swin-T backbone (MMSegmentation upernet_swin-t recipe) -> CCAM neck -> DeepLabV3+ seg head and
# depth head. Swin outputs strides 4-32, so the ASPP dilations are those of output stride 32.
_base_ = ['./ccam_r50.py']

swin_channels = [96, 192, 384, 768]
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        pretrain_img_size=224,
        embed_dims=96,
        patch_size=4,
        window_size=7,
        mlp_ratio=4,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        strides=(4, 2, 2, 2),
        out_indices=(0, 1, 2, 3),
        qkv_bias=True,
        qk_scale=None,
        patch_norm=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.3,
        use_abs_pos_embed=False,
        act_cfg=dict(type='GELU'),
        norm_cfg=dict(type='LN', requires_grad=True),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/swin/'
            'swin_tiny_patch4_window7_224_20220317-1cdeb081.pth')),
    # Stride-32 last level (N = HW/1024): attention there is cheap, so exchange at 0 and 3.
    neck=dict(in_channels=swin_channels, levels=(0, 3)),
    decode_head=dict(in_channels=swin_channels[3], channels=256, dilations=(1, 3, 6, 9),
                     c1_in_channels=swin_channels[0]),
    depth_head=dict(in_channels=swin_channels[3], channels=256, dilations=(1, 3, 6, 9),
                    c1_in_channels=swin_channels[0]))
