# Cityscapes with metric depth from disparity + camera calibration
# (docs/method.md, "Data conventions").
# Expected layout under data_root: leftImg8bit/, gtFine/ (with *_labelTrainIds.png from
# mmseg's tools/dataset_converters/cityscapes.py), disparity/, camera/.
dataset_type = 'CityscapesDepthDataset'
data_root = 'data/cityscapes/'
img_scale = (1024, 512)
crop_size = (512, 512)
max_depth = 80.0

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOptionalAnnotations'),
    dict(type='LoadCityscapesDepth', max_depth=max_depth),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    # Labels and depth are loaded after Resize: metrics are computed at full resolution.
    dict(type='LoadOptionalAnnotations'),
    dict(type='LoadCityscapesDepth', max_depth=max_depth),
    dict(type='PackSegInputs'),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='leftImg8bit/train', seg_map_path='gtFine/train',
            depth_path='disparity/train', camera_path='camera/train'),
        pipeline=train_pipeline))
# The val split: the same dataset with the val folders and the test pipeline, one image at a
# time, in order.
val_dataloader = dict(
    train_dataloader,
    batch_size=1,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        train_dataloader['dataset'],
        data_prefix=dict(
            img_path='leftImg8bit/val', seg_map_path='gtFine/val',
            depth_path='disparity/val', camera_path='camera/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='ClassIoUMetric', iou_metrics=['mIoU']),
    dict(type='StreamingDepthMetric', max_depth_eval=max_depth),
]
test_evaluator = val_evaluator

# Test-time augmentation (tools/test.py --tta), MMSegmentation's convention: six scales
# (0.5-1.75 x the test scale) x {no flip, horizontal flip}, merged by SegDepthTTAModel
# (mean softmax scores, mean depth in metres). Annotations load after Resize (original
# resolution) and before the flips, so the unflipped view carries the ground truth.
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale=(int(img_scale[0] * r), int(img_scale[1] * r)),
                  keep_ratio=True) for r in img_ratios],
            [dict(type='LoadOptionalAnnotations')],
            [dict(type='LoadCityscapesDepth', max_depth=max_depth)],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            [dict(type='PackSegInputs')],
        ])
]
