# Semi-supervised CCAM on Cityscapes with 372 labeled frames (1/8 of 2975): the model and
# schedule of ccam_r50_cityscapes.py, the split of _base_/datasets/semi_cityscapes_depth.py
# (2 labeled + 2 unlabeled per batch), the method's mean teacher; the EMA teacher is evaluated.
# The other splits inherit this file and change `split` only.
_base_ = [
    '../_base_/models/ccam_r50.py', '../_base_/datasets/semi_cityscapes_depth.py',
    '../_base_/schedules/schedule_40k.py', '../_base_/semi/mean_teacher.py'
]
# The student is ccam_r50_cityscapes.py's model: its preprocessor pads to the crop size.
model = dict(
    _delete_=True,
    type='MeanTeacherSegDepth',
    segmentor=dict(_base_.model,
                   data_preprocessor=dict(_base_.data_preprocessor, size=_base_.crop_size)),
    data_preprocessor=dict(_base_.data_preprocessor, size=_base_.crop_size),
    semi_train_cfg=_base_.semi_train_cfg,
    semi_test_cfg=_base_.semi_test_cfg)
