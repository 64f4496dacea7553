# SynthCity: the procedural Cityscapes-format dataset of this package (docs/method.md, "SynthCity").
# Generate it with: python tools/generate_synthcity.py data/synthcity --num-train 200 --num-val 50
_base_ = ['./cityscapes_depth.py']

data_root = 'data/synthcity/'
img_scale = (512, 256)
crop_size = (128, 256)

# The pipelines of cityscapes_depth.py at this file's scale: only the resize and crop sizes
# (and the range of the random resize) change.
train_pipeline = [
    dict(t, scale=img_scale, ratio_range=(0.5, 1.0)) if t['type'] == 'RandomResize' else
    dict(t, crop_size=crop_size) if t['type'] == 'RandomCrop' else t
    for t in _base_.train_pipeline
]
test_pipeline = [
    dict(t, scale=img_scale) if t['type'] == 'Resize' else t for t in _base_.test_pipeline
]

train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

# tools/test.py --tta: cityscapes_depth.py's scales x two flips, at this file's test scale, with
# the scales kept inside the training range (RandomResize 0.5-1.0 x img_scale above). A view
# larger than any training image degrades both tasks and biases depth towards the camera:
# measured for the Lite0 demo model, one view each, AbsRel 0.18 at 0.75x, 0.22 at 1.0x,
# 0.29 / 0.39 / 0.49 at 1.25 / 1.5 / 1.75x (docs/model_zoo.md, "Test scale").
img_ratios = [0.5, 0.75, 1.0]
tta_pipeline = [
    _base_.tta_pipeline[0],
    dict(_base_.tta_pipeline[1], transforms=[
        [dict(type='Resize', scale=(int(img_scale[0] * r), int(img_scale[1] * r)),
              keep_ratio=True) for r in img_ratios]
    ] + _base_.tta_pipeline[1].transforms[1:])
]
