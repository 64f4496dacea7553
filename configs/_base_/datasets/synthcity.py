# SynthCity: the procedural Cityscapes-format dataset of this package (docs/method.md, "SynthCity").
# Generate it with: python tools/generate_synthcity.py data/synthcity --num-train 200 --num-val 50
_base_ = ['./cityscapes_depth.py']

data_root = 'data/synthcity/'
img_scale = (512, 256)
crop_size = (128, 256)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOptionalAnnotations'),
    dict(type='LoadCityscapesDepth', max_depth={{_base_.max_depth}}),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.5, 1.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadOptionalAnnotations'),
    dict(type='LoadCityscapesDepth', max_depth={{_base_.max_depth}}),
    dict(type='PackSegInputs'),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

# tools/test.py --tta: the six scales x two flips of cityscapes_depth.py, at this file's test
# scale (only the Resize step depends on it).
tta_pipeline = [
    _base_.tta_pipeline[0],
    dict(_base_.tta_pipeline[1], transforms=[
        [dict(type='Resize', scale=(int(img_scale[0] * r), int(img_scale[1] * r)),
              keep_ratio=True) for r in _base_.img_ratios]
    ] + _base_.tta_pipeline[1].transforms[1:])
]
