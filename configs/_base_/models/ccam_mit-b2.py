# ccam_mit-b0.py with the MiT-B2 backbone (MMSegmentation segformer_mit-b2 recipe).
_base_ = ['./ccam_mit-b0.py']

mit_channels = [64, 128, 320, 512]
model = dict(
    backbone=dict(
        embed_dims=64,
        num_layers=[3, 4, 6, 3],
        init_cfg=dict(
            checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/'
            'mit_b2_20220624-66e8bf70.pth')),
    neck=dict(in_channels=mit_channels),
    decode_head=dict(in_channels=mit_channels),
    depth_head=dict(in_channels=mit_channels[3], channels=256, c1_in_channels=mit_channels[0]))
