# Semi-supervised CCAM on SynthCity: 1/8 of the train frames labeled (drawn with split_seed
# from the sorted frame list), the rest unlabeled for segmentation (depth ground truth kept).
# Batches hold 2 labeled + 2 unlabeled samples; the EMA teacher is evaluated.
_base_ = ['./ccam_r18_synthcity.py', '../_base_/semi/mean_teacher.py']

labeled_ratio = 0.125
split_seed = 0
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOptionalAnnotations'),
    dict(type='LoadCityscapesDepth', max_depth=80.0),
    dict(type='RandomResize', scale=(512, 256), ratio_range=(0.5, 1.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(128, 256), cat_max_ratio=0.75),
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
    labeled_ratio=labeled_ratio,
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
