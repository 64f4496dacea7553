# Ablation: + AffineMix (docs/method.md, "AffineMix") on ground truth in the supervised
# pipeline. The partner sample comes through MultiImageMixDataset; both are cropped to the same
# size first.
_base_ = ['./ccam_r50_cityscapes.py']

crop_size = {{_base_.crop_size}}
load_and_crop = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOptionalAnnotations'),
    dict(type='LoadCityscapesDepth', max_depth={{_base_.max_depth}}),
    dict(type='RandomResize', scale={{_base_.img_scale}}, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
]
mix_pipeline = [
    dict(type='AffineMix', prob=0.5, scale_range=(1.0, 1.5), max_translate_ratio=0.2,
         flip_prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='MultiImageMixDataset',
        dataset=dict(
            type='CityscapesDepthDataset',
            data_root={{_base_.data_root}},
            data_prefix=dict(
                img_path='leftImg8bit/train', seg_map_path='gtFine/train',
                depth_path='disparity/train', camera_path='camera/train'),
            pipeline=load_and_crop),
        pipeline=mix_pipeline))
