# Semi-supervised CCAM on SynthCity: the model and schedule of ccam_r18_synthcity.py, the 1/8
# split of _base_/datasets/semi_synthcity.py (2 labeled + 2 unlabeled per batch), the SynthCity
# mean-teacher settings (from scratch in a few hundred iterations); the EMA teacher is evaluated.
_base_ = [
    '../_base_/models/ccam_r18.py', '../_base_/datasets/semi_synthcity.py',
    '../_base_/schedules/schedule_synthcity.py', '../_base_/semi/mean_teacher_synthcity.py'
]

model = dict(
    _delete_=True,
    type='MeanTeacherSegDepth',
    segmentor=_base_.model,
    data_preprocessor=_base_.model.data_preprocessor,
    semi_train_cfg=_base_.semi_train_cfg,
    semi_test_cfg=_base_.semi_test_cfg)
