# SegFormer's MiT-B0 backbone -> CCAM neck -> SegFormer's all-MLP head (segmentation) and the
# DeepLabV3+-style depth head on the exchanged features (MMSegmentation segformer_mit-b0 recipe).
_base_ = ['./ccam_r50.py']

norm_cfg = dict(type='SyncBN', requires_grad=True)
mit_channels = [32, 64, 160, 256]
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='MixVisionTransformer',
        in_channels=3,
        embed_dims=32,
        num_stages=4,
        num_layers=[2, 2, 2, 2],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/'
            'mit_b0_20220624-7e0fe6dd.pth')),
    # Strides 4-32: exchange at the finest and the coarsest level, as with ResNet.
    neck=dict(in_channels=mit_channels, levels=(0, 3)),
    decode_head=dict(
        _delete_=True,
        type='SegformerHead',
        in_channels=mit_channels,
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    # The 1/32 features are coarse: smaller ASPP dilations than at output stride 8.
    depth_head=dict(in_channels=mit_channels[3], channels=128, dilations=(1, 3, 6, 9),
                    c1_in_channels=mit_channels[0], c1_channels=48))
