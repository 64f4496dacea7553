# Semi-supervised CCAM on Cityscapes with 100 labeled frames (1-30 of 2975), the protocol of
# Hoyer et al.: labeled frames drawn with split_seed from the sorted train list (or give
# split_file=... written by tools/make_splits.py), 2 labeled + 2 unlabeled per batch, EMA teacher.
_base_ = ['./ccam_r50_cityscapes.py', '../_base_/semi/mean_teacher.py']

num_labeled = 100
split_seed = 0
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOptionalAnnotations'),
    dict(type='LoadCityscapesDepth', max_depth=80.0),
    dict(type='RandomResize', scale=(1024, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 512), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    {{_base_.pack_inputs}},
]
subset = dict(
    type='CityscapesDepthDataset',
    data_root={{_base_.data_root}},
    data_prefix=dict(
        img_path='leftImg8bit/train', seg_map_path='gtFine/train',
        depth_path='disparity/train', camera_path='camera/train'),
    num_labeled=num_labeled,
    split_seed=split_seed,
    pipeline=train_pipeline)
train_dataloader = dict(
    batch_size=4,
    sampler=dict(_delete_=True, type='MultiSourceSampler', batch_size=4, source_ratio=[2, 2]),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[dict(subset, subset='labeled'), dict(subset, subset='unlabeled')]))

segmentor = {{_base_.model}}
model = dict(
    _delete_=True,
    type='MeanTeacherSegDepth',
    segmentor=segmentor,
    data_preprocessor={{_base_.model.data_preprocessor}},
    semi_train_cfg={{_base_.semi_train_cfg}},
    semi_test_cfg={{_base_.semi_test_cfg}})
